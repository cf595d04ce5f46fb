import { join } from 'node:path';
import { parseDigest } from '@berth/oci';

/**
 * The layer cache under BERTH_ROOT (next to the local store's blobs/, same file system):
 *
 *   <root>/layers/
 *     sha256/<hex>/           one unpacked layer, named by its diff_id; complete once visible
 *       fs/                   the layer's tree in overlay format (whiteouts are char 0/0 nodes,
 *                             opaque directories carry trusted.overlay.opaque=y): an overlay lowerdir
 *       boot_id               the boot it was unpacked in; made read-only (0444) once a syncfs
 *                             after the unpack returned (see unpack.ts)
 *       blobs                 digests of the blobs verified to hold this content, one a line
 *       opaque.json           the opaque directories of fs/, relative paths (see opaque.ts)
 *     l/<16 hex>              -> ../sha256/<hex>/fs, a short name so that an overlay mount of many
 *                             layers fits the kernel's one-page limit on mount options (the
 *                             mount runs with <root>/layers as its working directory)
 *     tmp/<random>/           an unpack in progress (fs/ plus a whiteout template); renamed to
 *                             sha256/<hex> once the diff_id is verified, deleted on failure
 *
 * A cache entry never changes after its rename; the first of several processes unpacking the
 * same layer to rename wins, the others delete their copy.
 */
export class LayerPaths {
  readonly dir: string;
  readonly byDigest: string;
  readonly links: string;
  readonly tmp: string;

  constructor(readonly root: string) {
    this.dir = join(root, 'layers');
    this.byDigest = join(this.dir, 'sha256');
    this.links = join(this.dir, 'l');
    this.tmp = join(this.dir, 'tmp');
  }

  /** The cache entry of a layer; the diff_id is validated, so it never escapes the root. */
  entry(diffId: string): string {
    return join(this.byDigest, hexOf(diffId));
  }

  /** The directory an overlay mount uses as this layer's lowerdir. */
  fs(diffId: string): string {
    return join(this.entry(diffId), 'fs');
  }

  /** The short lowerdir name, relative to `dir`. */
  shortLink(diffId: string): string {
    return `l/${hexOf(diffId).slice(0, 16)}`;
  }
}

export function hexOf(diffId: string): string {
  const parsed = parseDigest(diffId);
  if (typeof parsed !== 'object' || parsed.algorithm !== 'sha256') throw new Error(`invalid diff_id "${diffId.slice(0, 100)}" (sha256 expected)`);
  return parsed.hex;
}
