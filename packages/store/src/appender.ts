import { fdatasync, writev } from 'node:fs';

/** A writev starts once this much is queued (and none is running). */
const FLUSH_BYTES = 1024 * 1024;
/** More queued than this and `push` asks the caller to wait (the source is paused). */
const MAX_QUEUED = 2 * 1024 * 1024;
/** Written this much since the last one, an fdatasync starts without being waited for. */
const BACKGROUND_SYNC_BYTES = 32 * 1024 * 1024;

/**
 * Appends buffers to a file descriptor opened by the caller (O_APPEND), with few syscalls:
 * chunks as they come off a socket (~64 KiB) are queued and written by one writev per
 * FLUSH_BYTES, on libuv's threads, while the caller keeps reading. Memory is bounded: one
 * write running plus at most MAX_QUEUED queued; `push` returning false means "wait for
 * `drained()`". Every BACKGROUND_SYNC_BYTES an fdatasync starts, not awaited, so the disk
 * writes a big blob back while it downloads and the caller's final fsync only flushes the
 * tail (as the registry's BackgroundSync does for uploads); one runs at a time.
 *
 * Contract: after `flush()` resolves, every pushed byte is in the file (not yet durable:
 * that is the caller's fsync). After a failure, `settle()` waits for what is running and
 * drops the rest; the file then holds some prefix of what was pushed.
 */
export class FileAppender {
  private queue: Buffer[] = [];
  private queued = 0;
  private writing: Promise<void> | undefined;
  private syncing: Promise<void> | undefined;
  private unsynced = 0;
  private failure: Error | undefined;
  private waiters: { resolve: () => void; reject: (err: Error) => void }[] = [];

  constructor(private readonly fd: number) {}

  /** Queues a chunk (kept by reference: the caller must not reuse it); false: wait for drained(). */
  push(chunk: Buffer): boolean {
    if (this.failure !== undefined) throw this.failure;
    this.queue.push(chunk);
    this.queued += chunk.length;
    if (this.queued >= FLUSH_BYTES) this.kick();
    return this.queued < MAX_QUEUED;
  }

  /** Resolves once fewer than MAX_QUEUED bytes wait; rejects when a write failed. */
  drained(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.queued < MAX_QUEUED) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Writes everything queued and waits for it, and for a running background sync. */
  async flush(): Promise<void> {
    while (this.failure === undefined && (this.writing !== undefined || this.queue.length > 0)) {
      this.kick();
      await this.writing;
    }
    await this.syncing;
    if (this.failure !== undefined) throw this.failure;
  }

  /** After a failure elsewhere: drops what is queued, waits for the running write and sync. */
  async settle(): Promise<void> {
    this.queue = [];
    this.queued = 0;
    await this.writing;
    await this.syncing;
  }

  private kick(): void {
    if (this.writing !== undefined || this.queue.length === 0 || this.failure !== undefined) return;
    const buffers = this.queue;
    const bytes = this.queued;
    this.queue = [];
    this.queued = 0;
    this.wake();
    this.writing = writeAll(this.fd, buffers).then(
      () => {
        this.writing = undefined;
        this.unsynced += bytes;
        if (this.unsynced >= BACKGROUND_SYNC_BYTES && this.syncing === undefined) this.backgroundSync();
        if (this.queued >= FLUSH_BYTES) this.kick();
      },
      (err: unknown) => {
        this.writing = undefined;
        this.failure = err instanceof Error ? err : new Error(String(err));
        this.wake();
      },
    );
  }

  private backgroundSync(): void {
    this.unsynced = 0;
    // best effort: the caller's fsync is the one that counts
    this.syncing = new Promise<void>((resolve) => fdatasync(this.fd, () => resolve())).then(() => {
      this.syncing = undefined;
    });
  }

  private wake(): void {
    if (this.failure === undefined && this.queued >= MAX_QUEUED) return;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) {
      if (this.failure !== undefined) w.reject(this.failure);
      else w.resolve();
    }
  }
}

/** writev until every byte is written (a regular file may take fewer bytes than asked). */
async function writeAll(fd: number, buffers: Buffer[]): Promise<void> {
  let rest = buffers;
  while (rest.length > 0) {
    const written = await new Promise<number>((resolve, reject) => writev(fd, rest, (err, n) => (err !== null ? reject(err) : resolve(n))));
    if (written === 0) throw new Error('writev wrote nothing');
    rest = after(rest, written);
  }
}

/** The buffers left once `n` bytes of them are written. */
function after(buffers: Buffer[], n: number): Buffer[] {
  let i = 0;
  let skip = n;
  while (i < buffers.length && skip >= (buffers[i] as Buffer).length) skip -= (buffers[i++] as Buffer).length;
  if (i === buffers.length) return [];
  return [(buffers[i] as Buffer).subarray(skip), ...buffers.slice(i + 1)];
}
