import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, fsyncSync, openSync } from 'node:fs';
import { mkdir, open, rename, rm, stat, truncate } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { parseDigest, type DigestAlgorithm } from '@berth/oci';
import { DigestMismatchError } from './errors.js';

/** A download starts writing back to disk every this many bytes (see append). */
const BACKGROUND_SYNC_BYTES = 32 * 1024 * 1024;

/**
 * One blob being downloaded into ingest/<alg>-<hex>.partial by the process that holds its
 * ingest lock. The lifecycle: open (the hash covers any bytes a previous attempt left, so
 * a download resumes at `offset`), append* (reload after a failed append), then exactly
 * one of commit (size and digest checked, fsync, rename into blobs/, fsync the
 * directory; a mismatch deletes the partial and throws DigestMismatchError), close (keep
 * the partial for a later resume) or discard. `release` is called once by each of those.
 * With `deferDirSync`, commit hands the directory to it instead of syncing it: the caller
 * then syncs it once (for many blobs) before anything durable refers to the blob.
 */
export class BlobIngest {
  private hash: Hash;
  private size = 0;

  private constructor(
    readonly digest: string,
    readonly expectedSize: number,
    private readonly algorithm: DigestAlgorithm,
    private readonly partialPath: string,
    private readonly finalPath: string,
    private readonly release: () => void,
    private readonly deferDirSync: ((dir: string) => void) | undefined,
  ) {
    this.hash = createHash(algorithm);
  }

  static async open(digest: string, expectedSize: number, partialPath: string, finalPath: string, release: () => void, deferDirSync?: (dir: string) => void): Promise<BlobIngest> {
    const parsed = parseDigest(digest);
    if (typeof parsed !== 'object') throw new Error(`invalid digest "${digest}"`);
    const ingest = new BlobIngest(digest, expectedSize, parsed.algorithm, partialPath, finalPath, release, deferDirSync);
    await mkdir(dirname(partialPath), { recursive: true });
    await ingest.reload();
    return ingest;
  }

  /** Bytes already written (and hashed). */
  get offset(): number {
    return this.size;
  }

  /** Hashes again what the partial file holds (after an interrupted or failed append). */
  async reload(): Promise<void> {
    let size = 0;
    try {
      size = (await stat(this.partialPath)).size;
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
    if (size > this.expectedSize) {
      await truncate(this.partialPath, 0);
      size = 0;
    }
    this.hash = createHash(this.algorithm);
    this.size = 0;
    if (size === 0) return;
    for await (const chunk of createReadStream(this.partialPath, { end: size - 1, highWaterMark: 1024 * 1024 })) {
      this.hash.update(chunk as Buffer);
      this.size += (chunk as Buffer).length;
    }
  }

  /** Starts over (the server ignored a Range request). */
  async reset(): Promise<void> {
    await rm(this.partialPath, { force: true });
    this.hash = createHash(this.algorithm);
    this.size = 0;
  }

  /**
   * Appends the stream, hashing it. More bytes than the descriptor's size is a mismatch
   * at once (the partial is deleted): no server can make us store more than it promised.
   */
  async append(data: Readable, signal?: AbortSignal): Promise<void> {
    const fh = await open(this.partialPath, 'a');
    // every BACKGROUND_SYNC_BYTES an fdatasync starts without being waited for, so the disk
    // writes a big layer back while it downloads and the fsync at commit only flushes the
    // tail (as the registry's BackgroundSync does for uploads); one runs at a time
    let unsynced = 0;
    let syncing: Promise<void> | undefined;
    const tap = new Transform({
      transform: (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void => {
        if (this.size + chunk.length > this.expectedSize) {
          cb(new DigestMismatchError(this.digest, 'unknown', this.size + chunk.length, this.expectedSize));
          return;
        }
        this.hash.update(chunk);
        this.size += chunk.length;
        unsynced += chunk.length;
        if (unsynced >= BACKGROUND_SYNC_BYTES && syncing === undefined) {
          unsynced = 0;
          const done = (): void => {
            syncing = undefined;
          };
          // best effort: the fsync at commit is the one that counts
          syncing = fh.datasync().then(done, done);
        }
        cb(null, chunk);
      },
    });
    try {
      // the stream closes the handle when it finishes or fails; FileHandle.close waits for a running datasync
      await pipeline(data, tap, fh.createWriteStream({ highWaterMark: 1024 * 1024 }), ...(signal !== undefined ? [{ signal }] : []));
    } catch (err) {
      if (err instanceof DigestMismatchError) {
        await this.discard();
      }
      throw err;
    } finally {
      await syncing;
    }
  }

  async commit(): Promise<void> {
    try {
      const actual = `${this.algorithm}:${this.hash.copy().digest('hex')}`;
      if (this.size !== this.expectedSize || actual !== this.digest) {
        await rm(this.partialPath, { force: true });
        throw new DigestMismatchError(this.digest, actual, this.size, this.expectedSize);
      }
      if (this.size === 0) {
        // an empty blob may never have been written
        const fh = await open(this.partialPath, 'a');
        await fh.close();
      }
      const fh = await open(this.partialPath, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await mkdir(dirname(this.finalPath), { recursive: true });
      await rename(this.partialPath, this.finalPath);
      if (this.deferDirSync !== undefined) this.deferDirSync(dirname(this.finalPath));
      else await syncDir(dirname(this.finalPath));
    } finally {
      this.release();
    }
  }

  /** Keeps the partial file for a later resume. */
  async close(): Promise<void> {
    this.release();
  }

  async discard(): Promise<void> {
    await rm(this.partialPath, { force: true });
    this.release();
  }
}

export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export function syncDirSync(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
