export type { BlobInfo, BlobReader, BlobIngester, BlobManager, BlobStore, ByteRange } from './blob-store.js';
export { BlobNotFoundError, UploadNotFoundError, UploadOffsetError, InvalidKeyError } from './errors.js';
export { isUploadId } from './keys.js';
export { FilesystemBlobStore } from './filesystem.js';
