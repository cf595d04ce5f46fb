import { chmodSync, constants, copyFileSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { xattr } from './xattr.js';
import { OPAQUE_XATTR } from './apply.js';
import { mknod } from './tools.js';

/**
 * The fallback where overlayfs cannot be mounted: applies the cached layers bottom to top
 * into `dst` as overlayfs would merge them. A whiteout deletes what lower layers put at its
 * name; an opaque directory empties what lower layers put in it; anything else replaces
 * the lower entry (directories merge). Owners, modes, xattrs, times and hard links (within a
 * layer) are kept; files are reflinked where the file system can.
 */
export function copyLayers(layerDirs: readonly string[], dst: string): void {
  for (const src of layerDirs) {
    const links = new Map<string, string>();
    const rootStat = lstatSync(src);
    mergeDir(src, dst, links);
    copyMetadata(src, dst, rootStat);
  }
}

function mergeDir(src: string, dst: string, links: Map<string, string>): void {
  for (const name of readdirSync(src)) {
    const s = join(src, name);
    const d = join(dst, name);
    const st = lstatSync(s);
    if (st.isCharacterDevice() && st.rdev === 0) {
      rmSync(d, { recursive: true, force: true });
      continue;
    }
    const existing = lstatSync(d, { throwIfNoEntry: false });
    if (st.isDirectory()) {
      if (existing !== undefined && existing.isDirectory() && isOpaque(s)) {
        rmSync(d, { recursive: true, force: true });
        mkdirSync(d, { mode: 0o700 });
      } else if (existing === undefined || !existing.isDirectory()) {
        if (existing !== undefined) rmSync(d, { recursive: true, force: true });
        mkdirSync(d, { mode: 0o700 });
      }
      mergeDir(s, d, links);
      copyMetadata(s, d, st);
      continue;
    }
    if (existing !== undefined) rmSync(d, { recursive: true, force: true });
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? links.get(key) : undefined;
    if (first !== undefined) {
      linkSync(first, d);
      continue;
    }
    if (st.isFile()) copyFileSync(s, d, constants.COPYFILE_FICLONE);
    else if (st.isSymbolicLink()) symlinkSync(readlinkSync(s), d);
    else if (st.isCharacterDevice() || st.isBlockDevice()) mknod(d, st.isCharacterDevice() ? 'c' : 'b', major(st.rdev), minor(st.rdev));
    else if (st.isFIFO()) mknod(d, 'p');
    else continue; // sockets are not layer content
    if (st.nlink > 1) links.set(key, d);
    copyMetadata(s, d, st);
  }
}

function copyMetadata(s: string, d: string, st: Stats): void {
  lchownSync(d, st.uid, st.gid);
  if (!st.isSymbolicLink()) chmodSync(d, st.mode & 0o7777);
  for (const name of xattr().listAttributesSync(s)) {
    if (name.startsWith('trusted.overlay.')) continue;
    const value = xattr().getAttributeSync(s, name);
    if (value !== null) xattr().setAttributeSync(d, name, value);
  }
  lutimesSync(d, st.atime, st.mtime);
}

function isOpaque(dir: string): boolean {
  return xattr().getAttributeSync(dir, OPAQUE_XATTR)?.toString() === 'y';
}

/** glibc's encoding of dev_t. */
export function major(dev: number): number {
  return ((dev >>> 8) & 0xfff) | (Math.floor(dev / 2 ** 32) & 0xfffff000);
}

export function minor(dev: number): number {
  return (dev & 0xff) | ((dev >>> 12) & 0xfff00);
}
