/**
 * @berth/runtime: runs images from the local store as containers.
 *
 *   layers/      unpack each layer once (verified against its diff_id) into a cache; a
 *                container's rootfs is an overlay of those plus its own writable layer
 *   network/     none, host and bridge networks (veth, NAT, published ports)
 *   containers/  OCI bundles, runc/crun, the supervisor of detached containers, state
 */
export const RUNTIME_PACKAGE = '@berth/runtime';

export {
  ensureLayers,
  unpackLayer,
  unpackLayerStream,
  createRootfs,
  openRootfs,
  overlaySupported,
  diffToLayer,
  pruneLayers,
  LayerPaths,
  isSyncedLayer,
  DiffIdMismatchError,
  UnsafeLayerError,
  InvalidTarError,
} from './layers/index.js';
export type { EnsureLayersOptions, LayerBlob, LayerDirs, Rootfs, RootfsKind, RootfsOptions, UnpackedLayer, UnpackEvent, UnpackOptions, UnpackResult, PruneOptions } from './layers/index.js';
// network/: none, host and bridge networks for containers (see src/network/index.ts).
export * from './network/index.js';
