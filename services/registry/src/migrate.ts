import { randomUUID } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SqliteMetadataStore } from '@berth/metadata';
import { createDigester, parseDigest } from '@berth/oci';
import type { BlobStore } from '@berth/storage';
import { dataPaths, type Config } from './config/index.js';
import { openBlobStore, type OpenedBlobStore } from './storage.js';

export interface MigrateProgress {
  readonly index: number;
  readonly total: number;
  readonly digest: string;
  readonly size: number;
  readonly outcome: 'copied' | 'skipped' | 'failed';
  readonly error?: string;
}

export interface MigrateResult {
  readonly total: number;
  readonly copied: number;
  readonly skipped: number;
  readonly failed: number;
  readonly bytes: number;
}

export interface MigrateOptions {
  /** Blobs copied at once. */
  readonly concurrency?: number;
  readonly onProgress?: (p: MigrateProgress) => void;
}

/**
 * Copies every blob of the `from` storage into the `to` storage (any pair of drivers),
 * streaming, verifying each digest and size on the way, and committing only verified
 * bytes. Blobs the target holds already (same size) are skipped, so a run interrupted
 * at any point is resumed by running it again; an upload it left half-done in the
 * target is removed first. The metadata database is not copied: repositories, tags and
 * manifests stay in the database the configurations name (normally the same file).
 */
export async function migrateBlobs(from: Config, to: Config, options: MigrateOptions = {}): Promise<MigrateResult> {
  const fromDb = dataPaths(from).database;
  const toDb = dataPaths(to).database;
  mkdirSync(dirname(toDb), { recursive: true });
  const fromMeta = new SqliteMetadataStore(fromDb);
  const toMeta = toDb === fromDb ? fromMeta : new SqliteMetadataStore(toDb);
  const opened: OpenedBlobStore[] = [];
  try {
    const source = await openBlobStore(from, fromMeta);
    opened.push(source);
    const target = await openBlobStore(to, toMeta);
    opened.push(target);
    // Half-done copies of an interrupted run: uploads no session knows.
    for await (const id of target.blobs.listUploads()) {
      if ((await toMeta.getUpload(id)) === undefined) await target.blobs.cancel(id);
    }
    const digests: string[] = [];
    for await (const d of source.blobs.list()) digests.push(d);
    digests.sort();
    let next = 0;
    let done = 0;
    const result = { total: digests.length, copied: 0, skipped: 0, failed: 0, bytes: 0 };
    const worker = async (): Promise<void> => {
      while (next < digests.length) {
        const digest = digests[next++] as string;
        let size = 0;
        let outcome: MigrateProgress['outcome'];
        let error: string | undefined;
        try {
          const info = await source.blobs.stat(digest);
          if (info === undefined) throw new Error('listed but not found in the source');
          size = info.size;
          if ((await target.blobs.stat(digest))?.size === size) {
            outcome = 'skipped';
          } else {
            await copyBlob(source.blobs, target.blobs, digest, size);
            outcome = 'copied';
            result.bytes += size;
          }
        } catch (err) {
          outcome = 'failed';
          error = err instanceof Error ? err.message : String(err);
        }
        result[outcome]++;
        options.onProgress?.({ index: ++done, total: digests.length, digest, size, outcome, ...(error !== undefined ? { error } : {}) });
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 4) }, worker));
    return result;
  } finally {
    for (const o of opened) o.close();
    await fromMeta.close();
    if (toMeta !== fromMeta) await toMeta.close();
  }
}

/** Streams one blob into a new upload of the target, verifies it, then commits it. */
async function copyBlob(source: BlobStore, target: BlobStore, digest: string, size: number): Promise<void> {
  const parsed = parseDigest(digest);
  if (typeof parsed !== 'object') throw new Error('not a supported digest');
  const hash = createDigester(parsed.algorithm);
  let bytes = 0;
  const verify = new Transform({
    highWaterMark: 1024 * 1024,
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const id = randomUUID();
  await target.startUpload(id);
  try {
    const stream = await source.read(digest);
    stream.on('error', (err) => verify.destroy(err));
    stream.pipe(verify);
    const written = await target.append(id, 0, verify);
    const actual = hash.digest('hex');
    if (bytes !== size || written !== size) throw new Error(`size mismatch: expected ${size}, read ${bytes}`);
    if (actual !== parsed.hex) throw new Error(`digest mismatch: the source bytes hash to ${parsed.algorithm}:${actual}`);
    await target.commit(id, digest);
  } catch (err) {
    await target.cancel(id).catch(() => undefined);
    throw err;
  }
}
