import type { Readable, Writable } from 'node:stream';

/**
 * The blob store: bytes by digest, nothing else. Repositories, tags and links live in
 * metadata; a driver only ever sees digests and upload ids it generated itself.
 *
 * Content lifecycle
 * 1. Ingest: `startUpload(id)` creates an empty upload. Each `append(id, offset, data)`
 *    writes a stream at `offset`, the size the caller last recorded for the upload. An
 *    offset past the stored size is refused (UploadOffsetError); bytes stored past
 *    `offset` (left by an append that failed or was never recorded, e.g. by a crash) are
 *    discarded first. An append that fails (the stream errors, the client goes away, the
 *    signal aborts) leaves the upload at `offset`: no partial chunk survives.
 * 2. Commit: `commit(id, digest)` makes the upload's bytes visible under `digest`,
 *    atomically (complete and durable, or not at all), and always ends the upload. If the
 *    digest already exists the upload is discarded and the commit still succeeds. The
 *    caller verifies the digest before committing; the driver does not hash.
 * 3. Visible: `stat` and `read` serve the blob until `delete`.
 * `cancel(id)` ends an upload without committing; it is idempotent.
 */

export interface BlobInfo {
  readonly size: number;
}

/** Inclusive byte range, as HTTP expresses it. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

export interface BlobReader {
  /** Size of a committed blob, or undefined when there is none. */
  stat(digest: string): Promise<BlobInfo | undefined>;
  /** Streams a committed blob or a range of it; throws BlobNotFoundError. */
  read(digest: string, range?: ByteRange): Promise<Readable>;
  /**
   * Writes a committed blob, or a range of it, into `dest` without ending it, resolving
   * once `dest` accepted every byte. Throws BlobNotFoundError before writing anything.
   * Drivers implement it to serve with less copying and allocation than `read`.
   */
  writeTo(digest: string, range: ByteRange | undefined, size: number, dest: Writable): Promise<void>;
}

export interface BlobIngester {
  startUpload(id: string): Promise<void>;
  /** Resolves with the upload's new size. Throws UploadNotFoundError. */
  append(id: string, offset: number, data: Readable, signal?: AbortSignal): Promise<number>;
  /** Current size of an upload, or undefined when there is none. */
  uploadSize(id: string): Promise<number | undefined>;
  /** Streams the upload's bytes so far (to hash them again after a restart). */
  readUpload(id: string): Promise<Readable>;
  commit(id: string, digest: string): Promise<void>;
  cancel(id: string): Promise<void>;
}

export interface BlobManager {
  /** Removes a committed blob; resolves false when there was none. */
  delete(digest: string): Promise<boolean>;
  /** Every committed digest, in no particular order. */
  list(): AsyncIterable<string>;
  /** Every upload id with data in the store, for cleaning up abandoned ones. */
  listUploads(): AsyncIterable<string>;
}

export interface BlobStore extends BlobReader, BlobIngester, BlobManager {
  /** A short name for logs and metrics, e.g. "filesystem". */
  readonly driverName: string;
}
