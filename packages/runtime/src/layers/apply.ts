import { chmodSync, closeSync, constants, fchmodSync, fchownSync, futimesSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, openSync, readFileSync, rmSync, symlinkSync, write, writeSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { xattr } from './xattr.js';
import { InvalidTarError, UnsafeLayerError } from './errors.js';
import { cleanName, resolveDirIn } from './resolve.js';
import type { TarEntry, TarHeader } from '@berth/tar';
import { mknod } from './tools.js';
import { OPAQUE_XATTR } from './opaque.js';

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';
export { OPAQUE_XATTR };

const IS_ROOT = typeof process.getuid === 'function' && process.getuid() === 0;
/** This process's umask (from /proc: process.umask() without an argument is deprecated). */
const UMASK = Number.parseInt(/^Umask:\s*([0-7]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '777', 8);
const MAX_CACHED_DIRS = 65_536;
const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** File pieces at least this big are written off the event loop. */
const ASYNC_WRITE_BYTES = 128 * 1024;

/**
 * Applies tar members to one layer directory in overlay format, after containerd's
 * applyNaive: "<dir>/.wh.<name>" becomes a whiteout at <dir>/<name> (a char 0/0 node),
 * "<dir>/.wh..wh..opq" marks <dir> opaque (trusted.overlay.opaque=y; it may come before or
 * after the directory's other members, which stay visible: opaque hides only lower layers).
 *
 * Containment: names are cleaned below the root, parent directories are resolved with
 * symlinks scoped to the root, the last component is never followed (an existing entry is
 * removed first, unless a directory meets a directory), files are created O_EXCL|O_NOFOLLOW,
 * hard links must name a member already inside the root. Owners, modes (setuid included,
 * applied after chown, which clears them), xattrs (overlay's own excluded), device nodes and
 * times are kept; directory times are set last, after their contents.
 */
export class LayerApplier {
  private readonly dirCache = new Map<string, string>();
  private readonly dirTimes = new Map<string, { atime: number; mtime: number }>();
  private whiteout: string | undefined;
  private whiteouts = 0;
  private setgidDirs = false;
  private readonly opaqueDirs = new Set<string>();

  /** `root`: the layer tree; `scratch`: a directory on the same file system for the whiteout node. */
  constructor(
    private readonly root: string,
    private readonly scratch: string,
  ) {}

  async apply(entry: TarEntry): Promise<void> {
    const h = entry.header;
    const parts = cleanName(h.name);
    if (parts.length === 0) {
      if (h.type === 'dir') this.metadata(this.root, h, true);
      return;
    }
    const base = parts[parts.length - 1] as string;
    const dir = this.resolveDir(parts.slice(0, -1), h.name);
    if (base.startsWith(WHITEOUT_PREFIX)) {
      if (base === OPAQUE_MARKER) {
        xattr().setAttributeSync(dir, OPAQUE_XATTR, 'y');
        this.opaqueDirs.add(dir);
      } else if (!base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) this.whiteoutAt(dir, base.slice(WHITEOUT_PREFIX.length), h.name);
      return; // other .wh..wh.* names are aufs metadata
    }
    const path = join(dir, base);
    // create first, look at what is in the way only when something is (saves an lstat per member)
    switch (h.type) {
      case 'dir':
        this.replacing(path, () => mkdirSync(path, { mode: 0o700 }), true);
        this.metadata(path, h, true);
        return;
      case 'file':
        await this.writeFile(path, h, entry);
        return;
      case 'symlink':
        this.replacing(path, () => symlinkSync(h.linkname, path));
        this.metadata(path, h, false);
        return;
      case 'hardlink':
        this.hardlink(path, h);
        return;
      case 'char':
      case 'block':
      case 'fifo':
        if (!IS_ROOT && h.type !== 'fifo') throw new UnsafeLayerError(`${h.name}: device nodes need root`);
        this.remove(path);
        mknod(path, h.type === 'char' ? 'c' : h.type === 'block' ? 'b' : 'p', h.devmajor, h.devminor);
        this.metadata(path, h, false);
        return;
    }
  }

  /**
   * Runs `create`; when the name is taken, the existing entry is removed and `create` runs
   * again, except that an existing directory is kept for a directory member (`mergeDirs`).
   */
  private replacing<T>(path: string, create: () => T, mergeDirs = false): T | undefined {
    try {
      return create();
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    }
    if (mergeDirs && lstatSync(path).isDirectory()) return undefined;
    this.remove(path);
    return create();
  }

  /** Directory times, last: creating their contents changed them. */
  finish(): void {
    for (const [path, t] of [...this.dirTimes].reverse()) lutimesSync(path, t.atime, t.mtime);
    if (this.whiteout !== undefined) rmSync(this.whiteout, { force: true });
  }

  /**
   * The directories that are opaque once the layer is applied, as paths relative to the
   * root ('' for the root itself), each checked against its xattr (a later member may have
   * replaced a marked directory).
   */
  opaqueList(): string[] {
    const out: string[] = [];
    for (const dir of this.opaqueDirs) {
      let marked = false;
      try {
        marked = xattr().getAttributeSync(dir, OPAQUE_XATTR)?.toString('utf8') === 'y';
      } catch {
        // gone, or no directory any more
      }
      if (marked) out.push(relative(this.root, dir).split(sep).join('/'));
    }
    return out.sort();
  }

  private resolveDir(parts: string[], name: string): string {
    if (parts.length === 0) return this.root;
    const key = parts.join('/');
    let dir = this.dirCache.get(key);
    if (dir === undefined) {
      dir = resolveDirIn(this.root, parts, name);
      if (this.dirCache.size >= MAX_CACHED_DIRS) this.dirCache.clear(); // a cache, bounded
      this.dirCache.set(key, dir);
    }
    return dir;
  }

  /** Deletes an existing entry, and everything remembered about paths below it. */
  private remove(path: string): void {
    if (lstatSync(path, { throwIfNoEntry: false }) === undefined) return;
    rmSync(path, { recursive: true, force: true });
    this.dirCache.clear(); // a cached resolution may have passed through it
    const below = `${path}/`;
    for (const p of this.dirTimes.keys()) if (p === path || p.startsWith(below)) this.dirTimes.delete(p);
  }

  private whiteoutAt(dir: string, name: string, member: string): void {
    if (name === '' || name === '.' || name === '..') throw new UnsafeLayerError(`${member}: invalid whiteout`);
    const path = join(dir, name);
    this.remove(path);
    if (this.whiteout === undefined || this.whiteouts >= 60_000) {
      // a new node before ext4's 65000-link limit
      if (this.whiteout !== undefined) rmSync(this.whiteout, { force: true });
      this.whiteout = join(this.scratch, `whiteout-${this.whiteouts}`);
      mknod(this.whiteout, 'c', 0, 0);
      this.whiteouts = 0;
    }
    const template = this.whiteout;
    this.replacing(path, () => linkSync(template, path));
    this.whiteouts++;
  }

  private async writeFile(path: string, h: TarHeader, entry: TarEntry): Promise<void> {
    // the common file (0644/0755, root's) is right as created: no fchown, no fchmod
    const exact = (h.mode & 0o7000) === 0 && (h.mode & UMASK) === 0;
    const fd = this.replacing(path, () => openSync(path, CREATE_FLAGS, exact ? h.mode : 0o600)) as number;
    // big pieces are written on libuv's threads, one at a time, while the next is read and
    // hashed here (the event loop is what an unpack, and a pull feeding it, wait for);
    // small ones inline, where a thread hop would cost more than the copy. Positional
    // writes: pieces are slices nobody rewrites (see TarReader.readSome)
    let position = 0;
    let writing: Promise<void> | undefined;
    try {
      for await (const chunk of entry.body()) {
        if (chunk.length >= ASYNC_WRITE_BYTES) {
          await writing;
          writing = writeAt(fd, chunk, position);
        } else {
          writeAtSync(fd, chunk, position);
        }
        position += chunk.length;
      }
      await writing;
      writing = undefined;
      if (this.needsChown(h)) fchownSync(fd, h.uid, h.gid);
      if (!exact) fchmodSync(fd, h.mode);
      this.xattrs(path, h);
      futimesSync(fd, h.atime ?? h.mtime, h.mtime);
    } finally {
      await writing?.catch(() => undefined); // never close under a running write
      closeSync(fd);
    }
  }

  private hardlink(path: string, h: TarHeader): void {
    const parts = cleanName(h.linkname);
    if (parts.length === 0) throw new UnsafeLayerError(`${h.name}: hard link to the root`);
    const target = join(this.resolveDir(parts.slice(0, -1), h.linkname), parts[parts.length - 1] as string);
    const st = lstatSync(target, { throwIfNoEntry: false });
    if (st === undefined) throw new UnsafeLayerError(`${h.name}: hard link to ${h.linkname.slice(0, 200)}, which is not in the layer`);
    if (st.isDirectory()) throw new UnsafeLayerError(`${h.name}: hard link to a directory`);
    this.replacing(path, () => linkSync(target, path));
  }

  /** Owner, then mode (chown clears setuid), xattrs, times; never follows a symlink. */
  private metadata(path: string, h: TarHeader, isDir: boolean): void {
    if (this.needsChown(h)) lchownSync(path, h.uid, h.gid);
    if (h.type !== 'symlink') chmodSync(path, h.mode);
    if (isDir && (h.mode & 0o2000) !== 0) this.setgidDirs = true;
    this.xattrs(path, h);
    const atime = h.atime ?? h.mtime;
    if (isDir) this.dirTimes.set(path, { atime, mtime: h.mtime });
    else lutimesSync(path, atime, h.mtime);
  }

  /**
   * What root creates is root's, unless a setgid directory handed down its group: once
   * the layer has one, every member is chowned.
   */
  private needsChown(h: TarHeader): boolean {
    return IS_ROOT && (h.uid !== 0 || h.gid !== 0 || this.setgidDirs);
  }

  private xattrs(path: string, h: TarHeader): void {
    for (const [name, value] of h.xattrs) {
      if (name.startsWith('trusted.overlay.') || name.startsWith('user.overlay.')) continue; // only we mark whiteouts
      if (!IS_ROOT && !name.startsWith('user.')) continue;
      if (!/^(user|trusted|security)\.[^\0]{1,250}$/.test(name)) throw new InvalidTarError(`${h.name}: unsupported xattr ${name.slice(0, 100)}`);
      xattr().setAttributeSync(path, name, value);
    }
  }
}

/** pwrite(2) until the whole piece is at `position`, inline. */
function writeAtSync(fd: number, chunk: Buffer, position: number): void {
  let off = 0;
  while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off, position + off);
}

/** pwrite(2) until the whole piece is at `position`, on libuv's threads. */
async function writeAt(fd: number, chunk: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < chunk.length) {
    const from = off;
    off += await new Promise<number>((resolve, reject) => write(fd, chunk, from, chunk.length - from, position + from, (err, n) => (err !== null ? reject(err) : resolve(n))));
  }
}
