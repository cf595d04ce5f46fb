import type { Readable } from 'node:stream';
import type { PushSource } from '@berth/client';
import { parseManifest, type Descriptor } from '@berth/oci';
import type { LocalStore } from '@berth/store';

type Open = (digest: string, range?: { start: number; end: number }) => Readable;

/** A local image manifest as a push source: its bytes, config and layers. */
export async function imageSource(store: LocalStore, digest: string, mediaType: string, open: Open): Promise<PushSource> {
  const bytes = await store.readBlob(digest);
  const parsed = parseManifest(bytes, mediaType);
  const blobs: Descriptor[] = [...(parsed.config !== undefined ? [parsed.config] : []), ...parsed.layers];
  return { manifest: { mediaType: parsed.mediaType, bytes }, blobs, open };
}

/**
 * The whole multi-platform image behind an index, when the store holds the index, every
 * child manifest and all their blobs (`berth pull --all-platforms`); undefined otherwise,
 * and then only the platform's image is pushed.
 */
export async function indexSource(store: LocalStore, indexDigest: string, open: Open): Promise<{ index: { mediaType: string; bytes: Buffer }; children: PushSource[] } | undefined> {
  if (!(await store.hasBlob(indexDigest))) return undefined;
  const bytes = await store.readBlob(indexDigest);
  const parsed = parseManifest(bytes, undefined);
  if (!parsed.isIndex) return undefined;
  const children: PushSource[] = [];
  for (const child of parsed.manifests) {
    if (!(await store.hasBlob(child.digest))) return undefined;
    const source = await imageSource(store, child.digest, child.mediaType, open);
    for (const b of source.blobs) if (!(await store.hasBlob(b.digest))) return undefined;
    children.push(source);
  }
  return { index: { mediaType: parsed.mediaType, bytes }, children };
}
