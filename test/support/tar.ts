import { createReadStream, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

/** One member of a tar stream; file contents come from a path, a buffer or random bytes. */
export type TarEntry =
  | { readonly type: 'dir'; readonly name: string; readonly mode?: number }
  | { readonly type: 'symlink'; readonly name: string; readonly target: string }
  | { readonly type: 'file'; readonly name: string; readonly mode?: number; readonly data: Buffer }
  | { readonly type: 'file'; readonly name: string; readonly mode?: number; readonly path: string }
  | { readonly type: 'file'; readonly name: string; readonly mode?: number; readonly randomSize: number };

const MTIME = 1_700_000_000; // fixed, so layers are reproducible

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function header(name: string, typeflag: string, size: number, mode: number, linkname = ''): Buffer {
  if (Buffer.byteLength(name) > 100 || Buffer.byteLength(linkname) > 100) throw new Error(`tar name too long: ${name}`);
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii'); // uid
  h.write(octal(0, 8), 116, 8, 'ascii'); // gid
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(MTIME, 12), 136, 12, 'ascii');
  h.write('        ', 148, 8, 'ascii'); // checksum placeholder
  h.write(typeflag, 156, 1, 'ascii');
  h.write(linkname, 157, 100, 'utf8');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write('root', 265, 32, 'ascii');
  h.write('root', 297, 32, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(octal(sum, 7) + ' ', 148, 8, 'ascii');
  return h;
}

function padding(size: number): Buffer {
  const rest = size % 512;
  return Buffer.alloc(rest === 0 ? 0 : 512 - rest);
}

/** Streams a ustar archive of the entries; file contents are never held in memory whole. */
export async function* tarStream(entries: readonly TarEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    if (e.type === 'dir') {
      yield header(e.name.endsWith('/') ? e.name : `${e.name}/`, '5', 0, e.mode ?? 0o755);
    } else if (e.type === 'symlink') {
      yield header(e.name, '2', 0, 0o777, e.target);
    } else if ('data' in e) {
      yield header(e.name, '0', e.data.length, e.mode ?? 0o644);
      yield e.data;
      yield padding(e.data.length);
    } else if ('path' in e) {
      const size = statSync(e.path).size;
      yield header(e.name, '0', size, e.mode ?? 0o644);
      let seen = 0;
      for await (const chunk of createReadStream(e.path) as AsyncIterable<Buffer>) {
        seen += chunk.length;
        yield chunk;
      }
      if (seen !== size) throw new Error(`${e.path} changed size while archiving`);
      yield padding(size);
    } else {
      yield header(e.name, '0', e.randomSize, e.mode ?? 0o644);
      for (let left = e.randomSize; left > 0; ) {
        const n = Math.min(left, 256 * 1024);
        yield randomBytes(n);
        left -= n;
      }
      yield padding(e.randomSize);
    }
  }
  yield Buffer.alloc(1024);
}
