import { parseManifest } from '@berth/oci';
import type { ImageRow, LocalStore } from '@berth/store';
import { LayerPaths } from './paths.js';
import type { EnsureLayersOptions, LayerDirs, UnpackedLayer } from './types.js';
import { removeStaleTemps, unpackLayerFile, type UnpackResult } from './unpack.js';

/** Unpacks in progress in this process, so concurrent callers share one. */
const inflight = new Map<string, Promise<UnpackResult>>();

/**
 * Unpacks the layers of a local image that the cache lacks (one at a time, each verified
 * against the config's diff_id) and returns all of them, bottom to top. The image's
 * manifest, config and layer blobs must be in the store (as `berth pull` leaves them).
 */
export async function ensureLayers(store: LocalStore, image: ImageRow, opts: EnsureLayersOptions = {}): Promise<LayerDirs> {
  const paths = new LayerPaths(store.paths.root);
  const manifest = parseManifest(await store.readBlob(image.digest), image.mediaType);
  if (manifest.isIndex || manifest.config === undefined) throw new Error(`${image.digest} is not an image manifest`);
  const config = JSON.parse((await store.readBlob(image.configDigest)).toString('utf8')) as { rootfs?: { diff_ids?: unknown } };
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || !diffIds.every((d): d is string => typeof d === 'string')) throw new Error(`image config ${image.configDigest} has no rootfs.diff_ids`);
  if (diffIds.length !== manifest.layers.length) {
    throw new Error(`image ${image.digest}: ${manifest.layers.length} layers but ${diffIds.length} diff_ids`);
  }
  removeStaleTemps(paths);
  const layers: UnpackedLayer[] = [];
  for (const [i, desc] of manifest.layers.entries()) {
    const diffId = diffIds[i] as string;
    const started = Date.now();
    if (!(await store.hasBlob(desc.digest))) throw new Error(`layer ${desc.digest} of image ${image.digest} is not in the local store (pull the image again)`);
    const result = await unpackLayer(paths, store.paths.blob(desc.digest), diffId, opts.signal);
    if (result.unpacked) opts.onEvent?.({ type: 'unpacked', diffId, bytes: result.bytes, ms: Date.now() - started });
    else opts.onEvent?.({ type: 'cached', diffId });
    layers.push(result.layer);
  }
  return { cacheDir: paths.dir, layers };
}

/** One layer blob into the cache of `paths` (see unpack.ts for the contract). */
export function unpackLayer(paths: LayerPaths, blobPath: string, diffId: string, signal?: AbortSignal): Promise<UnpackResult> {
  const key = `${paths.dir}\0${diffId}`;
  let running = inflight.get(key);
  if (running === undefined) {
    running = unpackLayerFile(paths, blobPath, diffId, signal).finally(() => inflight.delete(key));
    inflight.set(key, running);
  }
  return running;
}
