import type { Readable } from 'node:stream';
import { parseManifest, type Descriptor, type ImageReference, type ParsedManifest } from '@berth/oci';
import { describe, RegistryError } from './errors.js';
import { formatPlatform, hostPlatform, indexEntries, selectPlatform, type Platform } from './platform.js';
import type { RegistryClient } from './registry.js';
import { mapLimit, type RetryPolicy } from './retry.js';
import { Commits, fetchBlob } from './blob-fetch.js';

/**
 * Where a pull writes. The local store implements this; its contract:
 * `present` leases the digests (so nothing collects them meanwhile) and says which are
 * stored; `writer` waits for the single download of a blob (undefined: it is stored);
 * `putBytes` stores a verified manifest.
 */
export interface PullSink {
  present(digests: readonly string[]): Promise<Set<string>>;
  writer(digest: string, size: number, signal?: AbortSignal): Promise<BlobWriter | undefined>;
  putBytes(digest: string, bytes: Uint8Array): Promise<void>;
}

/**
 * One blob download: resume at `offset`; exactly one of commit, close (keep for resume),
 * discard. `append` hands each chunk to `tap` as well (see LayerTap).
 */
export interface BlobWriter {
  readonly offset: number;
  append(data: Readable, signal?: AbortSignal, tap?: ChunkTap): Promise<void>;
  reload(): Promise<void>;
  reset(): Promise<void>;
  commit(): Promise<void>;
  close(): Promise<void>;
  discard(): Promise<void>;
}

/** A second consumer of a download's chunks, in order, by reference; false from push: wait for drained(). */
export interface ChunkTap {
  push(chunk: Buffer): boolean;
  drained(): Promise<void>;
}

/**
 * Sees a layer's bytes while it downloads (to unpack it at the same time). The pull calls
 * exactly one of `end` (after the blob was committed: its size and digest are verified)
 * or `fail` (the download failed, or restarted, so the tap saw no clean stream). It never
 * throws into the pull: whatever it makes of the bytes is its own business.
 */
export interface LayerTap extends ChunkTap {
  end(): void;
  fail(err: Error): void;
}

export type PullEvent =
  | { readonly type: 'resolved'; readonly digest: string; readonly mediaType: string; readonly indexDigest?: string | undefined }
  | { readonly type: 'exists'; readonly digest: string; readonly size: number }
  | { readonly type: 'downloading'; readonly digest: string; readonly size: number; readonly offset: number }
  | { readonly type: 'done'; readonly digest: string; readonly size: number };

export interface PullOptions {
  /** Platform to pick from an index; the host's by default. */
  readonly platform?: Platform;
  /** Also fetch every other manifest of an index, and their blobs (to push the whole index later). */
  readonly allPlatforms?: boolean;
  /** Blobs fetched at once. */
  readonly concurrency?: number;
  readonly retry?: RetryPolicy;
  readonly onEvent?: (e: PullEvent) => void;
  readonly signal?: AbortSignal;
  /**
   * True when the image with this manifest digest is already stored completely (a no-op
   * pull): then nothing is fetched or written through the sink, every blob is reported
   * as 'exists', and the result says `alreadyStored`.
   */
  readonly isStored?: (manifestDigest: string) => boolean;
  /**
   * A tap for each layer that is downloaded (not for those already stored), given the
   * layer, its position in the manifest and the config descriptor. With it, the config is
   * fetched before the layers, so the tap may read it from the sink's store.
   */
  readonly layerTap?: (layer: Descriptor, position: number, config: Descriptor) => LayerTap | undefined;
}

export interface PulledImage {
  /** The image manifest (the platform's, when the reference named an index). */
  readonly manifest: { readonly digest: string; readonly mediaType: string; readonly bytes: Buffer };
  readonly parsed: ParsedManifest;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  /** The index the manifest was chosen from, when there was one. */
  readonly index?: { readonly digest: string; readonly mediaType: string } | undefined;
  /** Every blob the image needs, manifests included. */
  readonly blobs: readonly string[];
  /** `isStored` said the image was there already: the sink was not used. */
  readonly alreadyStored: boolean;
}

/** Blobs fetched at once by default (skopeo uses 6; 8 measured a little better here, the event loop being the bottleneck). */
const DEFAULT_CONCURRENCY = 8;

