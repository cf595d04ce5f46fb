/** overlayfs's mark of a directory that hides the same directory in lower layers. */
export const OPAQUE_XATTR = 'trusted.overlay.opaque';

/**
 * Beside a cache entry's fs/: the directories of that layer that are opaque, as a JSON array
 * of paths relative to fs/ ('' for fs/ itself), so that reading files from unmounted layers
 * (LayerView) needs no xattr calls. Entries unpacked before it existed have none, and are
 * asked through their xattrs.
 */
export const OPAQUE_LIST = 'opaque.json';
