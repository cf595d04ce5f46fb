/**
 * Fixed-size buffers reused across requests, so serving large blobs does not churn
 * external memory (and the garbage collector with it). At most `max` idle buffers are
 * kept; beyond that a returned buffer is left to the collector.
 */
export class BufferPool {
  private readonly idle: Buffer[] = [];

  constructor(readonly size: number, private readonly max: number) {}

  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafeSlow(this.size);
  }

  give(buf: Buffer): void {
    if (this.idle.length < this.max && buf.length === this.size) this.idle.push(buf);
  }
}
