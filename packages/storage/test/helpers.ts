import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';

/** All bytes of a stream, for small blobs only. */
export async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
  return Buffer.concat(parts);
}

/** Hex sha256 and length of a stream, without holding it in memory. */
export async function hashStream(stream: Readable): Promise<{ hex: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of stream) {
    const b = chunk as Buffer;
    h.update(b);
    size += b.length;
  }
  return { hex: h.digest('hex'), size };
}

export function streamOf(...parts: (string | Buffer)[]): Readable {
  return Readable.from(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p)));
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function sha512(data: Buffer | string): string {
  return `sha512:${createHash('sha512').update(data).digest('hex')}`;
}

/**
 * A stream that emits `before`, waits long enough for a driver to write it, then fails
 * the way a client connection does: with an error, or by being destroyed.
 */
export function failingStream(before: Buffer, how: 'error' | 'destroy' = 'error'): Readable {
  let sent = false;
  const stream = new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(before);
      setTimeout(() => {
        if (how === 'error') stream.destroy(new Error('client went away'));
        else stream.destroy();
      }, 50);
    },
  });
  return stream;
}

/** A stream that emits `before`, then aborts `controller` and stalls until destroyed. */
export function abortingStream(before: Buffer, controller: AbortController): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (sent) return;
      sent = true;
      this.push(before);
      void sleep(50).then(() => controller.abort());
    },
  });
}

/**
 * Deterministic content of any length, generated on the fly: block k (4 KiB) is
 * sha256("block-k") repeated, so every offset has a known, position-dependent byte.
 */
const BLOCK = 4096;
function block(k: number): Buffer {
  const h = createHash('sha256').update(`block-${k}`).digest();
  return Buffer.alloc(BLOCK, h);
}

export function patternSlice(start: number, end: number): Buffer {
  const parts: Buffer[] = [];
  let pos = start;
  while (pos < end) {
    const k = Math.floor(pos / BLOCK);
    const from = pos - k * BLOCK;
    const to = Math.min(BLOCK, end - k * BLOCK);
    parts.push(block(k).subarray(from, to));
    pos = k * BLOCK + to;
  }
  return Buffer.concat(parts);
}

/** Streams pattern bytes [start, end) in pieces of at most 64 KiB, feeding `hash` as it goes. */
export function patternStream(start: number, end: number, hash?: { update(b: Buffer): unknown }): Readable {
  function* gen(): Generator<Buffer> {
    for (let pos = start; pos < end; pos += 65_536) {
      const piece = patternSlice(pos, Math.min(end, pos + 65_536));
      hash?.update(piece);
      yield piece;
    }
  }
  return Readable.from(gen(), { objectMode: false });
}

/** A destination keeping (copies of) what it is given; `delayMs` holds each write that long before it is flushed. */
export function sink(delayMs = 0, highWaterMark = 16 * 1024): Writable & { bytes(): Buffer } {
  const parts: Buffer[] = [];
  const w = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      parts.push(Buffer.from(chunk));
      if (delayMs > 0) setTimeout(cb, delayMs);
      else cb();
    },
  });
  return Object.assign(w, { bytes: () => Buffer.concat(parts) });
}
