import Database from 'better-sqlite3';
import type { Descriptor } from '@berth/oci';
import { SqliteBlobCatalog } from './catalog.js';
import { MIGRATIONS } from './migrations.js';
import {
  ManifestReferenceError,
  type ManifestHead,
  type ManifestReference,
  type MetadataStore,
  type NewManifest,
  type Page,
  type StoredManifest,
  type UploadSession,
} from './types.js';

type Row = Record<string, unknown>;

/**
 * The metadata store on SQLite (better-sqlite3): WAL journal, so a committed
 * transaction survives a process crash (and with synchronous=full a power loss), foreign keys on. Statements are prepared once.
 * better-sqlite3 is synchronous; every method runs to completion in one transaction.
 */
export class SqliteMetadataStore implements MetadataStore {
  private readonly db: Database.Database;
  private readonly stmts: ReturnType<typeof prepare>;
  private catalog: SqliteBlobCatalog | undefined;

  /** `synchronous`: normal survives a process crash, full also a power loss. */
  constructor(path: string, synchronous: 'normal' | 'full' = 'normal') {
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}`);
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('busy_timeout = 5000');
    migrate(this.db);
    this.stmts = prepare(this.db);
  }

  private repositoryId(name: string, create: boolean, now = Date.now()): number | undefined {
    const row = this.stmts.repoId.get(name) as Row | undefined;
    if (row !== undefined) return row['id'] as number;
    if (!create) return undefined;
    return Number(this.stmts.insertRepo.run(name, now).lastInsertRowid);
  }

  async repositoryExists(repository: string): Promise<boolean> {
    return this.stmts.repoId.get(repository) !== undefined;
  }

  async listRepositories(limit: number, last?: string): Promise<Page<string>> {
    const rows = this.stmts.listRepos.all(last ?? '', limit + 1) as Row[];
    return page(rows.map((r) => r['name'] as string), limit);
  }

  async getBlob(repository: string, digest: string): Promise<{ size: number } | undefined> {
    const row = this.stmts.getBlob.get(repository, digest) as Row | undefined;
    return row === undefined ? undefined : { size: row['size'] as number };
  }

  async getAnyBlob(digest: string): Promise<{ size: number } | undefined> {
    const row = this.stmts.getAnyBlob.get(digest) as Row | undefined;
    return row === undefined ? undefined : { size: row['size'] as number };
  }

  private readonly linkTx = (repository: string, digest: string, size: number): void => {
    const now = Date.now();
    this.stmts.upsertBlob.run(digest, size, now);
    const repoId = this.repositoryId(repository, true, now) as number;
    this.stmts.link.run(repoId, digest, now);
  };

  async linkBlob(repository: string, digest: string, size: number): Promise<void> {
    this.db.transaction(this.linkTx)(repository, digest, size);
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    const changes = this.stmts.unlink.run(repository, digest).changes;
    return changes > 0;
  }

  async mountBlob(repository: string, from: string, digest: string): Promise<{ size: number } | undefined> {
    const result = this.db.transaction(() => {
      const row = this.stmts.getBlob.get(from, digest) as Row | undefined;
      if (row === undefined) return undefined;
      const size = row['size'] as number;
      this.linkTx(repository, digest, size);
      return { size };
    })();
    return result;
  }

  async getManifest(repository: string, reference: ManifestReference): Promise<StoredManifest | undefined> {
    const row = ('tag' in reference
      ? this.stmts.manifestByTag.get(repository, reference.tag)
      : this.stmts.manifestByDigest.get(repository, reference.digest)) as Row | undefined;
    if (row === undefined) return undefined;
    return {
      digest: row['digest'] as string,
      mediaType: row['media_type'] as string,
      size: row['size'] as number,
      content: row['content'] as Buffer,
    };
  }

  async headManifest(repository: string, reference: ManifestReference): Promise<ManifestHead | undefined> {
    const row = ('tag' in reference
      ? this.stmts.headByTag.get(repository, reference.tag)
      : this.stmts.headByDigest.get(repository, reference.digest)) as Row | undefined;
    if (row === undefined) return undefined;
    return {
      digest: row['digest'] as string,
      mediaType: row['media_type'] as string,
      size: row['size'] as number,
    };
  }

  async putManifest(repository: string, m: NewManifest): Promise<void> {
    this.db.transaction(() => {
      const now = Date.now();
      const repoId = this.repositoryId(repository, true, now) as number;
      for (const b of m.blobs) {
        const row = this.stmts.getBlobById.get(repoId, b.digest) as Row | undefined;
        if (row === undefined) throw new ManifestReferenceError(b.digest, 'blob-unknown');
        if (row['size'] !== b.size) throw new ManifestReferenceError(b.digest, 'size-mismatch');
      }
      for (const c of m.manifests) {
        const row = this.stmts.headByDigestId.get(repoId, c.digest) as Row | undefined;
        if (row === undefined) throw new ManifestReferenceError(c.digest, 'manifest-unknown');
        if (row['size'] !== c.size) throw new ManifestReferenceError(c.digest, 'size-mismatch');
      }
      const inserted = this.stmts.insertManifest.run(
        repoId,
        m.digest,
        m.mediaType,
        m.content.length,
        m.content,
        m.artifactType ?? null,
        m.subject ?? null,
        m.annotations === undefined ? null : JSON.stringify(m.annotations),
        now,
      ).changes;
      if (inserted > 0) {
        for (const b of m.blobs) this.stmts.insertRef.run(repoId, m.digest, b.digest, 'blob');
        for (const c of m.manifests) this.stmts.insertRef.run(repoId, m.digest, c.digest, 'manifest');
      }
      if (m.tag !== undefined) this.stmts.upsertTag.run(repoId, m.tag, m.digest, now);
    })();
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    // Tags and references go with it through ON DELETE CASCADE.
    return this.stmts.deleteManifest.run(repository, digest).changes > 0;
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    return this.stmts.deleteTag.run(repository, tag).changes > 0;
  }

  async listTags(repository: string, limit: number, last?: string): Promise<Page<string> | undefined> {
    const repoId = this.repositoryId(repository, false);
    if (repoId === undefined) return undefined;
    const rows = this.stmts.listTags.all(repoId, last ?? '', limit + 1) as Row[];
    return page(rows.map((r) => r['name'] as string), limit);
  }

  async listReferrers(repository: string, subject: string, artifactType: string | undefined, limit: number, last?: string): Promise<Page<Descriptor>> {
    const rows = (artifactType === undefined
      ? this.stmts.referrers.all(repository, subject, last ?? '', limit + 1)
      : this.stmts.referrersByType.all(repository, subject, artifactType, last ?? '', limit + 1)) as Row[];
    return page(
      rows.map((r) => {
        const d: { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> } = {
          mediaType: r['media_type'] as string,
          digest: r['digest'] as string,
          size: r['size'] as number,
        };
        if (typeof r['artifact_type'] === 'string') d.artifactType = r['artifact_type'];
        if (typeof r['annotations'] === 'string') d.annotations = JSON.parse(r['annotations']) as Record<string, string>;
        return d;
      }),
      limit,
    );
  }

  async createUpload(id: string, repository: string, now: number): Promise<void> {
    this.stmts.insertUpload.run(id, repository, now, now);
  }

  async getUpload(id: string): Promise<UploadSession | undefined> {
    const r = this.stmts.getUpload.get(id) as Row | undefined;
    if (r === undefined) return undefined;
    return {
      id: r['id'] as string,
      repository: r['repository'] as string,
      size: r['size'] as number,
      createdAt: r['created_at'] as number,
      updatedAt: r['updated_at'] as number,
    };
  }

  async setUploadSize(id: string, size: number, now: number): Promise<void> {
    this.stmts.setUploadSize.run(size, now, id);
  }

  async deleteUpload(id: string): Promise<boolean> {
    return this.stmts.deleteUpload.run(id).changes > 0;
  }

  async countUploads(): Promise<number> {
    return (this.stmts.countUploads.get() as Row)['n'] as number;
  }

  async listStaleUploads(before: number, limit: number): Promise<string[]> {
    const rows = this.stmts.staleUploads.all(before, limit) as Row[];
    return rows.map((r) => r['id'] as string);
  }

  async completeUpload(id: string, repository: string, digest: string, size: number): Promise<void> {
    this.db.transaction(() => {
      this.stmts.deleteUpload.run(id);
      this.linkTx(repository, digest, size);
    })();
  }

  /** Blob locations and upload states for the S3 driver, on this database. */
  blobCatalog(): SqliteBlobCatalog {
    this.catalog ??= new SqliteBlobCatalog(this.db);
    return this.catalog;
  }

  async close(): Promise<void> {
    this.db.close();
  }
}

function page<T>(items: T[], limit: number): Page<T> {
  const more = items.length > limit;
  return { items: more ? items.slice(0, limit) : items, more };
}

function migrate(db: Database.Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

function prepare(db: Database.Database) {
  const repo = 'SELECT id FROM repositories WHERE name = ?';
  return {
    repoId: db.prepare(repo),
    insertRepo: db.prepare('INSERT INTO repositories (name, created_at) VALUES (?, ?)'),
    listRepos: db.prepare('SELECT name FROM repositories WHERE name > ? ORDER BY name LIMIT ?'),
    getBlob: db.prepare(
      `SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
       WHERE rb.repository_id = (${repo}) AND rb.digest = ?`,
    ),
    getBlobById: db.prepare(
      `SELECT b.size FROM repository_blobs rb JOIN blobs b ON b.digest = rb.digest
       WHERE rb.repository_id = ? AND rb.digest = ?`,
    ),
    getAnyBlob: db.prepare('SELECT size FROM blobs WHERE digest = ?'),
    upsertBlob: db.prepare('INSERT INTO blobs (digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT (digest) DO NOTHING'),
    link: db.prepare(
      'INSERT INTO repository_blobs (repository_id, digest, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    ),
    unlink: db.prepare(`DELETE FROM repository_blobs WHERE repository_id = (${repo}) AND digest = ?`),
    manifestByTag: db.prepare(
      `SELECT m.digest, m.media_type, m.size, m.content FROM tags t
       JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
       WHERE t.repository_id = (${repo}) AND t.name = ?`,
    ),
    manifestByDigest: db.prepare(
      `SELECT digest, media_type, size, content FROM manifests WHERE repository_id = (${repo}) AND digest = ?`,
    ),
    headByTag: db.prepare(
      `SELECT m.digest, m.media_type, m.size FROM tags t
       JOIN manifests m ON m.repository_id = t.repository_id AND m.digest = t.digest
       WHERE t.repository_id = (${repo}) AND t.name = ?`,
    ),
    headByDigest: db.prepare(
      `SELECT digest, media_type, size FROM manifests WHERE repository_id = (${repo}) AND digest = ?`,
    ),
    headByDigestId: db.prepare('SELECT size FROM manifests WHERE repository_id = ? AND digest = ?'),
    insertManifest: db.prepare(
      `INSERT INTO manifests (repository_id, digest, media_type, size, content, artifact_type, subject, annotations, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    insertRef: db.prepare(
      `INSERT INTO manifest_references (repository_id, manifest_digest, child_digest, kind)
       VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
    ),
    upsertTag: db.prepare(
      `INSERT INTO tags (repository_id, name, digest, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (repository_id, name) DO UPDATE SET digest = excluded.digest, updated_at = excluded.updated_at`,
    ),
    deleteManifest: db.prepare(`DELETE FROM manifests WHERE repository_id = (${repo}) AND digest = ?`),
    deleteTag: db.prepare(`DELETE FROM tags WHERE repository_id = (${repo}) AND name = ?`),
    listTags: db.prepare('SELECT name FROM tags WHERE repository_id = ? AND name > ? ORDER BY name LIMIT ?'),
    referrers: db.prepare(
      `SELECT digest, media_type, size, artifact_type, annotations FROM manifests
       WHERE repository_id = (${repo}) AND subject = ? AND digest > ? ORDER BY digest LIMIT ?`,
    ),
    referrersByType: db.prepare(
      `SELECT digest, media_type, size, artifact_type, annotations FROM manifests
       WHERE repository_id = (${repo}) AND subject = ? AND artifact_type = ? AND digest > ? ORDER BY digest LIMIT ?`,
    ),
    insertUpload: db.prepare('INSERT INTO uploads (id, repository, size, created_at, updated_at) VALUES (?, ?, 0, ?, ?)'),
    getUpload: db.prepare('SELECT id, repository, size, created_at, updated_at FROM uploads WHERE id = ?'),
    setUploadSize: db.prepare('UPDATE uploads SET size = ?, updated_at = ? WHERE id = ?'),
    deleteUpload: db.prepare('DELETE FROM uploads WHERE id = ?'),
    countUploads: db.prepare('SELECT count(*) AS n FROM uploads'),
    staleUploads: db.prepare('SELECT id FROM uploads WHERE updated_at < ? ORDER BY updated_at LIMIT ?'),
  };
}
