import { randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
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
    await mkdir(paths.blobs, { recursive: true });
    await mkdir(paths.ingest, { recursive: true });
    return new LocalStore(paths, new StoreDatabase(paths.db));
  }

  close(): void {
    this.db.close();
  }

  /** A pull (or any writer) session: everything it touches is leased until record or abort. */
  session(): StoreSession {
    return new StoreSession(this);
  }

  async hasBlob(digest: string): Promise<boolean> {
    if (!this.db.hasBlob(digest)) return false;
    try {
      await stat(this.paths.blob(digest));
      return true;
    } catch {
      this.db.forgetBlob(digest);
      return false;
    }
  }

  async readBlob(digest: string): Promise<Buffer> {
    return readFile(this.paths.blob(digest));
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
 * `present` before any write leases the digests; `writer` hands out the one ingest of a
 * blob (undefined: it is already stored, perhaps by another process meanwhile);
 * `record` makes the image visible and ends the session; `abort` ends it and deletes the
 * blobs this session committed that no image references.
 */
export class StoreSession {
  readonly id = randomUUID();
  private readonly committed = new Set<string>();
  /** Directories that received this session's renamed blobs: synced once, in record(). */
  private readonly unsynced = new Set<string>();

  constructor(private readonly store: LocalStore) {}

  async present(digests: readonly string[]): Promise<Set<string>> {
    const recorded = this.store.db.lease(this.id, digests);
    const out = new Set<string>();
    for (const d of recorded) if (await this.store.hasBlob(d)) out.add(d);
    return out;
  }

  /** Waits for the ingest lock of `digest`; undefined when the blob is (or became) present. */
  async writer(digest: string, size: number, signal?: AbortSignal): Promise<BlobIngest | undefined> {
    this.store.db.lease(this.id, [digest]);
    for (;;) {
      if (await this.store.hasBlob(digest)) return undefined;
      if (this.store.db.tryLockIngest(digest)) {
        // committed by the holder just before we took the lock?
        if (await this.store.hasBlob(digest)) {
          this.store.db.unlockIngest(digest);
          return undefined;
        }
        let released = false;
        return BlobIngest.open(digest, size, this.store.paths.partial(digest), this.store.paths.blob(digest), () => {
          if (released) return;
          released = true;
          this.store.db.unlockIngest(digest);
        }, (dir) => this.unsynced.add(dir)).then((ingest) => this.wrap(ingest, digest, size));
      }
      signal?.throwIfAborted();
      await sleep(INGEST_POLL_MS, undefined, signal !== undefined ? { signal } : {});
    }
  }

  private wrap(ingest: BlobIngest, digest: string, size: number): BlobIngest {
    const commit = ingest.commit.bind(ingest);
    ingest.commit = async (): Promise<void> => {
      await commit();
      this.store.db.recordBlob(digest, size);
      this.committed.add(digest);
    };
    return ingest;
  }

  /** Stores small content held in memory (manifests), verified against its digest. */
  async putBytes(digest: string, bytes: Uint8Array): Promise<void> {
    this.store.db.lease(this.id, [digest]);
    if (await this.store.hasBlob(digest)) return;
    const actual = digestOf(bytes, digest.startsWith('sha512:') ? 'sha512' : 'sha256');
    if (actual !== digest) throw new DigestMismatchError(digest, actual, bytes.length, bytes.length);
    const final = this.store.paths.blob(digest);
    const tmp = join(this.store.paths.ingest, `${randomUUID()}.tmp`);
    try {
      await writeFile(tmp, bytes, { flush: true });
      await mkdir(dirname(final), { recursive: true });
      await rename(tmp, final);
    } finally {
      await rm(tmp, { force: true });
    }
    this.unsynced.add(dirname(final));
    this.store.db.recordBlob(digest, bytes.length);
    this.committed.add(digest);
  }

  /**
   * Makes the renames of the image's blobs durable (this session's, and those another
   * process committed that it may not have synced yet: one fsync of blobs/<alg>/ covers
   * them all), then records the image.
   */
  record(image: NewImage, names: readonly NameRow[]): void {
    for (const d of image.blobs) this.unsynced.add(dirname(this.store.paths.blob(d)));
    for (const dir of this.unsynced) syncDirSync(dir);
    this.unsynced.clear();
    this.store.db.recordImage(this.id, image, names);
  }

  /** Ends a failed session: what it stored and nothing references is removed again. */
  abort(): string[] {
    return this.store.db.releaseAndCollect(this.id, [...this.committed], (d) => unlinkIfPresent(this.store.paths.blob(d)));
  }
}
