import { mkdirSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { mkdtemp, open, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LayerApplier } from './apply.js';
import { openLayer } from './decompress.js';
import { DiffIdMismatchError } from './errors.js';
import { hexOf, type LayerPaths } from './paths.js';
import { TarReader } from './tar/reader.js';
import { syncFs } from './tools.js';
import type { UnpackedLayer } from './types.js';

export interface UnpackResult {
  readonly layer: UnpackedLayer;
  /** false: it was in the cache already (or another process won the race). */
  readonly unpacked: boolean;
  /** Uncompressed bytes read. */
  readonly bytes: number;
}

/**
 * Makes the cache entry of one layer from its blob. The tree is built in layers/tmp/<pid>-*,
 * hashed while it streams; only if the whole tar hashes to `diffId` is it synced (one
 * syncfs) and renamed to layers/sha256/<hex>. A rename that finds the entry present means
 * another process finished first: ours is deleted and theirs used. Any failure deletes the
 * temporary tree, so the cache holds verified layers only.
 */
export async function unpackLayerFile(paths: LayerPaths, blobPath: string, diffId: string, signal?: AbortSignal): Promise<UnpackResult> {
  const final = paths.entry(diffId);
  if (isDir(join(final, 'fs'))) return { layer: linked(paths, diffId), unpacked: false, bytes: 0 };
  mkdirSync(paths.tmp, { recursive: true });
  mkdirSync(paths.byDigest, { recursive: true });
  const tmp = await mkdtemp(join(paths.tmp, `${process.pid}-${hexOf(diffId).slice(0, 12)}-`));
  try {
    const root = join(tmp, 'fs');
    mkdirSync(root, { mode: 0o755 });
    const source = await openLayer(blobPath);
    const reader = new TarReader(source.chunks);
    try {
      const applier = new LayerApplier(root, tmp);
      for await (const entry of reader.entries()) {
        signal?.throwIfAborted();
        await applier.apply(entry);
      }
      applier.finish();
      await source.done();
    } catch (err) {
      source.destroy();
      throw err;
    }
    const actual = reader.digest();
    if (actual !== diffId) throw new DiffIdMismatchError(diffId, actual);
    syncFs(tmp);
    let unpacked = true;
    try {
      await rename(tmp, final);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !isDir(join(final, 'fs'))) throw err;
      unpacked = false; // another process renamed first
    }
    await syncDir(dirname(final));
    return { layer: linked(paths, diffId), unpacked, bytes: reader.bytes };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Removes temporary trees left by processes that died while unpacking. */
export function removeStaleTemps(paths: LayerPaths): void {
  let names: string[];
  try {
    names = readdirSync(paths.tmp);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) rmSync(join(paths.tmp, name), { recursive: true, force: true });
  }
}

/** The layer, with its short lowerdir link made if missing. */
export function linked(paths: LayerPaths, diffId: string): UnpackedLayer {
  const link = paths.shortLink(diffId);
  const target = `../sha256/${hexOf(diffId)}/fs`;
  const abs = join(paths.dir, link);
  mkdirSync(paths.links, { recursive: true });
  try {
    symlinkSync(target, abs);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    // two diff_ids sharing 64 bits of prefix: not a thing sha256 produces by chance
    if (readlinkSync(abs) !== target) throw new Error(`layer link ${link} already names another layer`);
  }
  return { diffId, dir: paths.fs(diffId), link };
}

function isDir(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

async function syncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
