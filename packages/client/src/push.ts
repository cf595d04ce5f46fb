import type { Readable } from 'node:stream';
import { digestOf, type Descriptor, type ImageReference } from '@berth/oci';
import type { RegistryClient } from './registry.js';
import { DEFAULT_RETRY, mapLimit, withRetries, type RetryPolicy } from './retry.js';

/** What a push reads: the manifest bytes and each blob, whole or a byte range. */
export interface PushSource {
  readonly manifest: { readonly mediaType: string; readonly bytes: Buffer };
  readonly blobs: readonly Descriptor[];
  open(digest: string, range?: { start: number; end: number }): Readable;
}

export type PushEvent =
  | { readonly type: 'exists' | 'mounted' | 'uploaded'; readonly digest: string; readonly size: number }
  | { readonly type: 'manifest'; readonly digest: string };

export interface PushOptions {
  /** A repository on the same registry that already has the blobs: mount instead of upload. */
  readonly mountFrom?: string | undefined;
  /** Blobs up to this size go in one PUT; bigger ones in PATCH chunks of `chunkSize`. */
  readonly monolithicMax?: number;
  readonly chunkSize?: number;
  readonly concurrency?: number;
  readonly retry?: RetryPolicy;
  readonly onEvent?: (e: PushEvent) => void;
  readonly signal?: AbortSignal;
}

const MiB = 1024 * 1024;

/** Pushes blobs (skipping those the registry has, mounting when it can), then the manifest. */
export async function pushImage(client: RegistryClient, ref: ImageReference, source: PushSource, options: PushOptions = {}): Promise<string> {
  const repo = ref.repository;
  const signal = options.signal;
  const monolithicMax = options.monolithicMax ?? 32 * MiB;
  const chunkSize = options.chunkSize ?? 16 * MiB;
  const mountFrom = options.mountFrom !== undefined && options.mountFrom !== repo ? options.mountFrom : undefined;
  await mapLimit(source.blobs, options.concurrency ?? 4, async (desc) => {
    await withRetries(options.retry ?? DEFAULT_RETRY, async () => {
      if (await client.blobExists(repo, desc.digest, signal)) {
        options.onEvent?.({ type: 'exists', digest: desc.digest, size: desc.size });
        return;
      }
      const started = await client.startUpload(repo, desc.digest, mountFrom, signal);
      if (started.mounted) {
        options.onEvent?.({ type: 'mounted', digest: desc.digest, size: desc.size });
        return;
      }
      if (desc.size <= monolithicMax) {
        await client.finishUpload(repo, started.location, desc.digest, desc.size, () => source.open(desc.digest), signal);
      } else {
        let location = started.location;
        for (let start = 0; start < desc.size; start += chunkSize) {
          const end = Math.min(desc.size, start + chunkSize) - 1;
          location = await client.uploadChunk(repo, location, start, end - start + 1, () => source.open(desc.digest, { start, end }), signal);
        }
        await client.finishUpload(repo, location, desc.digest, desc.size, undefined, signal);
      }
      options.onEvent?.({ type: 'uploaded', digest: desc.digest, size: desc.size });
    }, signal);
  });
  const digest = await client.putManifest(repo, ref.tag ?? ref.digest ?? 'latest', source.manifest.mediaType, source.manifest.bytes, signal);
  options.onEvent?.({ type: 'manifest', digest });
  return digest;
}

/**
 * Pushes a multi-platform image: each child manifest (with its blobs) by digest, then the
 * index under the reference's tag, so the index never names a manifest the registry lacks.
 */
export async function pushIndex(
  client: RegistryClient,
  ref: ImageReference,
  source: { readonly index: { readonly mediaType: string; readonly bytes: Buffer }; readonly children: readonly PushSource[] },
  options: PushOptions = {},
): Promise<string> {
  for (const child of source.children) {
    const childRef: ImageReference = { registry: ref.registry, repository: ref.repository, tag: undefined, digest: digestOf(child.manifest.bytes) };
    await pushImage(client, childRef, child, options);
  }
  const digest = await client.putManifest(ref.repository, ref.tag ?? ref.digest ?? 'latest', source.index.mediaType, source.index.bytes, options.signal);
  options.onEvent?.({ type: 'manifest', digest });
  return digest;
}
