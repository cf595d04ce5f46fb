/** Bytes a queue holds before `push` asks the producer to wait. */
const MAX_QUEUED = 4 * 1024 * 1024;
/** The consumer is handed at least this much at once (until the end): socket-sized chunks cost a decompressor job each. */
const MIN_HANDOUT = 512 * 1024;

/**
 * A bounded hand-over of chunks from a producer that pushes (a download) to a consumer
 * that iterates (an unpack), once. The producer calls `push` (false: wait for `drained()`),
 * then exactly one of `end` or `fail`; the consumer sees the chunks in order, then the end
 * or the failure, in pieces of at least MIN_HANDOUT bytes (chunks joined) but the last. A
 * consumer that stops early (breaks, throws) makes the queue drop what it is given from
 * then on, so the producer never waits for it.
 */
export class ChunkQueue implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private failure: Error | undefined;
  private dropped = false;
  private reader: (() => void) | undefined;
  private writers: (() => void)[] = [];

  push(chunk: Buffer): boolean {
    if (this.dropped || this.ended || this.failure !== undefined) return true;
    this.chunks.push(chunk);
    this.queued += chunk.length;
    this.wakeReader();
    return this.queued < MAX_QUEUED;
  }

  drained(): Promise<void> {
    if (this.dropped || this.queued < MAX_QUEUED) return Promise.resolve();
    return new Promise((resolve) => this.writers.push(resolve));
  }

  end(): void {
    this.ended = true;
    this.wakeReader();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.wakeReader();
  }

  /** The consumer is gone: what comes is dropped, and the producer is released. */
  drop(): void {
    this.dropped = true;
    this.chunks = [];
    this.queued = 0;
    this.wakeWriters();
  }

  [Symbol.asyncIterator](): AsyncIterator<Buffer> {
    return {
      next: () => this.next(),
      return: (): Promise<IteratorResult<Buffer>> => {
        this.drop();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  private async next(): Promise<IteratorResult<Buffer>> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.queued >= MIN_HANDOUT || (this.ended && this.queued > 0)) {
        const pieces = this.chunks;
        this.chunks = [];
        this.queued = 0;
        this.wakeWriters();
        return { done: false, value: pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces) };
      }
      if (this.ended) return { done: true, value: undefined };
      await new Promise<void>((resolve) => (this.reader = resolve));
    }
  }

  private wakeReader(): void {
    const reader = this.reader;
    this.reader = undefined;
    reader?.();
  }

  private wakeWriters(): void {
    const writers = this.writers;
    this.writers = [];
    for (const w of writers) w();
  }
}
