import type { FileHandle } from 'node:fs/promises';
import { BLOCK, END_OF_ARCHIVE, headerBlocks, InvalidTarError, isZeroBlock, padding, parseHeader, parsePax, type RawHeader } from '@berth/tar';

/**
 * Image archives (save/load) on top of @berth/tar's header codec. Writing: headers only,
 * the caller streams each member's bytes and its padding. Reading: an index of the members
 * of an archive on disk (names, data offsets, sizes), read by seeking from header to
 * header, so content is later streamed from the file by offset and never held in memory.
 */

/** Largest pax or GNU long-name record we read: names, not content. */
const MAX_META_BYTES = 1024 * 1024;
/** Members we index in one archive (an image archive has a few per layer). */
const MAX_MEMBERS = 100_000;

/**
 * The header blocks of one member, a regular file or a directory, owned by root, mtime 0
 * (so archives are reproducible). Contract: the caller then writes exactly `size` bytes
 * and `padding(size)`.
 */
export function memberHeader(name: string, kind: 'file' | 'dir', size: number): Buffer {
  return headerBlocks({ name, type: kind, mode: kind === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, size, mtime: 0 });
}

export { END_OF_ARCHIVE, padding };

export interface TarMember {
  /** Normalised path: no leading "./" or "/", no trailing "/". */
  readonly name: string;
  readonly type: 'file' | 'dir' | 'other';
  /** Where the member's data starts in the archive, and its length. */
  readonly offset: number;
  readonly size: number;
}

export function normaliseName(name: string): string {
  return name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');
}


/** Reads exactly `length` bytes at `position`, or throws: the archive ended early. */
async function readExactly(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new InvalidTarError('archive is truncated');
    done += bytesRead;
  }
  return buf;
}

/** Indexes every member of the archive behind `fh` (`fileSize` bytes long). */
export async function indexTar(fh: FileHandle, fileSize: number): Promise<TarMember[]> {
  const members: TarMember[] = [];
  let pos = 0;
  let longName: string | undefined;
  let pax = new Map<string, Buffer>();
  for (;;) {
    if (pos + BLOCK > fileSize) {
      if (pos === fileSize && members.length > 0) return members; // no end marker: accepted, as GNU tar does
      throw new InvalidTarError('archive is truncated');
    }
    const block = await readExactly(fh, BLOCK, pos);
    if (isZeroBlock(block)) return members;
    let raw: RawHeader;
    try {
      raw = parseHeader(block);
    } catch (err) {
      if (pos === 0 && err instanceof InvalidTarError) throw new InvalidTarError('not a tar archive');
      throw err;
    }
    const dataStart = pos + BLOCK;
    if (raw.typeflag === 'x' || raw.typeflag === 'L' || raw.typeflag === 'g') {
      if (raw.size > MAX_META_BYTES) throw new InvalidTarError(`extended header of ${raw.size} bytes is too large`);
      const data = await readExactly(fh, raw.size, dataStart);
      if (raw.typeflag === 'x') pax = parsePax(data);
      if (raw.typeflag === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
      pos = dataStart + raw.size + padding(raw.size).length;
      continue;
    }
    const name = normaliseName(pax.get('path')?.toString('utf8') ?? longName ?? raw.name);
    let size = raw.size;
    const paxSize = pax.get('size')?.toString('ascii');
    if (paxSize !== undefined) {
      size = Number(paxSize);
      if (!Number.isSafeInteger(size) || size < 0) throw new InvalidTarError('bad pax size');
    }
    const type = raw.typeflag === '0' || raw.typeflag === '7' ? 'file' : raw.typeflag === '5' ? 'dir' : 'other';
    // links and devices carry no data, whatever the size field says
    const dataSize = type === 'file' ? size : 0;
    if (dataStart + dataSize > fileSize) throw new InvalidTarError(`member "${name.slice(0, 200)}" is truncated`);
    members.push({ name, type, offset: dataStart, size: dataSize });
    if (members.length > MAX_MEMBERS) throw new InvalidTarError(`more than ${MAX_MEMBERS} members`);
    longName = undefined;
    pax = new Map();
    pos = dataStart + dataSize + padding(dataSize).length;
  }
}
