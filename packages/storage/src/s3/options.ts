import type { BlobCatalog } from '../catalog.js';
import type { RetryPolicy } from './retry.js';

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3StoreOptions {
  readonly bucket: string;
  readonly region: string;
  /** e.g. http://minio:9000; undefined for AWS. */
  readonly endpoint?: string;
  /** Path-style URLs (MinIO, Ceph, Garage, s3rver); virtual-hosted otherwise. */
  readonly forcePathStyle: boolean;
  /** Key prefix of every object, without leading or trailing slash; may be empty. */
  readonly prefix: string;
  readonly storageClass?: string;
  /** Server-side encryption: AES256 or aws:kms (with kmsKeyId, or the bucket's key). */
  readonly serverSideEncryption?: 'AES256' | 'aws:kms';
  readonly kmsKeyId?: string;
  /** Omit to use the standard AWS chain: env, shared config and credentials, instance role. */
  readonly credentials?: S3Credentials;
  /** Local directory where chunks are gathered into parts (never in memory). */
  readonly spoolDir: string;
  /** Size of a multipart part; at least 5 MiB. */
  readonly partSize: number;
  /** Parts of one upload sent at once (each takes partSize of spool disk). */
  readonly concurrency: number;
  readonly retry: RetryPolicy;
  /** Lifetime of pre-signed GET URLs, seconds. */
  readonly presignExpiry: number;
  /** Where blob locations and upload states are kept (the registry's metadata database). */
  readonly catalog: BlobCatalog;
}

export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's largest part number. */
export const MAX_PARTS = 10_000;
