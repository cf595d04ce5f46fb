import type { Descriptor } from '@berth/oci';

/** A manifest as stored: the exact bytes a client pushed, and what was parsed from them. */
export interface StoredManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  readonly content: Buffer;
}

/** A manifest's identity without its bytes, for HEAD requests. */
export type ManifestHead = Omit<StoredManifest, 'content'>;

export interface NewManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly content: Buffer;
  readonly artifactType?: string;
  readonly subject?: string;
  readonly annotations?: Readonly<Record<string, string>>;
  /** Blobs that must be linked to the repository, with the size the manifest claims. */
  readonly blobs: readonly { readonly digest: string; readonly size: number }[];
  /** Manifests that must already be in the repository (children of an index). */
  readonly manifests: readonly { readonly digest: string; readonly size: number }[];
  /** Tag to point at this manifest, if it was pushed by tag. */
  readonly tag?: string;
}

export interface UploadSession {
  readonly id: string;
  readonly repository: string;
  readonly size: number;
  readonly createdAt: number;
  readonly updatedAt: number;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** True when more items follow the last one returned. */
  readonly more: boolean;
}

export type Referrer = Descriptor;

/**
 * Every metadata read and write the registry needs. Each method is one transaction.
 * Implementations: SQLite now; the interface is async so a PostgreSQL one can follow.
 * Names, tags and digests arrive validated; implementations still bind them as
 * parameters, never into SQL text.
 */
export interface MetadataStore {
  repositoryExists(repository: string): Promise<boolean>;
  /** Repositories in lexical order after `last`, at most `limit`. */
  listRepositories(limit: number, last?: string): Promise<Page<string>>;

  /** Size of a blob linked to the repository, or undefined. */
  getBlob(repository: string, digest: string): Promise<{ size: number } | undefined>;
  /** Size of a blob known anywhere in the registry, or undefined. */
  getAnyBlob(digest: string): Promise<{ size: number } | undefined>;
  /** Records a committed blob and links it to the repository (creating it). */
  linkBlob(repository: string, digest: string, size: number): Promise<void>;
  unlinkBlob(repository: string, digest: string): Promise<boolean>;
  /** Links an existing blob of `from` into `repository`; false when `from` has none. */
  mountBlob(repository: string, from: string, digest: string): Promise<{ size: number } | undefined>;

  getManifest(repository: string, reference: ManifestReference): Promise<StoredManifest | undefined>;
  headManifest(repository: string, reference: ManifestReference): Promise<ManifestHead | undefined>;
  /** Stores a manifest and moves its tag in one transaction; throws ManifestReferenceError. */
  putManifest(repository: string, manifest: NewManifest): Promise<void>;
  /** Deletes a manifest and every tag pointing at it; false when there was none. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  deleteTag(repository: string, tag: string): Promise<boolean>;
  /** Tags in lexical order after `last`; undefined when the repository is unknown. */
  listTags(repository: string, limit: number, last?: string): Promise<Page<string> | undefined>;
  /** Manifests whose subject is `subject`, by digest after `last`, at most `limit`. */
  listReferrers(repository: string, subject: string, artifactType: string | undefined, limit: number, last?: string): Promise<Page<Referrer>>;

  createUpload(id: string, repository: string, now: number): Promise<void>;
  getUpload(id: string): Promise<UploadSession | undefined>;
  setUploadSize(id: string, size: number, now: number): Promise<void>;
  deleteUpload(id: string): Promise<boolean>;
  countUploads(): Promise<number>;
  /** Ids of uploads not touched since `before` (ms since the epoch). */
  listStaleUploads(before: number, limit: number): Promise<string[]>;
  /** Ends the upload and links its blob, in one transaction. */
  completeUpload(id: string, repository: string, digest: string, size: number): Promise<void>;

  close(): Promise<void>;
}

export type ManifestReference = { readonly tag: string } | { readonly digest: string };

/** A manifest names a blob or child manifest the repository does not have (or has at another size). */
export class ManifestReferenceError extends Error {
  constructor(
    readonly digest: string,
    readonly reason: 'blob-unknown' | 'manifest-unknown' | 'size-mismatch',
  ) {
    super(
      reason === 'size-mismatch'
        ? `the size given for ${digest} does not match the stored content`
        : `${reason === 'blob-unknown' ? 'blob' : 'manifest'} ${digest} is not in this repository`,
    );
    this.name = 'ManifestReferenceError';
  }
}
