import { Transform, type Readable, type TransformCallback } from 'node:stream';

/**
 * Makes a GET answer hold exactly the range asked for. S3 does, but some S3-compatible
 * servers answer a wider range than requested (s3rver reads `bytes=0-0` as `bytes=0-`)
 * or ignore Range: `contentRange` says what came (undefined: the whole object).
 */
export function exactRange(body: Readable, range: { start: number; end: number }, contentRange: string | undefined): Readable {
  const m = contentRange === undefined ? null : /^bytes (\d+)-(\d+)\//.exec(contentRange);
  const from = m === null ? 0 : Number(m[1]);
  const to = m === null ? Infinity : Number(m[2]);
  if (from === range.start && to === range.end) return body;
  if (from > range.start || to < range.end) {
    body.destroy();
    throw new Error(`S3 answered range ${contentRange ?? 'none'} for bytes=${range.start}-${range.end}`);
  }
  let skip = range.start - from;
  let left = range.end - range.start + 1;
  let ended = false;
  const cut = new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      let c = chunk;
      if (skip > 0) {
        const n = Math.min(skip, c.length);
        skip -= n;
        c = c.subarray(n);
      }
      if (left > 0 && c.length > 0) {
        const piece = c.subarray(0, left);
        left -= piece.length;
        this.push(piece);
      }
      if (left === 0 && !ended) {
        ended = true;
        this.push(null);
        body.destroy();
      }
      cb();
    },
  });
  body.on('error', (err) => cut.destroy(err));
  return body.pipe(cut);
}
