import { createReadStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { digestOf } from '@berth/oci';
import { StoreDatabase, unlinkIfPresent, type ImageRow, type NameRow, type NewImage } from './database.js';
import { DigestMismatchError } from './errors.js';
import { BlobIngest, syncDirSync } from './ingest.js';
import { StorePaths } from './paths.js';

export type { ImageRow, NameRow, NewImage } from './database.js';

/** How often a process waiting for another one's download looks again. */
const INGEST_POLL_MS = 50;

/**
 * The local image store: blobs by digest on disk, names and images in SQLite.
 * Several berth processes may use one root at once: downloads of one blob are
 * serialised by an ingest lock, and blobs a running operation uses are leased so that
 * an rmi in another process does not collect them.
 */
export class LocalStore {
  private constructor(
    readonly paths: StorePaths,
    readonly db: StoreDatabase,
  ) {}

  static async open(root: string): Promise<LocalStore> {
    const paths = new StorePaths(root);
    // synchronous: two mkdirs that usually find their directories (no thread-pool round trips)
    mkdirSync(paths.blobs, { recursive: true });
    mkdirSync(paths.ingest, { recursive: true });
    return Promise.resolve(new LocalStore(paths, new StoreDatabase(paths.db)));
  }

  close(): void {
    this.db.close();
  }

  /** A pull (or any writer) session: everything it touches is leased until record or abort. */
  session(): StoreSession {
    return new StoreSession(this);
  }

  async hasBlob(digest: string): Promise<boolean> {
    return Promise.resolve(this.db.hasBlob(digest) && this.hasBlobFile(digest));
  }

  /** For a recorded blob: its file is there (else the record is dropped: removed by hand). */
  hasBlobFile(digest: string): boolean {
    if (existsSync(this.paths.blob(digest))) return true;
    this.db.forgetBlob(digest);
    return false;
  }

  /**
   * A whole blob, for the small ones (manifests, configs). Read synchronously: a few
   * syscalls, where fs.promises.readFile costs a thread-pool round trip for each (~0.5 ms
   * per blob on a command's path).
   */
  async readBlob(digest: string): Promise<Buffer> {
    return Promise.resolve(readFileSync(this.paths.blob(digest)));
  }

  /** A blob's bytes, or the inclusive range start..end of them. */
  openBlob(digest: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.paths.blob(digest), { highWaterMark: 1024 * 1024, ...(range !== undefined ? { start: range.start, end: range.end } : {}) });
  }

  async blobSize(digest: string): Promise<number> {
    return (await stat(this.paths.blob(digest))).size;
  }

  getName(repository: string, tag: string): NameRow | undefined {
    return this.db.getName(repository, tag);
  }

  names(): NameRow[] {
    return this.db.names();
  }

  namesOf(imageDigest: string): NameRow[] {
    return this.db.namesOf(imageDigest);
  }

  getImage(digest: string): ImageRow | undefined {
    return this.db.getImage(digest);
  }

  images(): ImageRow[] {
    return this.db.images();
  }

  tag(name: NameRow): void {
    this.db.setName(name);
  }

  /** Removes names or whole images, then images left nameless and blobs nothing references. */
  remove(names: readonly { repository: string; tag: string }[], imageDigests: readonly string[] = []): { untagged: number; deleted: string[]; blobs: string[] } {
    return this.db.removeNames(names, imageDigests, (d) => unlinkIfPresent(this.paths.blob(d)));
  }
}

/**
 * What a pull writes through. The contract the registry client relies on:
 * `present` before any write leases the digests and takes the ingest locks of those not
 * stored; `writer` hands out the one ingest of a blob (undefined: it is already stored,
 * perhaps by another process meanwhile, or committed by this session); `record` makes the
 * image visible and ends the session; `abort` ends it and deletes the blobs this session
 * committed that no image references.
 *
 * A session ends with exactly one of record or abort, and the SQLite work is batched
 * around that: one transaction at `present` (leases, locks), none per blob, one at the end.
 * So a blob this session committed is recorded (a `blobs` row, visible to other sessions and
 * processes) and its ingest lock released only at the end; meanwhile others wait for it
 * as for a download in progress. Crash safety: a committed blob is complete under its final
 * name (fsync before the rename); the renames are made durable by one fsync of their
 * directory before the transaction that records the image commits. A crash before that
 * leaves at most unrecorded files in blobs/ (a later pull of the blob renames over them)
 * and lock rows of a dead pid (taken over).
 */
