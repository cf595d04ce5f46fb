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
