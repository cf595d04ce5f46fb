import { createCipheriv, createHash } from 'node:crypto';
import { Readable } from 'node:stream';

/**
 * Deterministic pseudo-random bytes that can be regenerated from any offset without
 * keeping them in memory: the AES-128-CTR keystream of a key derived from `seed`.
 * Byte i of a pattern is the same whichever piece it is generated in.
 */

const PIECE = 1024 * 1024;
const ZEROS = Buffer.alloc(PIECE);

function cipherAt(seed: string, offset: number): { update(b: Buffer): Buffer } {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  // The counter block of byte `offset`, big-endian in the low 8 bytes (offsets < 2^53).
  iv.writeBigUInt64BE(BigInt(Math.floor(offset / 16)), 8);
  return createCipheriv('aes-128-ctr', key, iv);
}

/** Bytes [start, start+length) of the pattern, yielded in pieces of at most 1 MiB. */
export function* patternPieces(seed: string, start: number, length: number): Generator<Buffer> {
  const cipher = cipherAt(seed, start);
  let skip = start % 16;
  let left = length;
  while (left > 0) {
    const n = Math.min(PIECE, left + skip);
    let out = cipher.update(ZEROS.subarray(0, n));
    if (skip > 0) {
      out = out.subarray(skip);
      skip = 0;
    }
    out = out.subarray(0, Math.min(out.length, left));
    left -= out.length;
    yield out;
  }
}

/** The same bytes as a stream. */
export function patternStream(seed: string, start: number, length: number): Readable {
  return Readable.from(patternPieces(seed, start, length), { objectMode: false });
}

/** The same bytes in one buffer (small ranges only). */
export function patternBuffer(seed: string, start: number, length: number): Buffer {
  return Buffer.concat([...patternPieces(seed, start, length)]);
}

/** `sha256:<hex>` of bytes [0, length) of the pattern, computed piecewise. */
export function patternDigest(seed: string, length: number): string {
  const hash = createHash('sha256');
  for (const piece of patternPieces(seed, 0, length)) hash.update(piece);
  return `sha256:${hash.digest('hex')}`;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
