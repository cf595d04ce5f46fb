import { unlinkSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { lazyStatements, migrateSchema, openSqlite } from './sqlite.js';
import { MIGRATIONS } from './migrations.js';

type Row = Record<string, unknown>;

export interface NameRow {
  readonly repository: string;
  /** '' for a name pulled by digest only. */
  readonly tag: string;
  readonly imageDigest: string;
  readonly indexDigest: string | undefined;
}

export interface ImageRow {
  readonly digest: string;
  readonly mediaType: string;
  readonly configDigest: string;
  readonly size: number;
  readonly createdAt: number;
}

export interface NewImage {
  readonly digest: string;
  readonly mediaType: string;
  readonly configDigest: string;
  /** Config plus layers, as the manifest declares. */
  readonly size: number;
  /** Every blob the image needs, manifest bytes included. */
  readonly blobs: readonly string[];
}

/** What a session leaves to its last transaction: blobs it committed (digest to size) and ingest locks it holds. */
export interface SessionDone {
  readonly committed: ReadonlyMap<string, number>;
  readonly locked: Iterable<string>;
}

const NOTHING: SessionDone = { committed: new Map(), locked: [] };

/** Leases older than this are left over by a process that was killed and whose pid came back. */
const LEASE_MAX_AGE_MS = 24 * 60 * 60 * 1000;

/**
 * store.db on SQLite (better-sqlite3): WAL, a busy timeout so several berth processes
 * share it, migrations via user_version, statements prepared once. Each method is one
 * transaction. Blob files are unlinked inside the transaction that forgets them, so a
 * pull that leases a blob afterwards never sees a row whose file is about to vanish.
 */
export class StoreDatabase {
  private readonly db: Database.Database;
  private readonly s: ReturnType<typeof prepare>;

  constructor(path: string) {
    this.db = openSqlite(path);
    migrateSchema(this.db, MIGRATIONS);
    this.s = prepare(this.db);
  }

  close(): void {
    this.db.close();
  }

  /** Leases the digests for `owner` and answers which of them are recorded as committed. */
  lease(owner: string, digests: readonly string[]): Set<string> {
    return this.db.transaction(() => this.leaseIn(owner, digests)).immediate();
  }

  /**
   * One transaction for a pull's start: leases the digests for `owner`, answers which are
   * recorded, and takes the ingest lock of every other one that no live process holds
   * (the rest are other processes' downloads, or this process's other sessions').
   */
  leaseAndLock(owner: string, digests: readonly string[]): { recorded: Set<string>; locked: Set<string> } {
    return this.db.transaction(() => {
      const recorded = this.leaseIn(owner, digests);
      const locked = new Set<string>();
      for (const d of digests) if (!recorded.has(d) && !locked.has(d) && this.lockIn(d)) locked.add(d);
      return { recorded, locked };
    }).immediate();
  }

  private leaseIn(owner: string, digests: readonly string[]): Set<string> {
    const now = Date.now();
    const present = new Set<string>();
    for (const d of digests) {
      this.s.insertLease.run(owner, d, process.pid, now);
      if (this.s.getBlob.get(d) !== undefined) present.add(d);
    }
    return present;
  }

  hasBlob(digest: string): boolean {
    return this.s.getBlob.get(digest) !== undefined;
  }

  /** Forgets a blob whose file is gone (removed by hand). */
  forgetBlob(digest: string): void {
    this.s.deleteBlob.run(digest);
  }

  /** Takes the download of `digest`, unless a live process (this one included) holds it. */
  tryLockIngest(digest: string): boolean {
    return this.db.transaction(() => this.lockIn(digest)).immediate();
  }

  private lockIn(digest: string): boolean {
    const row = this.s.getIngest.get(digest) as Row | undefined;
    if (row !== undefined && ((row['pid'] as number) === process.pid || isAlive(row['pid'] as number))) return false;
    this.s.upsertIngest.run(digest, process.pid, Date.now());
    return true;
  }

  unlockIngest(digest: string): void {
    this.s.deleteIngest.run(digest, process.pid);
  }

  /**
   * One transaction at a session's end: records the blobs it committed, the image and its
   * names, drops the owner's leases and releases its ingest locks.
   */
  recordImage(owner: string, image: NewImage, names: readonly NameRow[], done: SessionDone = NOTHING): void {
    this.db.transaction(() => {
      const now = Date.now();
      this.endSession(owner, done, now);
      this.s.insertImage.run(image.digest, image.mediaType, image.configDigest, image.size, now);
      for (const b of image.blobs) this.s.insertImageBlob.run(image.digest, b);
      for (const n of names) this.s.upsertName.run(n.repository, n.tag, n.imageDigest, n.indexDigest ?? null, now);
    }).immediate();
  }

  /**
   * Ends a failed session in one transaction: records the blobs it committed, drops its
   * leases and locks, then deletes those of `candidates` that no image references and
   * nobody else leases; `unlink(digest)` removes the file. Returns what was removed.
   */
  releaseAndCollect(owner: string, candidates: readonly string[], unlink: (digest: string) => void, done: SessionDone = NOTHING): string[] {
    return this.db.transaction(() => {
      this.endSession(owner, done, Date.now());
      return this.collect(candidates, unlink);
    }).immediate();
  }

  private endSession(owner: string, done: SessionDone, now: number): void {
    for (const [digest, size] of done.committed) this.s.insertBlob.run(digest, size, now);
    for (const digest of done.locked) this.s.deleteIngest.run(digest, process.pid);
    this.s.deleteLeases.run(owner);
  }

  private collect(candidates: Iterable<string>, unlink: (digest: string) => void): string[] {
    const removed: string[] = [];
    const now = Date.now();
    for (const d of new Set(candidates)) {
      if (this.s.blobReferenced.get(d) !== undefined) continue;
      const leases = this.s.leasesOf.all(d) as Row[];
      const live = leases.filter((l) => isAlive(l['pid'] as number) && now - (l['created_at'] as number) < LEASE_MAX_AGE_MS);
      if (live.length > 0) continue;
      unlink(d);
      this.s.deleteBlob.run(d);
      removed.push(d);
    }
    return removed;
  }

  getName(repository: string, tag: string): NameRow | undefined {
    const row = this.s.getName.get(repository, tag) as Row | undefined;
    return row === undefined ? undefined : nameRow(row);
  }

  names(): NameRow[] {
    return (this.s.allNames.all() as Row[]).map(nameRow);
  }

  namesOf(imageDigest: string): NameRow[] {
    return (this.s.namesOf.all(imageDigest) as Row[]).map(nameRow);
  }

  getImage(digest: string): ImageRow | undefined {
    const row = this.s.getImage.get(digest) as Row | undefined;
    return row === undefined ? undefined : imageRow(row);
  }

  images(): ImageRow[] {
    return (this.s.allImages.all() as Row[]).map(imageRow);
  }

  setName(name: NameRow): void {
    this.s.upsertName.run(name.repository, name.tag, name.imageDigest, name.indexDigest ?? null, Date.now());
  }

  /**
   * Removes names (all names of the image when `names` is empty and `force`), then every
   * image left without a name and the blobs no image references any more.
   */
  removeNames(names: readonly { repository: string; tag: string }[], imageDigests: readonly string[], unlink: (digest: string) => void): { untagged: number; deleted: string[]; blobs: string[] } {
    return this.db.transaction(() => {
      let untagged = 0;
      for (const n of names) untagged += this.s.deleteName.run(n.repository, n.tag).changes;
      for (const d of imageDigests) untagged += this.s.deleteNamesOf.run(d).changes;
      const candidates: string[] = [];
      const deleted: string[] = [];
      for (const row of this.s.orphanImages.all() as Row[]) {
        const digest = row['digest'] as string;
        for (const b of this.s.blobsOf.all(digest) as Row[]) candidates.push(b['blob_digest'] as string);
        this.s.deleteImage.run(digest);
        deleted.push(digest);
      }
      return { untagged, deleted, blobs: this.collect(candidates, unlink) };
    }).immediate();
  }
}

function nameRow(row: Row): NameRow {
  return {
    repository: row['repository'] as string,
    tag: row['tag'] as string,
    imageDigest: row['image_digest'] as string,
    indexDigest: (row['index_digest'] as string | null) ?? undefined,
  };
}

function imageRow(row: Row): ImageRow {
  return {
    digest: row['digest'] as string,
    mediaType: row['media_type'] as string,
    configDigest: row['config_digest'] as string,
    size: row['size'] as number,
    createdAt: row['created_at'] as number,
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as { code?: unknown }).code === 'EPERM';
  }
}

