import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalStore } from '@berth/store';

/**
 * What containers hold of the local images: the image digests they were made from (with
 * their names, for the error) and the layers their root file systems use. Containers exist
 * only for root and only once containers.db does, so other users never load the runtime.
 */
export interface ImageUse {
  readonly containersOf: ReadonlyMap<string, readonly string[]>;
  readonly layers: ReadonlySet<string>;
}

export async function imageUse(root: string): Promise<ImageUse | undefined> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  if (!existsSync(join(root, 'containers.db'))) return undefined;
  const rt = await import('@berth/runtime/containers');
  const c = await rt.Containers.open({ root });
  try {
    const containersOf = new Map<string, string[]>();
    for (const r of await c.list()) containersOf.set(r.config.imageDigest, [...(containersOf.get(r.config.imageDigest) ?? []), r.name]);
    return { containersOf, layers: await c.layersInUse() };
  } finally {
    c.close();
  }
}

/** After images are removed: the unpacked layers nothing uses any more leave the layer cache. */
export async function pruneLayerCache(store: LocalStore, use: ImageUse | undefined): Promise<void> {
  if (!existsSync(join(store.paths.root, 'layers'))) return;
  const { pruneLayers } = await import('@berth/runtime');
  await pruneLayers(store, { keep: use?.layers ?? [] });
}
