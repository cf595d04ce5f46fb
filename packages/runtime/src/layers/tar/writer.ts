import { BLOCK } from './header.js';
import type { EntryType } from './reader.js';

export interface WriteHeader {
  readonly name: string;
  readonly type: EntryType;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Whole seconds. */
  readonly mtime: number;
  readonly linkname?: string;
  readonly devmajor?: number;
  readonly devminor?: number;
  readonly xattrs?: ReadonlyMap<string, Buffer>;
}

const FLAGS: Readonly<Record<EntryType, string>> = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };
const MAX_OCTAL_8 = 0o7777777;
const MAX_OCTAL_12 = 0o77777777777;

/**
 * The header block(s) of one member in POSIX pax format (what docker and containerd write):
 * a ustar header, preceded by a pax 'x' record when a name or link is longer than 100
 * bytes or not ASCII, a number does not fit its octal field, or there are xattrs.
 */
export function headerBlocks(h: WriteHeader): Buffer {
  const linkname = h.linkname ?? '';
  const pax: [string, Buffer][] = [];
  if (!fits(h.name)) pax.push(['path', Buffer.from(h.name)]);
  if (!fits(linkname)) pax.push(['linkpath', Buffer.from(linkname)]);
  if (h.size > MAX_OCTAL_12) pax.push(['size', Buffer.from(String(h.size))]);
  if (h.uid > MAX_OCTAL_8) pax.push(['uid', Buffer.from(String(h.uid))]);
  if (h.gid > MAX_OCTAL_8) pax.push(['gid', Buffer.from(String(h.gid))]);
  for (const [k, v] of [...(h.xattrs ?? [])].sort(([a], [b]) => (a < b ? -1 : 1))) pax.push([`SCHILY.xattr.${k}`, v]);
  const main = ustar(asciiName(h.name), FLAGS[h.type], h.size, h.mode, h.uid, h.gid, h.mtime, asciiName(linkname), h.devmajor ?? 0, h.devminor ?? 0);
  if (pax.length === 0) return main;
  const body = Buffer.concat(pax.map(([k, v]) => record(k, v)));
  const paxName = asciiName(`PaxHeaders.0/${h.name.split('/').filter(Boolean).pop() ?? 'root'}`);
  return Buffer.concat([ustar(paxName, 'x', body.length, 0o644, 0, 0, h.mtime, '', 0, 0), body, padding(body.length), main]);
}

/** The two zero blocks that end an archive. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

function fits(s: string): boolean {
  return Buffer.byteLength(s) <= 100 && /^[\x20-\x7e]*$/.test(s);
}

/** What goes in the 100-byte field when pax carries the real name. */
function asciiName(s: string): string {
  return fits(s) ? s : s.replace(/[^\x20-\x7e]/g, '_').slice(0, 100);
}

/** "<len> <key>=<value>\n" where len counts itself. */
function record(key: string, value: Buffer): Buffer {
  const rest = 1 + Buffer.byteLength(key) + 1 + value.length + 1;
  let len = rest + String(rest).length;
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} ${key}=`), value, Buffer.from('\n')]);
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function ustar(name: string, flag: string, size: number, mode: number, uid: number, gid: number, mtime: number, linkname: string, major: number, minor: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'latin1');
  h.write(octal(mode & 0o7777, 8), 100, 8, 'latin1');
  h.write(octal(Math.min(uid, MAX_OCTAL_8), 8), 108, 8, 'latin1');
  h.write(octal(Math.min(gid, MAX_OCTAL_8), 8), 116, 8, 'latin1');
  h.write(octal(Math.min(size, MAX_OCTAL_12), 12), 124, 12, 'latin1');
  h.write(octal(Math.max(0, Math.min(Math.floor(mtime), MAX_OCTAL_12)), 12), 136, 12, 'latin1');
  h.write('        ', 148, 8, 'latin1');
  h.write(flag, 156, 1, 'latin1');
  h.write(linkname, 157, 100, 'latin1');
  h.write('ustar\0' + '00', 257, 8, 'latin1');
  h.write(octal(major & MAX_OCTAL_8, 8), 329, 8, 'latin1');
  h.write(octal(minor & MAX_OCTAL_8, 8), 337, 8, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 8, 'latin1');
  return h;
}
