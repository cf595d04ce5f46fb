import { RegistryError } from '@berth/oci';
import { BlobNotFoundError, InvalidKeyError, StorageUnavailableError, UploadNotFoundError, UploadOffsetError } from '@berth/storage';

/** Seconds a client is told to wait when the blob storage is unavailable. */
export const STORAGE_RETRY_AFTER = '10';

/** Translates blob-store error kinds into registry errors; anything else passes through. */
export function fromStorageError(err: unknown, digest?: string): unknown {
  if (err instanceof BlobNotFoundError) return new RegistryError('BLOB_UNKNOWN', undefined, { digest: digest ?? err.digest });
  if (err instanceof UploadNotFoundError) return new RegistryError('BLOB_UPLOAD_UNKNOWN');
  if (err instanceof InvalidKeyError) return new RegistryError('DIGEST_INVALID');
  if (err instanceof UploadOffsetError) return new RegistryError('BLOB_UPLOAD_INVALID', 'the upload cannot continue at this offset; restart the upload');
  if (err instanceof StorageUnavailableError) return storageUnavailable();
  return err;
}

export function storageUnavailable(): RegistryError {
  return new RegistryError('STORAGE_UNAVAILABLE', undefined, undefined, { 'Retry-After': STORAGE_RETRY_AFTER });
}
