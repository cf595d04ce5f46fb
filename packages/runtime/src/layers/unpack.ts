import { spawn } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdir, mkdtemp, rename, rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { LayerApplier } from './apply.js';
import { OPAQUE_LIST } from './opaque.js';
import { openLayer, type LayerInput } from './decompress.js';
import { DiffIdMismatchError, InvalidTarError } from './errors.js';
import { hexOf, type LayerPaths } from './paths.js';
import { TarReader, type TarEntry } from '@berth/tar';
import type { UnpackedLayer } from './types.js';

export interface UnpackResult {
  readonly layer: UnpackedLayer;
  /** false: it was in the cache already (or another process won the race). */
  readonly unpacked: boolean;
  /** Uncompressed bytes read. */
  readonly bytes: number;
}

export interface UnpackOptions {
  readonly signal?: AbortSignal;
  /**
   * The blob's digest. A cache entry remembers the blobs it was verified from; a blob new to
   * an existing entry is hashed (not unpacked) before the entry is used for it, so an image
   * whose config names another layer's diff_id is refused as docker refuses it.
   */
  readonly blobDigest?: string;
}

/**
 * Makes the cache entry of one layer from its blob (a file, or a stream such as a download
 * teed on its way to the store: it is read to its end on success). The tree is built in layers/tmp/<pid>-*,
 * hashed while it streams; only if the whole tar hashes to `diffId` is it renamed to
 * layers/sha256/<hex>. A rename that finds the entry present means another process
 * finished first: ours is deleted and theirs used. Any failure deletes the temporary tree,
 * so the cache holds verified layers only.
 *
 * Durability without making `berth run` wait for the disk: the entry records the boot it
 * was unpacked in (boot_id), and a detached `sync -f` marks it synced (boot_id made
 * read-only) once its data is on disk. An entry from an earlier boot that never got its mark may have lost data in a
 * crash, so it is unpacked again (see trusted()).
 */
export async function unpackLayerFrom(paths: LayerPaths, input: LayerInput, diffId: string, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const final = paths.entry(diffId);
  if (isDir(join(final, 'fs'))) {
    if (trusted(final)) {
      if (opts.blobDigest !== undefined && !knownBlobs(final).includes(opts.blobDigest)) {
        const { digest } = await readLayer(input, opts.signal);
        if (digest !== diffId) throw new DiffIdMismatchError(diffId, digest);
        appendFileSync(join(final, BLOBS_FILE), `${opts.blobDigest}\n`);
      } else if ('stream' in input) {
        for await (const chunk of input.stream) void chunk; // a stream is always read to its end
      }
      return { layer: linked(paths, diffId), unpacked: false, bytes: 0 };
    }
    await discardStale(paths, final);
  }
  // on libuv's threads: a directory made while a pull's fsyncs commit the journal may wait
  await mkdir(paths.tmp, { recursive: true });
  await mkdir(paths.byDigest, { recursive: true });
  const tmp = await mkdtemp(join(paths.tmp, `${process.pid}-${hexOf(diffId).slice(0, 12)}-`));
  try {
    const root = join(tmp, 'fs');
    await mkdir(root, { mode: 0o755 });
    const applier = new LayerApplier(root, tmp);
    const { digest, bytes } = await readLayer(input, opts.signal, (entry) => applier.apply(entry));
    applier.finish();
    if (digest !== diffId) throw new DiffIdMismatchError(diffId, digest);
    writeFileSync(join(tmp, OPAQUE_LIST), JSON.stringify(applier.opaqueList()));
    writeFileSync(join(tmp, BOOT_FILE), bootId());
    chmodSync(join(tmp, BOOT_FILE), 0o644); // writable: not synced yet, whatever the umask
    writeFileSync(join(tmp, BLOBS_FILE), opts.blobDigest !== undefined ? `${opts.blobDigest}\n` : '');
    let unpacked = true;
    try {
      await rename(tmp, final);
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !isDir(join(final, 'fs'))) throw err;
      unpacked = false; // another process renamed first
      if (opts.blobDigest !== undefined) appendFileSync(join(final, BLOBS_FILE), `${opts.blobDigest}\n`);
    }
    if (unpacked) syncLater(final);
    return { layer: linked(paths, diffId), unpacked, bytes };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Streams a layer blob through the tar reader (applying each member, if asked); the sha256 of the tar. */
async function readLayer(input: LayerInput, signal: AbortSignal | undefined, apply?: (entry: TarEntry) => Promise<void>): Promise<{ digest: string; bytes: number }> {
  const source = await openLayer(input);
  const reader = new TarReader(source.chunks);
  try {
    for await (const entry of reader.entries()) {
      signal?.throwIfAborted();
      if (apply !== undefined) await apply(entry);
    }
    await source.done();
  } catch (err) {
    source.destroy();
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('Z_')) throw new InvalidTarError(`${source.compression} layer does not decompress: ${(err as Error).message}`);
    throw err;
  }
  return { digest: reader.digest(), bytes: reader.bytes };
}