/** unlink that tolerates a file already gone. */
export function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
  }
}

function prepare(db: Database.Database) {
  return lazyStatements(db, {
    insertLease: 'INSERT OR REPLACE INTO leases (owner, digest, pid, created_at) VALUES (?, ?, ?, ?)',
    deleteLeases: 'DELETE FROM leases WHERE owner = ?',
    leasesOf: 'SELECT pid, created_at FROM leases WHERE digest = ?',
    getBlob: 'SELECT size FROM blobs WHERE digest = ?',
    insertBlob: 'INSERT OR IGNORE INTO blobs (digest, size, created_at) VALUES (?, ?, ?)',
    deleteBlob: 'DELETE FROM blobs WHERE digest = ?',
    blobReferenced: 'SELECT 1 FROM image_blobs WHERE blob_digest = ? LIMIT 1',
    getIngest: 'SELECT pid FROM ingests WHERE digest = ?',
    upsertIngest: 'INSERT OR REPLACE INTO ingests (digest, pid, started_at) VALUES (?, ?, ?)',
    deleteIngest: 'DELETE FROM ingests WHERE digest = ? AND pid = ?',
    insertImage: 'INSERT OR IGNORE INTO images (digest, media_type, config_digest, size, created_at) VALUES (?, ?, ?, ?, ?)',
    insertImageBlob: 'INSERT OR IGNORE INTO image_blobs (image_digest, blob_digest) VALUES (?, ?)',
    getImage: 'SELECT * FROM images WHERE digest = ?',
    allImages: 'SELECT * FROM images ORDER BY created_at DESC, digest',
    blobsOf: 'SELECT blob_digest FROM image_blobs WHERE image_digest = ?',
    deleteImage: 'DELETE FROM images WHERE digest = ?',
    orphanImages: 'SELECT digest FROM images WHERE NOT EXISTS (SELECT 1 FROM names WHERE names.image_digest = images.digest)',
    upsertName:
      'INSERT INTO names (repository, tag, image_digest, index_digest, updated_at) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (repository, tag) DO UPDATE SET image_digest = excluded.image_digest, index_digest = excluded.index_digest, updated_at = excluded.updated_at',
    getName: 'SELECT * FROM names WHERE repository = ? AND tag = ?',
    allNames: 'SELECT * FROM names ORDER BY repository, tag',
    namesOf: 'SELECT * FROM names WHERE image_digest = ? ORDER BY repository, tag',
    deleteName: 'DELETE FROM names WHERE repository = ? AND tag = ?',
    deleteNamesOf: 'DELETE FROM names WHERE image_digest = ?',
  });
}
