import { close, read } from 'node:fs';
import type { Writable } from 'node:stream';
import { BufferPool } from './buffer-pool.js';

const POOL = new BufferPool(1024 * 1024, 64);

function readAt(fd: number, buf: Buffer, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => read(fd, buf, 0, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/**
 * Writes bytes [start, end] of an open file into `dest` (without ending it) with two
 * pooled buffers: one being read while the other is being written. A buffer goes back
 * to the pool only after `dest` reported its write done, never while the socket may
 * still hold it. Closes `fd`. Rejects when `dest` fails or the file is shorter.
 */
export async function sendFile(fd: number, start: number, end: number, dest: Writable): Promise<void> {
  const bufs: [Buffer, Buffer] = [POOL.take(), POOL.take()];
  const pending: [Promise<void>, Promise<void>] = [Promise.resolve(), Promise.resolve()];
  let failed = false;
  try {
    let pos = start;
    for (let i: 0 | 1 = 0; pos <= end; i = i === 0 ? 1 : 0) {
      await pending[i];
      const buf = bufs[i];
      const n = await readAt(fd, buf, Math.min(buf.length, end - pos + 1), pos);
      if (n === 0) throw new Error(`file ended at ${pos}, before ${end + 1}`);
      pending[i] = new Promise<void>((resolve, reject) => {
        dest.write(buf.subarray(0, n), (err) => (err ? reject(err) : resolve()));
      });
      // A destroyed dest fails both writes at once, maybe while neither is awaited: never unhandled.
      pending[i].catch(() => undefined);
      pos += n;
    }
    await Promise.all(pending);
  } catch (err) {
    failed = true;
    // Let writes still in flight settle before the buffers could be touched again.
    await Promise.allSettled(pending);
    throw err;
  } finally {
    close(fd, () => undefined);
    if (!failed) for (const b of bufs) POOL.give(b);
  }
}
