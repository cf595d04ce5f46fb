import type { FileHandle } from 'node:fs/promises';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * A pass-through that starts an fdatasync of the file every `every` bytes without
 * waiting for it, so the disk writes back a large upload while it is still arriving and
 * the fsync at commit only has the tail left to flush. One sync runs at a time;
 * `settled()` resolves when none is running (call it before closing the handle).
 */
export class BackgroundSync extends Transform {
  private sinceSync = 0;
  private running: Promise<void> | undefined;

  constructor(private readonly handle: FileHandle, private readonly bytesPerSync: number) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.sinceSync += chunk.length;
    if (this.sinceSync >= this.bytesPerSync && this.running === undefined) {
      this.sinceSync = 0;
      this.running = this.handle.datasync().then(
        () => {
          this.running = undefined;
        },
        () => {
          // Best effort: the fsync at commit is the one that counts.
          this.running = undefined;
        },
      );
    }
    cb(null, chunk);
  }

  async settled(): Promise<void> {
    await this.running;
  }
}
