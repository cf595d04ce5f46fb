import type Database from 'better-sqlite3';

/**
 * Blob locations and upload states of drivers that cannot rename (the S3 driver), in
 * the metadata database. It implements @berth/storage's BlobCatalog structurally (the
 * metadata package does not depend on storage): the registry hands it to the driver.
 */
export interface CatalogLocation {
  readonly key: string;
  readonly size: number;
}

export interface CatalogUploadState {
  readonly multipartId?: string;
  readonly sealed: number;
  readonly parts: readonly { readonly number: number; readonly etag: string; readonly size: number }[];
  readonly tail: number;
  readonly segment: number;
}

type Row = Record<string, unknown>;

export class SqliteBlobCatalog {
  private readonly stmts;

  constructor(private readonly db: Database.Database) {
    this.stmts = {
      location: db.prepare('SELECT key, size FROM blob_locations WHERE digest = ?'),
      addLocation: db.prepare('INSERT INTO blob_locations (digest, key, size, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING'),
      removeLocation: db.prepare('DELETE FROM blob_locations WHERE digest = ? RETURNING key, size'),
      digestsAfter: db.prepare('SELECT digest FROM blob_locations WHERE digest > ? ORDER BY digest LIMIT 500'),
      uploadState: db.prepare('SELECT state FROM upload_states WHERE id = ?'),
      saveUploadState: db.prepare(
        `INSERT INTO upload_states (id, state, updated_at) VALUES (?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at`,
      ),
      removeUploadState: db.prepare('DELETE FROM upload_states WHERE id = ?'),
      uploadIdsAfter: db.prepare('SELECT id FROM upload_states WHERE id > ? ORDER BY id LIMIT 500'),
    };
  }

  async location(digest: string): Promise<CatalogLocation | undefined> {
    const row = this.stmts.location.get(digest) as Row | undefined;
    return row === undefined ? undefined : { key: row['key'] as string, size: row['size'] as number };
  }

  async addLocation(digest: string, location: CatalogLocation, uploadId?: string): Promise<boolean> {
    return this.db.transaction(() => {
      if (uploadId !== undefined) this.stmts.removeUploadState.run(uploadId);
      return this.stmts.addLocation.run(digest, location.key, location.size, Date.now()).changes > 0;
    })();
  }

  async removeLocation(digest: string): Promise<CatalogLocation | undefined> {
    const row = this.stmts.removeLocation.get(digest) as Row | undefined;
    return row === undefined ? undefined : { key: row['key'] as string, size: row['size'] as number };
  }

  async *digests(): AsyncIterable<string> {
    yield* this.paged(this.stmts.digestsAfter, 'digest');
  }

  async uploadState(id: string): Promise<CatalogUploadState | undefined> {
    const row = this.stmts.uploadState.get(id) as Row | undefined;
    return row === undefined ? undefined : (JSON.parse(row['state'] as string) as CatalogUploadState);
  }

  async saveUploadState(id: string, state: CatalogUploadState): Promise<void> {
    this.stmts.saveUploadState.run(id, JSON.stringify(state), Date.now());
  }

  async removeUploadState(id: string): Promise<void> {
    this.stmts.removeUploadState.run(id);
  }

  async *uploadIds(): AsyncIterable<string> {
    yield* this.paged(this.stmts.uploadIdsAfter, 'id');
  }

  /** Keyset pagination, so a caller may change the table while iterating. */
  private *paged(stmt: Database.Statement, column: string): Generator<string> {
    let last = '';
    for (;;) {
      const rows = stmt.all(last) as Row[];
      for (const r of rows) yield (last = r[column] as string);
      if (rows.length < 500) return;
    }
  }
}
