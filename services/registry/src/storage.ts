import type { SqliteMetadataStore } from '@berth/metadata';
import { FilesystemBlobStore, S3BlobStore, type BlobStore } from '@berth/storage';
import { dataPaths, type Config } from './config/index.js';

/** A blob store with what it holds besides the metadata, closed with it. */
export interface OpenedBlobStore {
  readonly blobs: BlobStore;
  /** Pre-signed URL of a blob, for `storage.redirect` (undefined: stream it). */
  readonly redirectUrl?: (digest: string) => Promise<string | undefined>;
  /** Removes what a crash left in the storage that no upload state knows (S3: multipart uploads started before `before`). */
  readonly sweep?: (before: number) => Promise<number>;
  close(): void;
}

/** The driver `storage.driver` names; the S3 one keeps its catalog in `metadata`. */
export async function openBlobStore(config: Config, metadata: SqliteMetadataStore): Promise<OpenedBlobStore> {
  const paths = dataPaths(config);
  const s = config.storage;
  if (s.driver === 'filesystem') {
    return { blobs: await FilesystemBlobStore.open(paths.blobs), close: () => undefined };
  }
  const store = await S3BlobStore.open({
    bucket: s.bucket,
    region: s.region,
    ...(s.endpoint !== '' ? { endpoint: s.endpoint } : {}),
    forcePathStyle: s.pathstyle,
    prefix: s.rootprefix,
    ...(s.storageclass !== '' ? { storageClass: s.storageclass } : {}),
    ...(s.encryption !== 'none' ? { serverSideEncryption: s.encryption } : {}),
    ...(s.kmskeyid !== '' ? { kmsKeyId: s.kmskeyid } : {}),
    ...(s.accesskey !== '' ? { credentials: { accessKeyId: s.accesskey, secretAccessKey: s.secretkey } } : {}),
    spoolDir: paths.spool,
    partSize: s.partsize,
    concurrency: s.concurrency,
    retry: { attempts: s.retries + 1, baseDelay: 100, maxDelay: 2000, timeout: s.timeout },
    presignExpiry: Math.max(1, Math.round(s.redirectexpiry / 1000)),
    catalog: metadata.blobCatalog(),
  });
  return {
    blobs: store,
    ...(s.redirect ? { redirectUrl: (digest: string) => store.presignedUrl(digest) } : {}),
    sweep: (before: number) => store.abortStrayMultipartUploads(before),
    close: () => store.destroy(),
  };
}
