/** overlayfs's mark of a directory that hides the same directory in lower layers. */
export const OPAQUE_XATTR = 'trusted.overlay.opaque';
