import { setTimeout as sleep } from 'node:timers/promises';
import type { Descriptor } from '@berth/oci';
import { isRetryable, RegistryError } from './errors.js';
import type { BlobWriter, LayerTap, PullOptions, PullSink } from './pull.js';
import type { RegistryClient } from './registry.js';
import { backoffDelay, DEFAULT_RETRY } from './retry.js';

/** Commits (fsync + rename of a downloaded blob) running at once behind the downloads. */
const MAX_COMMITS = 8;

/**
 * The commits of a pull's blobs, run behind its downloads: a commit waits for the disk
 * (fsync), not the network, so the download slot moves on to the next blob meanwhile. At
 * most MAX_COMMITS run at once (a download waits for room). The first failure stops new
 * downloads (`check`) and is thrown once every commit has settled: nothing is left
 * running behind the caller's back, whatever happens.
 */
export class Commits {
  private readonly running = new Set<Promise<void>>();
  private failure: { err: unknown } | undefined;

  /** Throws the first commit failure. */
  check(): void {
    if (this.failure !== undefined) throw this.failure.err;
  }

  /** Starts tracking a commit; waits while MAX_COMMITS are running. */
  async add(commit: Promise<void>): Promise<void> {
    const tracked: Promise<void> = commit.then(
      () => void this.running.delete(tracked),
      (err: unknown) => {
        this.running.delete(tracked);
        this.failure ??= { err };
      },
    );
    this.running.add(tracked);
    while (this.running.size >= MAX_COMMITS) await Promise.race(this.running);
  }

  /** Waits for every running commit; throws the first failure. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
    this.check();
  }

  /** Runs the downloads, then waits for the commits; a download's failure wins over a commit's. */
  async around(downloads: () => Promise<void>): Promise<void> {
    try {
      await downloads();
    } finally {
      while (this.running.size > 0) await Promise.all(this.running);
    }
    this.check();
  }
}

/**
 * Downloads one blob through the sink's writer, resuming with Range after a broken
 * transfer (bounded attempts with backoff), then hands its commit to `commits`. A digest
 * or size mismatch is final. A tap (from `tapFor`, asked when a download starts at byte 0)
 * sees the first attempt's bytes only: a retry fails it and goes on without.
 */
export async function fetchBlob(client: RegistryClient, repo: string, desc: Descriptor, sink: PullSink, options: PullOptions, commits: Commits, tapFor?: () => LayerTap | undefined): Promise<void> {
  const signal = options.signal;
  const writer = await sink.writer(desc.digest, desc.size, signal);
  if (writer === undefined) {
    options.onEvent?.({ type: 'exists', digest: desc.digest, size: desc.size });
    return;
  }
  const policy = options.retry ?? DEFAULT_RETRY;
  let tap = writer.offset === 0 ? tapFor?.() : undefined;
  try {
    options.onEvent?.({ type: 'downloading', digest: desc.digest, size: desc.size, offset: writer.offset });
    for (let attempt = 0; writer.offset < desc.size; attempt++) {
      try {
        const offset = writer.offset;
        const res = await client.getBlob(repo, desc.digest, offset, signal);
        if (offset > 0 && res.status === 200) await writer.reset();
        await writer.append(res.body, signal, tap);
        if (writer.offset < desc.size) throw new RegistryError('unreachable', `blob ${desc.digest}: connection ended after ${writer.offset} of ${desc.size} bytes`, true);
      } catch (err) {
        tap?.fail(new Error(`download of ${desc.digest} restarted`));
        tap = undefined;
        if (attempt + 1 >= policy.attempts || !isRetryable(err)) throw err;
        await writer.reload();
        await sleep(backoffDelay(policy, attempt), undefined, signal !== undefined ? { signal } : {});
      }
    }
  } catch (err) {
    tap?.fail(err instanceof Error ? err : new Error(String(err)));
    await writer.close();
    throw mismatch(err);
  }
  await commits.add(commit(writer, desc, tap, options));
}

/** Commits a downloaded blob (verify, fsync, rename), then ends its tap and reports it done. */
async function commit(writer: BlobWriter, desc: Descriptor, tap: LayerTap | undefined, options: PullOptions): Promise<void> {
  try {
    await writer.commit();
  } catch (err) {
    tap?.fail(err instanceof Error ? err : new Error(String(err)));
    await writer.close();
    throw mismatch(err);
  }
  tap?.end();
  options.onEvent?.({ type: 'done', digest: desc.digest, size: desc.size });
}

function mismatch(err: unknown): unknown {
  return err instanceof Error && err.name === 'DigestMismatchError' ? new RegistryError('digest-mismatch', err.message) : err;
}
