import type { Hash } from 'node:crypto';
import { closeSync, constants, createReadStream, fsync, fsyncSync, open, openSync, rmSync, statSync, truncateSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Readable } from 'node:stream';
import { parseDigest, type DigestAlgorithm } from '@berth/oci';
import { FileAppender } from './appender.js';
import { DigestMismatchError } from './errors.js';

const APPEND_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND;

/**
 * A second consumer of the bytes an ingest appends (a layer unpacked while it downloads).
 * It sees each chunk once, in order, by reference; `push` returning false pauses the source
 * until `drained()` resolves. It has no say in the blob: it must not throw.
 */
export interface ChunkTap {
  push(chunk: Buffer): boolean;
  drained(): Promise<void>;
}

/** What the store learns from an ingest. */
export interface IngestHooks {
  /** Called once, by commit (`committed` true once the blob is renamed into place), close or discard. */
  release(committed: boolean): void;
  /**
   * With it, commit hands the blob's directory over instead of syncing it: the caller then
   * syncs it once (for many blobs) before anything durable refers to the blob.
   */
  deferDirSync?(dir: string): void;
}

/**
 * One blob being downloaded into ingest/<alg>-<hex>.partial by the process that holds its
 * ingest lock. The lifecycle: open (the hash covers any bytes a previous attempt left, so
 * a download resumes at `offset`), append* (reload after a failed append), then exactly
 * one of commit (size and digest checked, fsync, rename into blobs/, fsync the directory
 * or hand it to `deferDirSync`; a mismatch deletes the partial and throws
 * DigestMismatchError), close (keep the partial for a later resume) or discard.
 *
 * Cost per blob, by design: one open of the partial file kept until commit (appends and
 * the fsync use the same descriptor), one writev per MiB (FileAppender), one sha256 over
 * the chunks as they arrive, one fsync, one rename; the partial's directory exists (the
 * store made it) and the blob's is made only when a rename finds it missing. Calls that
 * change the file system (open O_CREAT, rename, mkdir, fsync) run on libuv's threads: on
 * ext4 they may wait for a journal commit (another blob's fsync, another process's), and
 * the event loop has a download to keep reading meanwhile; stat and close run inline.
 */
export class BlobIngest {
  private hash: Hash;
  private size = 0;
  /** The partial file, open for appending from the first append until commit, close, discard or reload. */
  private fd: number | undefined;

  private constructor(
    readonly digest: string,
    readonly expectedSize: number,
    private readonly algorithm: DigestAlgorithm,
    private readonly partialPath: string,
    private readonly finalPath: string,
    private readonly hooks: IngestHooks,
  ) {
    this.hash = process.getBuiltinModule('node:crypto').createHash(algorithm);
  }

  static async open(digest: string, expectedSize: number, partialPath: string, finalPath: string, hooks: IngestHooks): Promise<BlobIngest> {
    const parsed = parseDigest(digest);
    if (typeof parsed !== 'object') throw new Error(`invalid digest "${digest}"`);
    const ingest = new BlobIngest(digest, expectedSize, parsed.algorithm, partialPath, finalPath, hooks);
    await ingest.reload();
    return ingest;
  }

  /** Bytes already written (and hashed). */
  get offset(): number {
    return this.size;
  }

  /** Hashes again what the partial file holds (after an interrupted or failed append). */
  async reload(): Promise<void> {
    this.closeFile();
    let size = statSync(this.partialPath, { throwIfNoEntry: false })?.size ?? 0;
    if (size > this.expectedSize) {
      truncateSync(this.partialPath, 0);
      size = 0;
    }
    if (this.size !== 0) this.hash = process.getBuiltinModule('node:crypto').createHash(this.algorithm); // one hash per blob unless bytes were hashed
    this.size = 0;
    if (size === 0) return;
    for await (const chunk of createReadStream(this.partialPath, { end: size - 1, highWaterMark: 1024 * 1024 })) {
      this.hash.update(chunk as Buffer);
      this.size += (chunk as Buffer).length;
    }
  }