export class StoreSession {
  readonly id = process.getBuiltinModule('node:crypto').randomUUID();
  /** Blobs this session committed, not yet recorded (digest to size). */
  private readonly committed = new Map<string, number>();
  /** Ingest locks this session holds. */
  private readonly locked = new Set<string>();
  private readonly leased = new Set<string>();
  /** Directories that received this session's renamed blobs: synced once, in record(). */
  private readonly unsynced = new Set<string>();

  constructor(private readonly store: LocalStore) {}

  async present(digests: readonly string[]): Promise<Set<string>> {
    const { recorded, locked } = this.store.db.leaseAndLock(this.id, digests);
    for (const d of digests) this.leased.add(d);
    for (const d of locked) this.locked.add(d);
    const out = new Set<string>();
    for (const d of recorded) if (this.store.hasBlobFile(d)) out.add(d);
    return Promise.resolve(out);
  }

  /** Waits for the ingest lock of `digest`; undefined when the blob is (or became) present. */
  async writer(digest: string, size: number, signal?: AbortSignal): Promise<BlobIngest | undefined> {
    if (this.committed.has(digest)) return undefined;
    if (!this.locked.has(digest)) {
      this.lease(digest);
      for (;;) {
        if (await this.store.hasBlob(digest)) return undefined;
        if (this.store.db.tryLockIngest(digest)) {
          // committed by the holder just before we took the lock?
          if (await this.store.hasBlob(digest)) {
            this.store.db.unlockIngest(digest);
            return undefined;
          }
          this.locked.add(digest);
          break;
        }
        signal?.throwIfAborted();
        await sleep(INGEST_POLL_MS, undefined, signal !== undefined ? { signal } : {});
      }
    }
    let released = false;
    return BlobIngest.open(digest, size, this.store.paths.partial(digest), this.store.paths.blob(digest), {
      release: (committed) => {
        if (released) return;
        released = true;
        // a committed blob keeps its lock until record or abort, which record it
        if (committed) this.committed.set(digest, size);
        else {
          this.locked.delete(digest);
          this.store.db.unlockIngest(digest);
        }
      },
      deferDirSync: (dir) => this.unsynced.add(dir),
    });
  }

  /** Stores small content held in memory (manifests), verified against its digest. */
  async putBytes(digest: string, bytes: Uint8Array): Promise<void> {
    this.lease(digest);
    if (this.committed.has(digest) || (await this.store.hasBlob(digest))) return;
    const actual = digestOf(bytes, digest.startsWith('sha512:') ? 'sha512' : 'sha256');
    if (actual !== digest) throw new DigestMismatchError(digest, actual, bytes.length, bytes.length);
    const final = this.store.paths.blob(digest);
    const tmp = join(this.store.paths.ingest, `${process.getBuiltinModule('node:crypto').randomUUID()}.tmp`);
    try {
      await writeFile(tmp, bytes, { flush: true });
      await mkdir(dirname(final), { recursive: true });
      await rename(tmp, final);
    } finally {
      await rm(tmp, { force: true });
    }
    this.unsynced.add(dirname(final));
    this.committed.set(digest, bytes.length);
  }

  /**
   * Makes the renames of the image's blobs durable (this session's, and those another
   * process committed that it may not have synced yet: one fsync of blobs/<alg>/ covers
   * them all), then records the committed blobs and the image in one transaction.
   */
  record(image: NewImage, names: readonly NameRow[]): void {
    for (const d of image.blobs) this.unsynced.add(dirname(this.store.paths.blob(d)));
    for (const dir of this.unsynced) syncDirSync(dir);
    this.unsynced.clear();
    this.store.db.recordImage(this.id, image, names, { committed: this.committed, locked: this.locked });
    this.committed.clear();
    this.locked.clear();
  }

  /** Ends a failed session: what it stored and nothing references is removed again. */
  abort(): string[] {
    const candidates = [...this.committed.keys()];
    const removed = this.store.db.releaseAndCollect(this.id, candidates, (d) => unlinkIfPresent(this.store.paths.blob(d)), { committed: this.committed, locked: this.locked });
    this.committed.clear();
    this.locked.clear();
    return removed;
  }

  private lease(digest: string): void {
    if (this.leased.has(digest)) return;
    this.store.db.lease(this.id, [digest]);
    this.leased.add(digest);
  }
}
