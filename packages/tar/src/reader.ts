import { InvalidTarError } from './errors.js';
import { BLOCK, isZeroBlock, parseHeader, parsePax, type RawHeader } from './header.js';

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One archive member with its pax and GNU long-name records applied. */
export interface TarHeader {
  readonly name: string;
  readonly type: EntryType;
  /** Permission bits including setuid, setgid and sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  /** Seconds since the epoch, fractional when a pax mtime says so. */
  readonly mtime: number;
  readonly atime: number | undefined;
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** From pax SCHILY.xattr.<name> records. */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

export interface TarEntry {
  readonly header: TarHeader;
  /** The member's bytes in order; consume before asking for the next entry (or it is skipped). */
  body(): AsyncGenerator<Buffer>;
}

/** Bounds on what an archive controls. */
export const MAX_SPECIAL = 1024 * 1024; // a pax or GNU long-name record's body
export const MAX_PATH = 4096;

const TYPES: Readonly<Record<string, EntryType>> = {
  '0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere we care about
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

/**
 * A streaming tar reader over chunks of the uncompressed archive (ustar, pax, GNU long
 * names). Every byte of the source is hashed (sha256) in order, including whatever follows
 * the end-of-archive blocks, so `digest()` after iteration is the layer's diff_id.
 * Never holds more than one chunk plus one special record in memory.
 */
export class TarReader {
  private readonly hash = process.getBuiltinModule('node:crypto').createHash('sha256');
  private readonly it: AsyncIterator<Buffer>;
  private chunk: Buffer = Buffer.alloc(0);
  private pos = 0;
  private ended = false;
  private total = 0;
  private pending = 0; // unread body + padding bytes of the current entry

  constructor(source: AsyncIterable<Buffer>) {
    this.it = source[Symbol.asyncIterator]();
  }

  /** sha256 of every byte read; call after the entries are exhausted. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }

  /** Uncompressed bytes read. */
  get bytes(): number {
    return this.total;
  }

  async *entries(): AsyncGenerator<TarEntry> {
    let longName: string | undefined;
    let longLink: string | undefined;
    let pax: Map<string, Buffer> | undefined;
    for (;;) {
      await this.skip(this.pending);
      this.pending = 0;
      const block = await this.readExact(BLOCK, true);
      if (block === undefined) break; // EOF at a header boundary: the diff_id check decides
      if (isZeroBlock(block)) break;
      const raw = parseHeader(block);
      const padded = roundUp(raw.size);
      if (raw.typeflag === 'x' || raw.typeflag === 'g' || raw.typeflag === 'L' || raw.typeflag === 'K') {
        if (raw.size > MAX_SPECIAL) throw new InvalidTarError(`tar ${raw.typeflag} record of ${raw.size} bytes exceeds ${MAX_SPECIAL}`);
        const data = (await this.readExact(padded, false)) as Buffer;
        const body = data.subarray(0, raw.size);
        if (raw.typeflag === 'x') pax = new Map([...(pax ?? []), ...parsePax(body)]);
        else if (raw.typeflag === 'g') parsePax(body); // validated; global defaults are not applied (as Go's archive/tar)
        else if (raw.typeflag === 'L') longName = cString(body);
        else longLink = cString(body);
        continue;
      }
      const header = merge(raw, longName, longLink, pax);
      longName = longLink = pax = undefined;
      const size = header.type === 'file' ? header.size : 0;
      // bodies of non-files (hardlinks may carry one in old archives) are skipped
      this.pending = roundUp(header.size);
      let consumed = false;
      yield {
        header,
        body: () => {
          if (consumed) throw new Error('tar entry body read twice');
          consumed = true;
          return this.body(size);
        },
      };
    }
    // drain: the diff_id covers the whole stream
    while (await this.fill()) this.pos = this.chunk.length;
  }

  private async *body(size: number): AsyncGenerator<Buffer> {
    let left = size;
    while (left > 0) {
      const piece = await this.readSome(left);
      left -= piece.length;
      this.pending -= piece.length;
      yield piece;
    }
  }

  /** Ensures unread bytes are buffered; false at the end of the source. */
  private async fill(): Promise<boolean> {
    while (this.pos >= this.chunk.length) {
      if (this.ended) return false;
      const next = await this.it.next();
      if (next.done === true) {
        this.ended = true;
        return false;
      }
      const chunk = next.value;
      this.hash.update(chunk);
      this.total += chunk.length;
      this.chunk = chunk;
      this.pos = 0;
    }
    return true;
  }

  /** Up to `max` bytes (at least one); a slice of the source chunk, not a copy. */
  private async readSome(max: number): Promise<Buffer> {
    if (!(await this.fill())) throw new InvalidTarError('tar archive truncated');
    const n = Math.min(max, this.chunk.length - this.pos);
    const out = this.chunk.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** Exactly n bytes; undefined at a clean end of the source when `eofOk`. */
  private async readExact(n: number, eofOk: boolean): Promise<Buffer | undefined> {
    if (!(await this.fill())) {
      if (eofOk) return undefined;
      throw new InvalidTarError('tar archive truncated');
    }
    if (this.chunk.length - this.pos >= n) {
      const out = this.chunk.subarray(this.pos, this.pos + n);
      this.pos += n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let have = 0;
    while (have < n) {
      const piece = await this.readSome(n - have);
      piece.copy(out, have);
      have += piece.length;
    }
    return out;
  }

  private async skip(n: number): Promise<void> {
    let left = n;
    while (left > 0) left -= (await this.readSome(left)).length;
  }
}

function roundUp(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

function cString(data: Buffer): string {
  const nul = data.indexOf(0);
  return data.toString('utf8', 0, nul < 0 ? data.length : nul);
}

function paxNumber(pax: Map<string, Buffer> | undefined, key: string, integer: boolean): number | undefined {
  const v = pax?.get(key);
  if (v === undefined) return undefined;
  const text = v.toString('latin1');
  if (!(integer ? /^\d{1,16}$/ : /^-?\d{1,16}(\.\d{1,9})?$/).test(text)) throw new InvalidTarError(`invalid pax ${key} "${text.slice(0, 40)}"`);
  const n = Number(text);
  if (!Number.isSafeInteger(Math.trunc(n))) throw new InvalidTarError(`pax ${key} out of range`);
  return n;
}

function merge(raw: RawHeader, longName: string | undefined, longLink: string | undefined, pax: Map<string, Buffer> | undefined): TarHeader {
  const type = TYPES[raw.typeflag];
  if (type === undefined) {
    const what = raw.typeflag === 'S' ? 'GNU sparse file' : `type "${raw.typeflag}"`;
    throw new InvalidTarError(`unsupported tar entry ${what} (${raw.name.slice(0, 200)})`);
  }
  for (const key of pax?.keys() ?? []) {
    if (key.startsWith('GNU.sparse.')) throw new InvalidTarError(`unsupported tar entry: pax sparse file (${raw.name.slice(0, 200)})`);
  }
  const name = pax?.get('path')?.toString('utf8') ?? longName ?? raw.name;
  const linkname = pax?.get('linkpath')?.toString('utf8') ?? longLink ?? raw.linkname;
  if (Buffer.byteLength(name) > MAX_PATH || Buffer.byteLength(linkname) > MAX_PATH) throw new InvalidTarError('tar entry name longer than 4096 bytes');
  if (name === '' || name.includes('\0') || linkname.includes('\0')) throw new InvalidTarError('tar entry with an empty or NUL-containing name');
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax ?? []) if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
  return {
    name,
    type: type === 'file' && name.endsWith('/') ? 'dir' : type, // old tars mark directories by a trailing slash
    mode: raw.mode & 0o7777,
    uid: paxNumber(pax, 'uid', true) ?? raw.uid,
    gid: paxNumber(pax, 'gid', true) ?? raw.gid,
    size: paxNumber(pax, 'size', true) ?? raw.size,
    mtime: paxNumber(pax, 'mtime', false) ?? raw.mtime,
    atime: paxNumber(pax, 'atime', false),
    linkname,
    devmajor: raw.devmajor,
    devminor: raw.devminor,
    xattrs,
  };
}
