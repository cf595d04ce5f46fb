import type { Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { RegistryError } from '@berth/oci';

/**
 * A pass-through that feeds every chunk to a hash and counts bytes, failing the stream
 * as soon as more than `limit` bytes have passed (so an oversized body is cut off early),
 * and, given `exact` (a chunk's Content-Range length), when the body is longer or shorter:
 * the store then drops the chunk as it drops any failed append.
 */
export class HashingCounter extends Transform {
  bytes = 0;

  constructor(
    private readonly hash: Hash | undefined,
    private readonly limit: number,
    private readonly exact?: { length: number; error: () => Error },
  ) {
    super({ highWaterMark: 256 * 1024 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      cb(new RegistryError('SIZE_INVALID', `blob exceeds the size limit of ${this.limit} bytes`));
      return;
    }
    if (this.exact !== undefined && this.bytes > this.exact.length) {
      cb(this.exact.error());
      return;
    }
    this.hash?.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    if (this.exact !== undefined && this.bytes !== this.exact.length) cb(this.exact.error());
    else cb();
  }
}
