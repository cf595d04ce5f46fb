import type { ByteRange } from '@berth/storage';

/**
 * A request `Range` header against a blob of `size` bytes: a single byte range
 * (`bytes=a-b`, `bytes=a-`, `bytes=-n`), 'unsatisfiable', or undefined to serve the
 * whole blob (no header, a header we do not parse, or several ranges, as RFC 9110 allows).
 */
export function parseRangeHeader(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null) return undefined;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return undefined;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (!Number.isSafeInteger(start) || start >= size) return 'unsatisfiable';
  if (b !== '' && Number(b) < start) return undefined;
  return { start, end };
}

/** An upload's `Content-Range: <start>-<end>` (a `bytes ` or `bytes=` prefix tolerated). */
export function parseContentRange(header: string | undefined): ByteRange | 'invalid' | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:bytes[ =])?\s*(\d{1,15})-(\d{1,15})(?:\/(?:\d+|\*))?\s*$/i.exec(header);
  if (m === null) return 'invalid';
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start) return 'invalid';
  return { start, end };
}
