import { lstatSync, mkdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UnsafeLayerError } from './errors.js';

const MAX_LINKS = 40; // as the kernel's path walk

/**
 * A tar member name as components below the root: absolute names and ".." are clamped at
 * the root (as containerd's filepath.Clean("/"+name)), so "../../etc/passwd" and
 * "/etc/passwd" both name <root>/etc/passwd.
 */
export function cleanName(name: string): string[] {
  const out: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/**
 * Resolves a directory path inside `root` as if `root` were "/": symlinks are followed, but
 * absolute targets restart at the root and ".." stops there, so the result is always below
 * root. Missing directories are created (0755). A component that exists and is not a
 * directory (or a symlink to one) is refused. Only our own unpacker writes below root while
 * this runs, so there is no race with the lstat.
 */
export function resolveDirIn(root: string, parts: readonly string[], what: string): string {
  let real: string[] = [];
  const queue = [...parts];
  let links = 0;
  while (queue.length > 0) {
    const p = queue.shift() as string;
    if (p === '' || p === '.') continue;
    if (p === '..') {
      real.pop();
      continue;
    }
    const abs = join(root, ...real, p);
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st === undefined) {
      mkdirSync(abs, { mode: 0o755 });
      real.push(p);
    } else if (st.isDirectory()) {
      real.push(p);
    } else if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) throw new UnsafeLayerError(`${what}: too many levels of symbolic links`);
      const target = readlinkSync(abs);
      if (target.startsWith('/')) real = [];
      queue.unshift(...target.split('/'));
    } else {
      throw new UnsafeLayerError(`${what}: ${[...real, p].join('/')} is not a directory`);
    }
  }
  return join(root, ...real);
}