function knownBlobs(entry: string): string[] {
  try {
    return readFileSync(join(entry, BLOBS_FILE), 'utf8').split('\n');
  } catch {
    return [];
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
  // usually there already: one readlink, no failing symlink(2) and its exception
  let existing: string | undefined;
  try {
    existing = readlinkSync(abs);
  } catch {
    mkdirSync(paths.links, { recursive: true });
    try {
      symlinkSync(target, abs);
      existing = target;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
      existing = readlinkSync(abs); // another process made it meanwhile
    }
  }
  // two diff_ids sharing 64 bits of prefix: not a thing sha256 produces by chance
  if (existing !== target) throw new Error(`layer link ${link} already names another layer`);
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

const BOOT_FILE = 'boot_id';
const BLOBS_FILE = 'blobs';

let boot: string | undefined;
function bootId(): string {
  boot ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return boot;
}

/** The detached syncfs has marked it. */
export function isSynced(entry: string): boolean {
  const st = statSync(join(entry, BOOT_FILE), { throwIfNoEntry: false });
  return st !== undefined && (st.mode & 0o222) === 0;
}

/** Synced to disk, or unpacked in this boot (so no crash can have lost its data yet). */
function trusted(entry: string): boolean {
  if (isSynced(entry)) return true;
  try {
    return readFileSync(join(entry, BOOT_FILE), 'utf8').trim() === bootId();
  } catch {
    return false;
  }
}

/** Moves an untrusted entry aside and deletes it; if a racing process replaced it with a fresh one meanwhile, puts that back. */
async function discardStale(paths: LayerPaths, entry: string): Promise<void> {
  mkdirSync(paths.tmp, { recursive: true });
  const aside = join(paths.tmp, `${process.pid}-stale-${basename(entry).slice(0, 12)}-${Date.now()}`);
  try {
    await rename(entry, aside);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'ENOENT') return;
    throw err;
  }
  if (trusted(aside)) {
    await rename(aside, entry).catch(() => undefined);
    return;
  }
  await rm(aside, { recursive: true, force: true });
}

/** How long new entries wait for their syncfs, so that an image's layers share one. */
const SYNC_DELAY_MS = 100;

/**
 * syncfs of new entries in a detached process that outlives this one, then their marks
 * (after the data, so a mark implies the data). The mark is a chmod of an existing file,
 * not a new file: it can never race with a deletion of the entry (rm -r, pruneLayers).
 *
 * The one durability strategy of the cache: no fsync per file; one syncfs (`sync -f`) per
 * batch, off the critical path. Entries unpacked within SYNC_DELAY_MS share one process
 * (they are on one file system), and it is started after that delay, or when this process
 * exits, whichever comes first: forking a Node process of ~100 MB costs ~15 ms of its
 * event loop, which `berth run` then spends while the container starts, not before. A
 * process killed before either leaves its entries unmarked: trusted in this boot only, and
 * unpacked again after a reboot (see trusted()), never wrongly trusted.
 */
let pendingSync: string[] = [];
function syncLater(entry: string): void {
  pendingSync.push(entry);
  if (pendingSync.length > 1) return;
  process.once('exit', startSync);
  setTimeout(startSync, SYNC_DELAY_MS).unref();
}

function startSync(): void {
  process.removeListener('exit', startSync);
  const entries = pendingSync;
  pendingSync = [];
  if (entries.length === 0) return;
  const script = `sync -f "$1" && for d; do chmod 0444 "$d/${BOOT_FILE}" 2>/dev/null; done; sync -f "$1"`;
  const child = spawn('sh', ['-c', script, 'sh', ...entries], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined);
  child.unref();
}
