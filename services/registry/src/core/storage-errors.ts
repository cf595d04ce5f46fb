import { RegistryError } from '@berth/oci';
import { BlobNotFoundError, InvalidKeyError, UploadNotFoundError } from '@berth/storage';

/** Translates blob-store error kinds into registry errors; anything else passes through. */
export function fromStorageError(err: unknown, digest?: string): unknown {
  if (err instanceof BlobNotFoundError) return new RegistryError('BLOB_UNKNOWN', undefined, { digest: digest ?? err.digest });
  if (err instanceof UploadNotFoundError) return new RegistryError('BLOB_UPLOAD_UNKNOWN');
  if (err instanceof InvalidKeyError) return new RegistryError('DIGEST_INVALID');
  return err;
}
