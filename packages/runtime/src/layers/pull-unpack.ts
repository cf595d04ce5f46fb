import type { Descriptor } from '@berth/oci';
import type { LocalStore } from '@berth/store';
import { unpackLayerStream } from './cache.js';
import { ChunkQueue } from './chunk-queue.js';
import { LayerPaths } from './paths.js';

/** What the registry client's pull feeds (structurally its LayerTap). */
export interface LayerFeed {
  push(chunk: Buffer): boolean;
  drained(): Promise<void>;
  /** The blob is committed: size and digest verified. */
  end(): void;
  fail(err: Error): void;
}

export interface PullUnpacker {
  /** A feed for one layer being downloaded (its position in the manifest, the image's config). */
  tap(layer: Descriptor, position: number, config: Descriptor): LayerFeed;
  /** Waits for every unpack started; never throws (a failed one is redone from the blob). */
  settle(): Promise<void>;
}

/**
 * Unpacks layers into the cache while `berth pull` downloads them (for `berth run` of an
 * image not pulled yet): each downloaded layer's chunks go both to the store and, through a
 * ChunkQueue, to unpackLayerStream, so the pull's network and disk time and the unpack's
 * overlap instead of adding up. Layers the store holds already are left to ensureLayers:
 * unpacking them from their blobs during the download was measured slower, not faster
 * (the event loop is the bottleneck of both).
 *
 * Safety: the unpack sees the download's bytes before their digest is checked, but it can
 * only put a layer into the cache after its stream ends, and the stream ends only with
 * `end()`, which the pull calls after the blob was committed (size and digest verified);
 * `fail()` (a mismatch, a restarted or broken download) fails the unpack, which then
 * deletes its temporary tree. The entry itself is verified as always (the tar's sha256 must
 * be the config's diff_id), and records the blob digest only once it was verified too.
 *
 * An unpack that fails for any reason (a bad config, a bad tar, a diff_id mismatch) does
 * not fail the pull: its queue drops the rest of the layer, and ensureLayers later unpacks
 * the layer from its blob, where the problem is reported as for any pulled image.
 */
export function pullUnpacker(store: LocalStore): PullUnpacker {
  const paths = new LayerPaths(store.paths.root);
  const running: Promise<void>[] = [];
  let diffIds: Promise<readonly string[]> | undefined;
  const diffIdsOf = (config: Descriptor): Promise<readonly string[]> =>
    (diffIds ??= store.readBlob(config.digest).then((bytes) => {
      const ids = (JSON.parse(bytes.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
      if (!Array.isArray(ids) || !ids.every((d): d is string => typeof d === 'string')) throw new Error(`image config ${config.digest} has no rootfs.diff_ids`);
      return ids;
    }));
  const diffIdAt = async (config: Descriptor, position: number): Promise<string> => {
    const diffId = (await diffIdsOf(config))[position];
    if (diffId === undefined) throw new Error(`image config ${config.digest} has no diff_id for layer ${position}`);
    return diffId;
  };
  return {
    tap(layer, position, config) {
      const queue = new ChunkQueue();
      const unpack = async (): Promise<void> => {
        await unpackLayerStream(paths, queue, await diffIdAt(config, position), { blobDigest: layer.digest });
      };
      running.push(unpack().catch(() => queue.drop()));
      return queue;
    },
    async settle() {
      await Promise.all(running);
    },
  };
}
