import { parseManifest, type Descriptor } from '@berth/oci';
import type { ImageRow, LocalStore } from '@berth/store';
import { LayerPaths } from './paths.js';
import type { EnsureLayersOptions, LayerDirs, UnpackedLayer } from './types.js';
import { removeStaleTemps, unpackLayerFrom, type UnpackOptions, type UnpackResult } from './unpack.js';

/** Unpacks in progress in this process, so concurrent callers share one. */
const inflight = new Map<string, Promise<UnpackResult>>();

/**
 * Unpacks the layers of a local image that the cache lacks (two at a time, each verified
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
  for (const desc of manifest.layers) {
    if (!(await store.hasBlob(desc.digest))) throw new Error(`layer ${desc.digest} of image ${image.digest} is not in the local store (pull the image again)`);
  }
  // two at a time: one layer's decompression (zlib's threads, the zstd process) overlaps
  // another's file writes on the main thread
  const layers: UnpackedLayer[] = new Array<UnpackedLayer>(diffIds.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (!failed && next < manifest.layers.length) {
      const i = next++;
      const diffId = diffIds[i] as string;
      const desc = manifest.layers[i] as Descriptor;
      const started = Date.now();
      const result = await unpackLayer(paths, store.paths.blob(desc.digest), diffId, { ...(opts.signal !== undefined ? { signal: opts.signal } : {}), blobDigest: desc.digest }).catch((err: unknown) => {
        failed = true;
        throw err;
      });
      if (result.unpacked) opts.onEvent?.({ type: 'unpacked', diffId, bytes: result.bytes, ms: Date.now() - started });
      else opts.onEvent?.({ type: 'cached', diffId });
      layers[i] = result.layer;
    }
  };
  // both settle before we return or throw: no unpack goes on behind the caller's back
  const settled = await Promise.allSettled([worker(), worker()]);
  for (const r of settled) if (r.status === 'rejected') throw r.reason;
  return { cacheDir: paths.dir, layers };
}

/**
 * A layer from a stream of its compressed bytes into the cache of `paths`, e.g. a download
 * teed on its way into the store, so that unpacking overlaps the pull. The stream is read
 * to its end on success; a stream that fails fails the unpack and caches nothing.
 */
export function unpackLayerStream(paths: LayerPaths, stream: AsyncIterable<Buffer>, diffId: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  return unpackLayerFrom(paths, { stream }, diffId, opts);
}

/** One layer blob file into the cache of `paths` (see unpack.ts for the contract). */
export function unpackLayer(paths: LayerPaths, blobPath: string, diffId: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const key = `${paths.dir}\0${diffId}\0${opts.blobDigest ?? blobPath}`;
  let running = inflight.get(key);
  if (running === undefined) {
    running = unpackLayerFrom(paths, { path: blobPath }, diffId, opts).finally(() => inflight.delete(key));
    inflight.set(key, running);
  }
  return running;
}
