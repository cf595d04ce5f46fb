/** Error kinds a blob store throws; the registry maps them to OCI errors. */
export class BlobNotFoundError extends Error {
  constructor(readonly digest: string) {
    super(`blob ${digest} not found`);
    this.name = 'BlobNotFoundError';
  }
}

export class UploadNotFoundError extends Error {
  constructor(readonly uploadId: string) {
    super(`upload ${uploadId} not found`);
    this.name = 'UploadNotFoundError';
  }
}

/** The offset of an append does not match the upload's size. */
export class UploadOffsetError extends Error {
  constructor(readonly uploadId: string, readonly expected: number, readonly got: number) {
    super(`upload ${uploadId} is at ${expected}, not ${got}`);
    this.name = 'UploadOffsetError';
  }
}

/** A key that is neither a supported digest nor an upload id reached a driver. */
export class InvalidKeyError extends Error {
  constructor(readonly key: string) {
    super(`invalid blob store key ${JSON.stringify(key.slice(0, 100))}`);
    this.name = 'InvalidKeyError';
  }
}

/**
 * The backing store (e.g. S3) could not be reached or kept failing after bounded retries.
 * Nothing was changed that a later retry would not repair; the registry answers 503.
 */
export class StorageUnavailableError extends Error {
  constructor(readonly operation: string, readonly reason: string, options?: { cause?: unknown }) {
    super(`storage unavailable: ${operation}: ${reason}`, options);
    this.name = 'StorageUnavailableError';
  }
}
