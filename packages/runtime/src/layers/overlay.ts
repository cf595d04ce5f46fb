import { readFileSync } from 'node:fs';
import { runSync } from './tools.js';

/** The kernel takes mount options as one page; lowerdirs beyond that need a different plan. */
const MAX_OPTIONS = 4095;

export interface OverlaySpec {
  /** Working directory of the mount; `lowers` are relative to it. */
  readonly cwd: string;
  /** Top-most first, as overlayfs wants them. */
  readonly lowers: readonly string[];
  readonly upper: string;
  readonly work: string;
  readonly target: string;
  readonly readOnly: boolean;
  readonly volatile: boolean;
}

/**
 * overlayfs's mount options for these directories (lowers top-most first), or undefined when
 * they cannot be given: a path with a character the option syntax reserves, or more than
 * the one page the kernel takes. index, redirect_dir and metacopy are off whatever the
 * kernel's defaults: the upper then holds only whole files, whiteouts and opaque
 * directories, which is what diffToLayer and LayerView read (as docker, which mounts with
 * index=off too, so that many overlays share lowers).
 */
export function overlayOptions(o: { readonly lowers: readonly string[]; readonly upper: string; readonly work: string; readonly readOnly: boolean; readonly volatile: boolean }): string | undefined {
  if ([o.upper, o.work, ...o.lowers].some((p) => /[,:\\\n]/.test(p))) return undefined;
  const options = `lowerdir=${o.lowers.join(':')},upperdir=${o.upper},workdir=${o.work},index=off,redirect_dir=off,metacopy=off${o.volatile ? ',volatile' : ''}${o.readOnly ? ',ro' : ''}`;
  return options.length > MAX_OPTIONS ? undefined : options;
}

/**
 * Mounts an overlay with mount(8). The lowerdirs are short relative links (l/<16 hex>)
 * resolved against `cwd` by the kernel, so ~200 layers fit the one-page option limit where
 * absolute cache paths would stop at ~90.
 */
export function mountOverlay(spec: OverlaySpec): void {
  for (const p of [spec.upper, spec.work, ...spec.lowers]) {
    if (/[,:\\\n]/.test(p)) throw new Error(`overlay path ${p.slice(0, 200)} contains a character mount options cannot carry`);
  }
  const options = overlayOptions(spec);
  if (options === undefined) throw new Error(`overlay of ${spec.lowers.length} layers: mount options exceed one page`);
  runSync('mount', ['-t', 'overlay', 'overlay', '-o', options, spec.target], spec.cwd);
}

export function unmount(target: string, lazy = false): void {
  if (lazy) {
    runSync('umount', ['-l', target]);
    return;
  }
  try {
    runSync('umount', [target]);
  } catch (err) {
    if (!isMountPoint(target)) return;
    // busy (a process still inside, or an open file): detach now, the kernel frees it later
    runSync('umount', ['-l', target]);
    if (isMountPoint(target)) throw err;
  }
}

/** Whether `path` (absolute, symlink-free) is a mount point in this mount namespace. */
export function isMountPoint(path: string): boolean {
  const wanted = path.replace(/\/+$/, '');
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const field = line.split(' ')[4];
    if (field !== undefined && unescape(field) === wanted) return true;
  }
  return false;
}

function unescape(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** overlayfs is registered with the kernel (it may still refuse, e.g. an upper on overlay). */
export function overlaySupported(): boolean {
  try {
    return /\toverlay$/m.test(readFileSync('/proc/filesystems', 'utf8'));
  } catch {
    return false;
  }
}
