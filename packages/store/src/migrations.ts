/**
 * Schema migrations of store.db, applied in order; PRAGMA user_version records how many ran.
 * Append new steps; never edit a released one.
 *
 * images       one row per image manifest held locally (the platform manifest, not an index)
 * image_blobs  every blob an image needs: manifest bytes, its index (if any), config, layers
 * names        repository:tag (tag '' for a name pulled by digest only) -> image
 * blobs        committed blobs; a row exists only while the file under blobs/ does
 * leases       blobs a running pull or push uses but has not recorded yet (kept from rmi)
 * ingests      which process downloads a blob right now (one writer per partial file)
 */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE images (
    digest TEXT PRIMARY KEY,
    media_type TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX images_config ON images(config_digest);
  CREATE TABLE image_blobs (
    image_digest TEXT NOT NULL REFERENCES images(digest) ON DELETE CASCADE,
    blob_digest TEXT NOT NULL,
    PRIMARY KEY (image_digest, blob_digest)
  ) WITHOUT ROWID;
  CREATE INDEX image_blobs_blob ON image_blobs(blob_digest);
  CREATE TABLE names (
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    image_digest TEXT NOT NULL REFERENCES images(digest),
    index_digest TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (repository, tag)
  ) WITHOUT ROWID;
  CREATE INDEX names_image ON names(image_digest);
  CREATE TABLE blobs (
    digest TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE leases (
    owner TEXT NOT NULL,
    digest TEXT NOT NULL,
    pid INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (owner, digest)
  ) WITHOUT ROWID;
  CREATE INDEX leases_digest ON leases(digest);
  CREATE TABLE ingests (
    digest TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    started_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
];