  /** Starts over (the server ignored a Range request). */
  async reset(): Promise<void> {
    this.closeFile();
    rmSync(this.partialPath, { force: true });
    this.hash = process.getBuiltinModule('node:crypto').createHash(this.algorithm);
    this.size = 0;
    return Promise.resolve();
  }

  /**
   * Appends the stream, hashing it, and hands each chunk to `tap` too. More bytes than the
   * descriptor's size is a mismatch at once (the partial is deleted): no server can make us
   * store more than it promised. After a failure `offset` may be ahead of the file: reload.
   */
  async append(data: Readable, signal?: AbortSignal, tap?: ChunkTap): Promise<void> {
    signal?.throwIfAborted();
    const out = new FileAppender(await this.openFile());
    const onAbort = (): void => void data.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await new Promise<void>((resolve, reject) => {
        let failed = false;
        const fail = (err: unknown): void => {
          if (failed) return;
          failed = true;
          data.destroy();
          reject(err instanceof Error ? err : new Error(String(err)));
        };
        const resume = (): void => {
          if (!failed) data.resume();
        };
        data.on('data', (chunk: Buffer) => {
          if (failed) return;
          if (this.size + chunk.length > this.expectedSize) {
            fail(new DigestMismatchError(this.digest, 'unknown', this.size + chunk.length, this.expectedSize));
            return;
          }
          this.hash.update(chunk);
          this.size += chunk.length;
          let room: boolean;
          try {
            room = out.push(chunk);
          } catch (err) {
            fail(err);
            return;
          }
          const tapRoom = tap === undefined || tap.push(chunk);
          if (room && tapRoom) return;
          data.pause();
          Promise.all([out.drained(), tapRoom ? undefined : tap?.drained()]).then(resume, fail);
        });
        data.once('end', () => {
          if (failed) return;
          failed = true; // a 'close' follows: not a failure
          resolve();
        });
        data.once('error', fail);
        data.once('close', () => fail(Object.assign(new Error('premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
      });
      await out.flush();
    } catch (err) {
      await out.settle();
      if (err instanceof DigestMismatchError) await this.discard();
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  async commit(): Promise<void> {
    let committed = false;
    try {
      const actual = `${this.algorithm}:${this.hash.copy().digest('hex')}`;
      if (this.size !== this.expectedSize || actual !== this.digest) {
        this.closeFile();
        rmSync(this.partialPath, { force: true });
        throw new DigestMismatchError(this.digest, actual, this.size, this.expectedSize);
      }
      const fd = await this.openFile(); // an empty blob may never have been written
      this.fd = undefined;
      try {
        await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err !== null ? reject(err) : resolve())));
      } finally {
        closeSync(fd);
      }
      await renameInto(this.partialPath, this.finalPath);
      committed = true;
      if (this.hooks.deferDirSync !== undefined) this.hooks.deferDirSync(dirname(this.finalPath));
      else syncDirSync(dirname(this.finalPath));
    } finally {
      this.hooks.release(committed);
    }
  }

  /** Keeps the partial file for a later resume. */
  async close(): Promise<void> {
    this.closeFile();
    this.hooks.release(false);
    return Promise.resolve();
  }

  async discard(): Promise<void> {
    this.closeFile();
    rmSync(this.partialPath, { force: true });
    this.hooks.release(false);
    return Promise.resolve();
  }

  private async openFile(): Promise<number> {
    this.fd ??= await openIn(this.partialPath, APPEND_FLAGS);
    return this.fd;
  }

  private closeFile(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

/** open(2), making the directory when it is missing (someone removed ingest/ meanwhile). */
async function openIn(path: string, flags: number): Promise<number> {
  const once = (): Promise<number> => new Promise((resolve, reject) => open(path, flags, 0o644, (err, fd) => (err !== null ? reject(err) : resolve(fd))));
  try {
    return await once();
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    await mkdir(dirname(path), { recursive: true });
    return once();
  }
}

/** rename(2) into a directory made on first use. */
async function renameInto(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    await mkdir(dirname(to), { recursive: true });
    await rename(from, to);
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
