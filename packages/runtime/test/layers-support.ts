import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

/**
 * Test layers built byte by byte (independently of src/layers/tar/writer.ts), so hostile
 * members (absolute names, "..", oversized pax records, bad checksums) can be written.
 */
export interface RawEntry {
  readonly name: string;
  /** Tar typeflag: '0' file, '1' hardlink, '2' symlink, '3' char, '4' block, '5' dir, '6' fifo. */
  readonly flag?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: number;
  readonly linkname?: string;
  readonly data?: Buffer | string;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Pax records written before the member (path, linkpath, mtime, SCHILY.xattr.*, ...). */
  readonly pax?: Readonly<Record<string, string | Buffer>>;
  /** Write the name (and link) as GNU ././@LongLink records instead. */
  readonly gnuLong?: boolean;
}

export const MTIME = 1_600_000_000;

export const file = (name: string, data: string | Buffer, extra: Partial<RawEntry> = {}): RawEntry => ({ name, flag: '0', data, ...extra });
export const dir = (name: string, extra: Partial<RawEntry> = {}): RawEntry => ({ name, flag: '5', mode: 0o755, ...extra });
export const symlink = (name: string, target: string): RawEntry => ({ name, flag: '2', linkname: target, mode: 0o777 });
export const hardlink = (name: string, target: string): RawEntry => ({ name, flag: '1', linkname: target });

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

export function headerBlock(e: { name: string; flag: string; size: number; mode?: number; uid?: number; gid?: number; mtime?: number; linkname?: string; devmajor?: number; devminor?: number }): Buffer {
  const h = Buffer.alloc(512);
  h.write(e.name.slice(0, 100), 0, 100, 'utf8');
  h.write(octal(e.mode ?? 0o644, 8), 100);
  h.write(octal(e.uid ?? 0, 8), 108);
  h.write(octal(e.gid ?? 0, 8), 116);
  h.write(octal(e.size, 12), 124);
  h.write(octal(e.mtime ?? MTIME, 12), 136);
  h.write('        ', 148);
  h.write(e.flag, 156);
  h.write((e.linkname ?? '').slice(0, 100), 157, 100, 'utf8');
  h.write('ustar\0' + '00', 257);
  h.write(octal(e.devmajor ?? 0, 8), 329);
  h.write(octal(e.devminor ?? 0, 8), 337);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148);
  return h;
}

const pad = (n: number): Buffer => Buffer.alloc((512 - (n % 512)) % 512);

function paxRecord(key: string, value: Buffer): Buffer {
  const rest = key.length + value.length + 3;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

/** The archive bytes (test layers are small; src never holds a layer in memory). */
export function tarBytes(entries: readonly RawEntry[], end = true): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
    if (e.pax !== undefined) {
      const body = Buffer.concat(Object.entries(e.pax).map(([k, v]) => paxRecord(k, Buffer.from(v))));
      parts.push(headerBlock({ name: 'PaxHeaders/x', flag: 'x', size: body.length }), body, pad(body.length));
    }
    if (e.gnuLong === true) {
      for (const [flag, value] of [['L', e.name], ['K', e.linkname ?? '']] as const) {
        if (value === '') continue;
        const body = Buffer.from(`${value}\0`);
        parts.push(headerBlock({ name: '././@LongLink', flag, size: body.length }), body, pad(body.length));
      }
    }
    parts.push(headerBlock({ ...e, flag: e.flag ?? '0', size: data.length }), data, pad(data.length));
  }
  if (end) parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

export function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export type Compression = 'gzip' | 'zstd' | 'none';

/** Writes a layer blob into `dir`; returns its path and diff_id. */
export function writeLayer(dir: string, tar: Buffer, compression: Compression = 'gzip', name = sha256(tar).slice(7, 19)): { path: string; diffId: string } {
  const path = join(dir, `${name}.${compression}`);
  if (compression === 'gzip') writeFileSync(path, gzipSync(tar));
  else if (compression === 'none') writeFileSync(path, tar);
  else {
    const r = spawnSync('zstd', ['-q', '-c'], { input: tar, maxBuffer: 1 << 30 });
    if (r.status !== 0) throw new Error(`zstd: ${r.stderr.toString()}`);
    writeFileSync(path, r.stdout);
  }
  return { path, diffId: sha256(tar) };
}

/** Names of a tree (relative, sorted, dirs with a trailing slash), for comparing views. */
export function treeOf(root: string): string[] {
  const r = spawnSync('find', ['.', '-mindepth', '1', '-printf', '%P %y %m %U:%G %s %l\\n'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return r.stdout.split('\n').filter(Boolean).sort();
}
