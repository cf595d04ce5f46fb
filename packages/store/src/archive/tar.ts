import type { FileHandle } from 'node:fs/promises';

/**
 * The tar format as image archives use it (POSIX ustar, with pax extended headers for long
 * paths and sizes, and GNU long names when reading). Writing: headers only, the caller
 * streams each member's bytes and its padding. Reading: an index of the members of an
 * archive on disk (names, data offsets, sizes), so content is later streamed from the file
 * by offset and never held in memory.
 */

export const BLOCK = 512;

/** Largest pax or GNU long-name record we read: names, not content. */
const MAX_META_BYTES = 1024 * 1024;
/** Members we index in one archive (an image archive has a few per layer). */
const MAX_MEMBERS = 100_000;

export class TarFormatError extends Error {
  override readonly name = 'TarFormatError';
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

function checksum(block: Buffer): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum;
}

function ustarHeader(name: string, typeflag: string, size: number, mode: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name, 0, 100, 'utf8');
  h.write(octal(mode, 8), 100, 8, 'ascii');
  h.write(octal(0, 8), 108, 8, 'ascii');
  h.write(octal(0, 8), 116, 8, 'ascii');
  h.write(octal(size, 12), 124, 12, 'ascii');
  h.write(octal(mtime, 12), 136, 12, 'ascii');
  h.write(typeflag, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  h.write(octal(checksum(h), 7) + ' ', 148, 8, 'ascii');
  return h;
}

/** One pax record, "<len> key=value\n", where len counts the whole record. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/**
 * The header blocks of one member: a regular file ('0') or a directory ('5'). Names over
 * 100 bytes or sizes over 8 GiB get a pax header first. Contract: the caller then writes
 * exactly `size` bytes and `padding(size)`.
 */
export function memberHeader(name: string, kind: 'file' | 'dir', size: number, mode = kind === 'dir' ? 0o755 : 0o644, mtime = 0): Buffer {
  const typeflag = kind === 'dir' ? '5' : '0';
  const records: string[] = [];
  if (Buffer.byteLength(name) > 100) records.push(paxRecord('path', name));
  if (size > 0o77777777777) records.push(paxRecord('size', String(size)));
  const main = ustarHeader(Buffer.byteLength(name) > 100 ? name.slice(0, 99) : name, typeflag, size > 0o77777777777 ? 0 : size, mode, mtime);
  if (records.length === 0) return main;
  const pax = Buffer.from(records.join(''), 'utf8');
  return Buffer.concat([ustarHeader('PaxHeader', 'x', pax.length, 0o644, mtime), pax, padding(pax.length), main]);
}

export function padding(size: number): Buffer {
  const rest = size % BLOCK;
  return Buffer.alloc(rest === 0 ? 0 : BLOCK - rest);
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

export interface TarMember {
  /** Normalised path: no leading "./" or "/", no trailing "/". */
  readonly name: string;
  readonly type: 'file' | 'dir' | 'other';
  /** Where the member's data starts in the archive, and its length. */
  readonly offset: number;
  readonly size: number;
}

function field(block: Buffer, start: number, length: number): string {
  const raw = block.subarray(start, start + length);
  const nul = raw.indexOf(0);
  return raw.subarray(0, nul === -1 ? length : nul).toString('utf8');
}

function numeric(block: Buffer, start: number, length: number): number {
  const raw = block.subarray(start, start + length);
  if (((raw[0] ?? 0) & 0x80) !== 0) {
    // GNU base-256: big-endian, high bit of the first byte set
    let value = (raw[0] ?? 0) & 0x7f;
    for (let i = 1; i < raw.length; i++) value = value * 256 + (raw[i] ?? 0);
    if (!Number.isSafeInteger(value)) throw new TarFormatError('member size out of range');
    return value;
  }
  const text = raw.toString('ascii').replace(/[\0 ]+$/, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`bad numeric field "${text.slice(0, 20)}"`);
  return parseInt(text, 8);
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space === -1) break;
    const len = Number(data.subarray(pos, space).toString('ascii'));
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > data.length) throw new TarFormatError('bad pax record');
    const record = data.subarray(space + 1, pos + len - 1).toString('utf8');
    const eq = record.indexOf('=');
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    pos += len;
  }
  return out;
}

export function normaliseName(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}

function validHeader(block: Buffer): boolean {
  try {
    return numeric(block, 148, 8) === checksum(block);
  } catch {
    return false;
  }
}

/** Reads exactly `length` bytes at `position`, or throws: the archive ended early. */
async function readExactly(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new TarFormatError('archive is truncated');
    done += bytesRead;
  }
  return buf;
}

/** Indexes every member of the archive behind `fh` (`fileSize` bytes long). */
export async function indexTar(fh: FileHandle, fileSize: number): Promise<TarMember[]> {
  const members: TarMember[] = [];
  let pos = 0;
  let longName: string | undefined;
  let pax = new Map<string, string>();
  for (;;) {
    if (pos + BLOCK > fileSize) {
      if (pos === fileSize && members.length > 0) return members; // no end marker: accepted, as GNU tar does
      throw new TarFormatError('archive is truncated');
    }
    const block = await readExactly(fh, BLOCK, pos);
    if (block.every((b) => b === 0)) return members;
    if (!validHeader(block)) throw new TarFormatError(pos === 0 ? 'not a tar archive' : `bad tar header at offset ${pos}`);
    const typeflag = String.fromCharCode(block[156] ?? 0);
    let size = numeric(block, 124, 12);
    const dataStart = pos + BLOCK;
    if (typeflag === 'x' || typeflag === 'L' || typeflag === 'g') {
      if (size > MAX_META_BYTES) throw new TarFormatError(`extended header of ${size} bytes is too large`);
      const data = await readExactly(fh, size, dataStart);
      if (typeflag === 'x') pax = parsePax(data);
      if (typeflag === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
      pos = dataStart + size + padding(size).length;
      continue;
    }
    const prefix = field(block, 257, 6).startsWith('ustar') ? field(block, 345, 155) : '';
    const headerName = prefix !== '' ? `${prefix}/${field(block, 0, 100)}` : field(block, 0, 100);
    const name = normaliseName(pax.get('path') ?? longName ?? headerName);
    const paxSize = pax.get('size');
    if (paxSize !== undefined) {
      size = Number(paxSize);
      if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError('bad pax size');
    }
    const type = typeflag === '0' || typeflag === '\0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'dir' : 'other';
    // links and devices carry no data, whatever the size field says
    const dataSize = type === 'file' ? size : 0;
    if (dataStart + dataSize > fileSize) throw new TarFormatError(`member "${name.slice(0, 200)}" is truncated`);
    members.push({ name, type, offset: dataStart, size: dataSize });
    if (members.length > MAX_MEMBERS) throw new TarFormatError(`more than ${MAX_MEMBERS} members`);
    longName = undefined;
    pax = new Map();
    pos = dataStart + dataSize + padding(dataSize).length;
  }
}