/** Resolves the reference, picks the platform, and fetches config and layers into the sink. */
export async function pullImage(client: RegistryClient, ref: ImageReference, sink: PullSink, options: PullOptions = {}): Promise<PulledImage> {
  const signal = options.signal;
  const repo = ref.repository;
  let top = await client.getManifest(repo, ref.digest ?? ref.tag ?? 'latest', signal);
  let parsed = parse(top.bytes, top.mediaType, top.digest);
  let index: { digest: string; mediaType: string } | undefined;
  const manifests: { digest: string; bytes: Buffer }[] = [top];
  // blobs of the other platforms' manifests (allPlatforms)
  const others: Descriptor[] = [];
  if (parsed.isIndex) {
    const want = options.platform ?? hostPlatform();
    const entries = indexEntries(parsed, top.bytes);
    const chosen = selectPlatform(entries, want);
    if (chosen === undefined) {
      const have = entries.flatMap((e) => (e.platform !== undefined ? [formatPlatform(e.platform)] : []));
      throw new RegistryError('platform', `${client.registry}/${repo}: no image for platform ${formatPlatform(want)} (available: ${have.join(', ') || 'none'})`);
    }
    index = { digest: top.digest, mediaType: top.mediaType };
    top = await client.getManifest(repo, chosen.digest, signal);
    if (top.bytes.length !== chosen.size) {
      throw new RegistryError('digest-mismatch', `manifest ${chosen.digest}: expected ${chosen.size} bytes, got ${top.bytes.length}; refused`);
    }
    parsed = parse(top.bytes, top.mediaType, top.digest);
    if (parsed.isIndex) throw new RegistryError('protocol', `${client.registry}/${repo}: nested index ${top.digest} is not supported`);
    manifests.push(top);
    if (options.allPlatforms === true) {
      for (const entry of entries) if (entry.digest !== chosen.digest) others.push(...(await fetchChild(client, repo, entry, manifests, signal)));
    }
  }
  const config = parsed.config;
  if (config === undefined) throw new RegistryError('protocol', `manifest ${top.digest} has no config`);
  options.onEvent?.({ type: 'resolved', digest: top.digest, mediaType: top.mediaType, indexDigest: index?.digest });

  const blobs = uniqueByDigest([config, ...parsed.layers, ...others]);
  const all = [...manifests.map((m) => m.digest), ...blobs.map((b) => b.digest)];
  const result = { manifest: { digest: top.digest, mediaType: top.mediaType, bytes: top.bytes }, parsed, config, layers: parsed.layers, index, blobs: all };
  if (options.isStored?.(top.digest) === true) {
    for (const b of blobs) options.onEvent?.({ type: 'exists', digest: b.digest, size: b.size });
    return { ...result, alreadyStored: true };
  }
  const present = await sink.present(all);
  const commits = new Commits();
  const fetch = async (desc: Descriptor): Promise<void> => {
    commits.check();
    if (present.has(desc.digest)) {
      options.onEvent?.({ type: 'exists', digest: desc.digest, size: desc.size });
      return;
    }
    const position = options.layerTap !== undefined ? parsed.layers.findIndex((l) => l.digest === desc.digest) : -1;
    await fetchBlob(client, repo, desc, sink, options, commits, position >= 0 ? () => options.layerTap?.(desc, position, config) : undefined);
  };
  await commits.around(async () => {
    if (options.layerTap !== undefined) {
      // the config first, committed, so that taps can read it
      await fetch(config);
      await commits.drain();
      await mapLimit(blobs.slice(1), options.concurrency ?? DEFAULT_CONCURRENCY, fetch);
    } else {
      await mapLimit(blobs, options.concurrency ?? DEFAULT_CONCURRENCY, fetch);
    }
  });
  // manifests last: a stored manifest promises its blobs are there
  for (const m of manifests) await sink.putBytes(m.digest, m.bytes);
  return { ...result, alreadyStored: false };
}

/** Fetches one more child manifest of an index (checked against its descriptor); returns its blobs. */
async function fetchChild(client: RegistryClient, repo: string, entry: Descriptor, manifests: { digest: string; bytes: Buffer }[], signal: AbortSignal | undefined): Promise<Descriptor[]> {
  const child = await client.getManifest(repo, entry.digest, signal);
  if (child.bytes.length !== entry.size) throw new RegistryError('digest-mismatch', `manifest ${entry.digest}: expected ${entry.size} bytes, got ${child.bytes.length}; refused`);
  const parsed = parse(child.bytes, child.mediaType, child.digest);
  if (parsed.isIndex) throw new RegistryError('protocol', `${client.registry}/${repo}: nested index ${child.digest} is not supported`);
  manifests.push(child);
  return [...(parsed.config !== undefined ? [parsed.config] : []), ...parsed.layers];
}

function parse(bytes: Buffer, mediaType: string, digest: string): ParsedManifest {
  try {
    return parseManifest(bytes, mediaType);
  } catch (err) {
    throw new RegistryError('protocol', `manifest ${digest}: ${describe(err)}`);
  }
}

function uniqueByDigest(descs: readonly Descriptor[]): Descriptor[] {
  const seen = new Set<string>();
  return descs.filter((d) => !seen.has(d.digest) && seen.add(d.digest) !== undefined);
}
