import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MediaType, parseDigest, parseManifest, type ImageReference } from '@berth/oci';
import type { ImageRow } from '../database.js';
import type { LocalStore } from '../store.js';
import { END_OF_ARCHIVE, memberHeader, padding } from './tar.js';

/** One image to save, with the names it is saved under (none: saved by id only). */
export interface SaveItem {
  readonly image: ImageRow;
  readonly names: readonly ImageReference[];
}

/** The path of a blob inside an OCI image layout: blobs/<algorithm>/<hex>. */
export function layoutBlobPath(digest: string): string {
  const parsed = parseDigest(digest);
  if (typeof parsed !== 'object') throw new Error(`invalid digest "${digest.slice(0, 100)}"`);
  return `blobs/${parsed.algorithm}/${parsed.hex}`;
}

/** docker's short form of a name: docker.io/library/busybox:latest is busybox:latest. */
export function familiarName(ref: ImageReference): string {
  let repo = ref.repository;
  if (ref.registry !== 'docker.io') repo = `${ref.registry}/${repo}`;
  else if (repo.startsWith('library/')) repo = repo.slice('library/'.length);
  return `${repo}:${ref.tag ?? 'latest'}`;
}

function fullName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}:${ref.tag ?? 'latest'}`;
}

/**
 * Writes the images as one tar: an OCI image layout (oci-layout, index.json naming each
 * image as containerd does, blobs/) plus docker's manifest.json, so `docker load`,
 * `podman load`, `skopeo copy oci-archive:` and `berth load` all read it. Blobs are streamed
 * from the store, each once; the archive is deterministic (mtime 0).
 */
export async function saveImages(store: LocalStore, items: readonly SaveItem[], out: Writable): Promise<void> {
  const blobs: { digest: string; size: number }[] = [];
  const seen = new Set<string>();
  const add = (digest: string, size: number): void => {
    if (seen.has(digest)) return;
    seen.add(digest);
    blobs.push({ digest, size });
  };
  const index: unknown[] = [];
  const dockerManifest: unknown[] = [];
  for (const { image, names } of items) {
    const bytes = await store.readBlob(image.digest);
    const parsed = parseManifest(bytes, image.mediaType);
    if (parsed.config === undefined) throw new Error(`image ${image.digest} has no config`);
    add(parsed.config.digest, parsed.config.size);
    for (const layer of parsed.layers) add(layer.digest, layer.size);
    add(image.digest, bytes.length);
    const descriptor = { mediaType: image.mediaType, digest: image.digest, size: bytes.length };
    if (names.length === 0) index.push(descriptor);
    for (const ref of names) {
      index.push({ ...descriptor, annotations: { 'io.containerd.image.name': fullName(ref), 'org.opencontainers.image.ref.name': ref.tag ?? 'latest' } });
    }
    dockerManifest.push({
      Config: layoutBlobPath(parsed.config.digest),
      RepoTags: names.map(familiarName),
      Layers: parsed.layers.map((l) => layoutBlobPath(l.digest)),
    });
  }
  const small = (name: string, value: unknown): Buffer[] => {
    const data = Buffer.from(JSON.stringify(value));
    return [memberHeader(name, 'file', data.length), data, padding(data.length)];
  };
  async function* archive(): AsyncGenerator<Buffer> {
    yield* small('oci-layout', { imageLayoutVersion: '1.0.0' });
    yield* small('index.json', { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: index });
    yield* small('manifest.json', dockerManifest);
    const dirs = new Set<string>();
    yield memberHeader('blobs/', 'dir', 0);
    for (const { digest, size } of blobs) {
      const path = layoutBlobPath(digest);
      const dir = path.slice(0, path.lastIndexOf('/') + 1);
      if (!dirs.has(dir)) {
        dirs.add(dir);
        yield memberHeader(dir, 'dir', 0);
      }
      yield memberHeader(path, 'file', size);
      let sent = 0;
      for await (const chunk of store.openBlob(digest) as AsyncIterable<Buffer>) {
        sent += chunk.length;
        if (sent > size) break;
        yield chunk;
      }
      if (sent !== size) throw new Error(`blob ${digest}: stored size differs from ${size} bytes; the store is damaged`);
      yield padding(size);
    }
    yield END_OF_ARCHIVE;
  }
  await pipeline(archive(), out);
}
