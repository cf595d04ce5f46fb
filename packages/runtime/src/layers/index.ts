/**
 * Layers: from a pulled image to a container's root file system, and back for commit.
 *
 * Lifecycle:
 *   1. ensureLayers(store, image): each layer of the image not yet in the cache is streamed
 *      from its blob (gzip, zstd or plain tar, by magic), parsed by our own tar reader and
 *      applied by our own safe unpacker into <BERTH_ROOT>/layers/tmp/, hashed on the way; only
 *      when the sha256 of the tar equals the config's diff_id is it renamed to
 *      layers/sha256/<hex> (see paths.ts). Returns the layers bottom to top.
 *      unpackLayerStream does the same for one layer from a stream; pullUnpacker(store) feeds
 *      it the layers `berth pull` downloads (a tap on their way into the store), so that
 *      unpacking overlaps the pull and ensureLayers then finds them cached.
 *   2. createRootfs(layers, containerDir): an overlay mount of those layers plus the
 *      container's own writable upper/ at <containerDir>/rootfs (a copy of the layers where
 *      overlayfs is unavailable). openRootfs(containerDir) gives the same handle back in a
 *      later process (mount() after a reboot, release() to unmount, remove() at rm).
 *   3. diffToLayer(upperDir, outFile): the writable layer as an OCI tar+gzip layer file, with
 *      its blob digest and diff_id computed while streaming (for berth commit).
 *
 * Layers in the cache are shared and immutable. pruneLayers(store, { keep }) deletes the
 * entries that no image in the store names and no container keeps (Rootfs.layers).
 */
export { ensureLayers, unpackLayer, unpackLayerStream } from './cache.js';
export { pullUnpacker, type LayerFeed, type PullUnpacker } from './pull-unpack.js';
export { createRootfs, openRootfs, overlaySupported } from './rootfs.js';
export { diffToLayer } from './diff.js';
export { pruneLayers, type PruneOptions } from './prune.js';
export { LayerPaths } from './paths.js';
export { isSynced as isSyncedLayer } from './unpack.js';
export { DiffIdMismatchError, UnsafeLayerError, InvalidTarError } from './errors.js';
export type { UnpackOptions, UnpackResult } from './unpack.js';
export type { EnsureLayersOptions, LayerBlob, LayerDirs, Rootfs, RootfsKind, RootfsOptions, UnpackedLayer, UnpackEvent } from './types.js';
