/**
 * Where a driver that cannot rename (S3) keeps what a file system keeps in its directory
 * tree: the object each committed blob lives in, and the state of each upload in
 * progress. The registry implements it on its metadata database (SQLite), so a blob's
 * location and an upload's multipart state are as durable as the rest of the metadata
 * and survive a restart. Every method is one transaction.
 */
export interface BlobLocation {
  /** The object key, under the driver's root prefix. */
  readonly key: string;
  readonly size: number;
}

/** One uploaded part of an S3 multipart upload. */
export interface UploadPart {
  readonly number: number;
  readonly etag: string;
  readonly size: number;
}

/**
 * An upload's bytes: `sealed` bytes in the completed object at the upload's key (an
 * upload is sealed when its bytes had to be read back, e.g. to hash them after a
 * restart), then the `parts` of the multipart upload `multipartId`, then `tail` bytes in
 * the local spool file number `segment`, not yet a part (a part must be at least 5 MiB).
 */
export interface UploadState {
  readonly multipartId?: string;
  readonly sealed: number;
  readonly parts: readonly UploadPart[];
  readonly tail: number;
  readonly segment: number;
}

export interface BlobCatalog {
  location(digest: string): Promise<BlobLocation | undefined>;
  /**
   * Records `digest` at `location` and forgets upload `uploadId` (when given), in one
   * transaction. Resolves false, changing nothing but forgetting the upload, when the
   * digest already has a location.
   */
  addLocation(digest: string, location: BlobLocation, uploadId?: string): Promise<boolean>;
  /** Forgets a location; resolves with it, or undefined when there was none. */
  removeLocation(digest: string): Promise<BlobLocation | undefined>;
  /** Every digest with a location. */
  digests(): AsyncIterable<string>;

  uploadState(id: string): Promise<UploadState | undefined>;
  saveUploadState(id: string, state: UploadState): Promise<void>;
  removeUploadState(id: string): Promise<void>;
  /** Every upload id with a saved state. */
  uploadIds(): AsyncIterable<string>;
}
