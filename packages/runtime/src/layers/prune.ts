import { readdirSync, readlinkSync, rmSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalStore } from '@berth/store';
import { LayerPaths } from './paths.js';

export interface PruneOptions {
  /** diff_ids to keep although no image names them (the layers of existing containers: Rootfs.layers). */
  readonly keep?: Iterable<string>;
}

/**
 * Deletes the cache entries that no image in the store and nothing in `keep` names. An
 * entry is first renamed into tmp/ (so it vanishes at once for every process), its short
 * link removed, then its tree deleted. Returns the diff_ids removed.
 */
export async function pruneLayers(store: LocalStore, opts: PruneOptions = {}): Promise<string[]> {
  const paths = new LayerPaths(store.paths.root);
  const used = new Set<string>(opts.keep ?? []);
  for (const image of store.images()) {
    let config: { rootfs?: { diff_ids?: unknown } };
    try {
      config = JSON.parse((await store.readBlob(image.configDigest)).toString('utf8')) as typeof config;
    } catch {
      continue; // a config that is gone cannot name layers
    }
    const ids = config.rootfs?.diff_ids;
    if (Array.isArray(ids)) for (const d of ids) if (typeof d === 'string') used.add(d);
  }
  let entries: string[];
  try {
    entries = readdirSync(paths.byDigest);
  } catch {
    return [];
  }
  const removed: string[] = [];
  await mkdir(paths.tmp, { recursive: true });
  for (const hex of entries) {
    const diffId = `sha256:${hex}`;
    if (used.has(diffId) || !/^[0-9a-f]{64}$/.test(hex)) continue;
    const aside = join(paths.tmp, `${process.pid}-prune-${hex.slice(0, 12)}-${Date.now()}`);
    try {
      await rename(paths.entry(diffId), aside);
    } catch (err) {
      if ((err as { code?: unknown }).code === 'ENOENT') continue; // another prune took it
      throw err;
    }
    const link = join(paths.dir, paths.shortLink(diffId));
    try {
      if (readlinkSync(link) === `../sha256/${hex}/fs`) rmSync(link);
    } catch {
      // no link
    }
    await rm(aside, { recursive: true, force: true });
    removed.push(diffId);
  }
  return removed;
}
