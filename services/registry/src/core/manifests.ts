import { createHash } from 'node:crypto';
import {
  ManifestInvalidError,
  RegistryError,
  isNonDistributable,
  parseManifest,
  type DigestAlgorithm,
} from '@berth/oci';
import { ManifestReferenceError, type ManifestReference, type MetadataStore } from '@berth/metadata';

export interface PutResult {
  readonly digest: string;
  readonly subject?: string;
}

/**
 * Manifest push: the exact bytes are digested, parsed and validated (media type,
 * descriptors, every referenced blob and child manifest present at the size claimed),
 * then stored with their tag in one metadata transaction. Layers that are not
 * distributable and a `subject` that is not pushed yet are allowed to be missing.
 */
export class ManifestService {
  constructor(private readonly metadata: MetadataStore) {}

  async put(repository: string, reference: ManifestReference, body: Buffer, contentType: string | undefined): Promise<PutResult> {
    const algorithm: DigestAlgorithm = 'digest' in reference ? (reference.digest.startsWith('sha512:') ? 'sha512' : 'sha256') : 'sha256';
    const digest = `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
    if ('digest' in reference && reference.digest !== digest) {
      throw new RegistryError('DIGEST_INVALID', 'the manifest does not match the digest in the URL', { expected: reference.digest, actual: digest });
    }
    let parsed;
    try {
      parsed = parseManifest(body, contentType);
    } catch (err) {
      if (err instanceof ManifestInvalidError) throw new RegistryError('MANIFEST_INVALID', err.message);
      throw err;
    }
    const blobs = [
      ...(parsed.config !== undefined ? [parsed.config] : []),
      ...parsed.layers.filter((l) => !isNonDistributable(l.mediaType)),
    ];
    try {
      await this.metadata.putManifest(repository, {
        digest,
        mediaType: parsed.mediaType,
        content: body,
        blobs: dedupe(blobs.map((b) => ({ digest: b.digest, size: b.size }))),
        manifests: dedupe(parsed.manifests.map((m) => ({ digest: m.digest, size: m.size }))),
        ...(parsed.artifactType !== undefined ? { artifactType: parsed.artifactType } : {}),
        ...(parsed.subject !== undefined ? { subject: parsed.subject.digest } : {}),
        ...(parsed.annotations !== undefined ? { annotations: parsed.annotations } : {}),
        ...('tag' in reference ? { tag: reference.tag } : {}),
      });
    } catch (err) {
      if (err instanceof ManifestReferenceError) {
        if (err.reason === 'size-mismatch') throw new RegistryError('MANIFEST_INVALID', err.message, { digest: err.digest });
        throw new RegistryError('MANIFEST_BLOB_UNKNOWN', err.message, { digest: err.digest });
      }
      throw err;
    }
    return { digest, ...(parsed.subject !== undefined ? { subject: parsed.subject.digest } : {}) };
  }
}

function dedupe<T extends { digest: string }>(items: T[]): T[] {
  const seen = new Set<string>();
  return items.filter((i) => (seen.has(i.digest) ? false : (seen.add(i.digest), true)));
}
