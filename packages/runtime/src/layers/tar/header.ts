import { InvalidTarError } from '../errors.js';

/**
 * The fields of one tar header block (POSIX ustar, with the GNU base-256 number extension;
 * pax and GNU long-name records are merged in by the reader). Offsets per POSIX.1-2001 ustar:
 * name 0/100, mode 100/8, uid 108/8, gid 116/8, size 124/12, mtime 136/12, chksum 148/8,
 * typeflag 156, linkname 157/100, magic 257/6, version 263/2, uname 265/32, gname 297/32,
 * devmajor 329/8, devminor 337/8, prefix 345/155 (ustar only; GNU keeps times there).
 */
export interface RawHeader {
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly typeflag: string;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
}

export const BLOCK = 512;

export function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses one 512-byte header block; the checksum must match (unsigned or signed sum). */
export function parseHeader(block: Buffer): RawHeader {
  const stored = parseNumber(block, 148, 8, 'chksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] as number);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  if (stored !== unsigned && stored !== signed) throw new InvalidTarError('tar header checksum mismatch (not a tar stream, or corrupt)');
  const magic = block.toString('latin1', 257, 263);
  let name = cString(block, 0, 100);
  if (magic === 'ustar\0') {
    const prefix = cString(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  const typeflag = block[156] === 0 ? '0' : String.fromCharCode(block[156] as number);
  return {
    name,
    mode: parseNumber(block, 100, 8, 'mode'),
    uid: parseNumber(block, 108, 8, 'uid'),
    gid: parseNumber(block, 116, 8, 'gid'),
    size: parseNumber(block, 124, 12, 'size'),
    mtime: parseNumber(block, 136, 12, 'mtime'),
    typeflag,
    linkname: cString(block, 157, 100),
    devmajor: parseNumber(block, 329, 8, 'devmajor'),
    devminor: parseNumber(block, 337, 8, 'devminor'),
  };
}

function cString(block: Buffer, offset: number, length: number): string {
  let end = offset;
  while (end < offset + length && block[end] !== 0) end++;
  return block.toString('utf8', offset, end);
}

/** Octal (NUL/space padded), or GNU base-256 when the high bit of the first byte is set. */
export function parseNumber(block: Buffer, offset: number, length: number, field: string): number {
  const first = block[offset] as number;
  if ((first & 0x80) !== 0) {
    if (first === 0xff) throw new InvalidTarError(`negative ${field} in tar header`);
    let value = first & 0x7f;
    for (let i = 1; i < length; i++) {
      value = value * 256 + (block[offset + i] as number);
      if (value > Number.MAX_SAFE_INTEGER) throw new InvalidTarError(`${field} in tar header too large`);
    }
    return value;
  }
  let value = 0;
  let i = offset;
  const end = offset + length;
  while (i < end && (block[i] === 0x20 || block[i] === 0)) i++;
  let digits = 0;
  for (; i < end; i++) {
    const c = block[i] as number;
    if (c === 0x20 || c === 0) break;
    if (c < 0x30 || c > 0x37) throw new InvalidTarError(`invalid ${field} in tar header`);
    value = value * 8 + (c - 0x30);
    digits++;
  }
  for (; i < end; i++) {
    const c = block[i] as number;
    if (c !== 0x20 && c !== 0) throw new InvalidTarError(`invalid ${field} in tar header`);
  }
  return digits === 0 ? 0 : value;
}

/** Parses pax extended header records: "<len> <key>=<value>\n", each exactly len bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding after the last record
    const space = data.indexOf(0x20, pos);
    if (space < 0 || space - pos > 12) throw new InvalidTarError('invalid pax record length');
    const len = Number(data.toString('latin1', pos, space));
    if (!Number.isInteger(len) || len <= space - pos + 1 || pos + len > data.length || data[pos + len - 1] !== 0x0a) {
      throw new InvalidTarError('invalid pax record');
    }
    const record = data.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq <= 0) throw new InvalidTarError('invalid pax record (no key)');
    out.set(record.toString('utf8', 0, eq), record.subarray(eq + 1));
    pos += len;
  }
  return out;
}
