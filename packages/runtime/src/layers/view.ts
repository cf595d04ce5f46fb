import { lstatSync, readFileSync, readlinkSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { OPAQUE_LIST, OPAQUE_XATTR } from './opaque.js';
import { xattr } from './xattr.js';

const MAX_LINKS = 40; // as the kernel's path walk

/**
 * Reads files of a root file system as overlayfs would show it, without mounting it: the
 * directories are overlay layers, top-most first (a writable upper, then the lowers; or one
 * directory, a mounted or copied root). An entry comes from the top-most layer that has it;
 * a whiteout (a 0/0 character device) hides it in every lower layer; a directory that is
 * opaque (trusted.overlay.opaque=y) or a non-directory hides the same path's lower
 * directories. Symbolic links are followed inside the root, as the container would: an
 * absolute target starts again at the root, and ".." stops there, so no path read here
 * leaves the layers. Whether a directory of a cached layer (an `fs/` with an opaque.json
 * beside it) is opaque is read from that list; other layers are asked through their xattrs.
 */
export class LayerView {
  /** Per layer directory: its opaque directories (relative paths), or null: ask the xattrs. */
  private readonly opaqueLists = new Map<string, ReadonlySet<string> | null>();

  constructor(private readonly layers: readonly string[]) {}

  /**
   * The file at `path` (a path inside the root), or undefined when it does not exist or is
   * not a regular file. Files over `maxBytes` are refused with `tooBig`'s error.
   */
  readFile(path: string, maxBytes: number, tooBig: () => Error): Buffer | undefined {
    const host = this.resolve(path);
    if (host === undefined) return undefined;
    const st = lstatSync(host);
    if (!st.isFile()) return undefined;
    if (st.size > maxBytes) throw tooBig();
    return readFileSync(host);
  }

  /** The host path of the entry `path` names (symlinks followed), or undefined when there is none. */
  resolve(path: string): string | undefined {
    let cur: string[] = [];
    let visible = [...this.layers];
    const queue = path.split('/');
    let links = 0;
    while (queue.length > 0) {
      const part = queue.shift() as string;
      if (part === '' || part === '.') continue;
      if (part === '..') {
        // the parent's layers are found again from the root (cheap: a few components)
        cur.pop();
        const parent = this.walkDirs(cur);
        if (parent === undefined) return undefined;
        visible = parent;
        continue;
      }
      const found = this.entry(visible, cur, part);
      if (found === undefined) return undefined;
      if (found.st.isSymbolicLink()) {
        if (++links > MAX_LINKS) return undefined;
        const target = readlinkSync(join(found.layer, ...cur, part));
        if (target.startsWith('/')) {
          cur = [];
          visible = [...this.layers];
        }
        queue.unshift(...target.split('/'));
        continue;
      }
      cur.push(part);
      if (found.st.isDirectory()) visible = this.dirLayers(visible, found.index, cur);
      else if (queue.some((p) => p !== '' && p !== '.')) return undefined; // a file is no directory
      else return join(found.layer, ...cur);
    }
    // the root itself, or a directory
    return visible[0] !== undefined ? join(visible[0], ...cur) : undefined;
  }

  /** The layers whose directory `parts` (symlink-free) make up the merged directory. */
  private walkDirs(parts: readonly string[]): string[] | undefined {
    let visible = [...this.layers];
    const cur: string[] = [];
    for (const part of parts) {
      const found = this.entry(visible, cur, part);
      if (found === undefined || !found.st.isDirectory()) return undefined;
      cur.push(part);
      visible = this.dirLayers(visible, found.index, cur);
    }
    return visible;
  }

  /** The top-most entry `name` in the directory `dir` of the visible layers; undefined when absent or whited out. */
  private entry(visible: readonly string[], dir: readonly string[], name: string): { layer: string; index: number; st: Stats } | undefined {
    for (let i = 0; i < visible.length; i++) {
      const layer = visible[i] as string;
      const st = lstatSync(join(layer, ...dir, name), { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isCharacterDevice() && st.rdev === 0) return undefined; // a whiteout
      return { layer, index: i, st };
    }
    return undefined;
  }

  /**
   * Below the top-most layer with directory `dir` (at `from`), the lower layers that still
   * add to it: up to the first that is opaque there, or whose `dir` is not a directory.
   */
  private dirLayers(visible: readonly string[], from: number, dir: readonly string[]): string[] {
    const out: string[] = [];
    for (let i = from; i < visible.length; i++) {
      const layer = visible[i] as string;
      const st = lstatSync(join(layer, ...dir), { throwIfNoEntry: false });
      if (st === undefined) continue; // this layer has nothing there: look lower
      if (!st.isDirectory()) break; // a file or a whiteout hides the directories below
      out.push(layer);
      if (i < visible.length - 1 && this.opaque(layer, dir)) break;
    }
    return out;
  }

  private opaque(layer: string, dir: readonly string[]): boolean {
    const list = this.opaqueList(layer);
    if (list !== null) return list.has(dir.join('/'));
    try {
      return xattr().getAttributeSync(join(layer, ...dir), OPAQUE_XATTR)?.toString('utf8') === 'y';
    } catch {
      return false; // no xattrs here (the copying fallback has none to read)
    }
  }

  private opaqueList(layer: string): ReadonlySet<string> | null {
    let list = this.opaqueLists.get(layer);
    if (list === undefined) {
      list = null;
      if (basename(layer) === 'fs') {
        try {
          const parsed = JSON.parse(readFileSync(join(dirname(layer), OPAQUE_LIST), 'utf8')) as unknown;
          if (Array.isArray(parsed) && parsed.every((p): p is string => typeof p === 'string')) list = new Set(parsed);
        } catch {
          // none (an entry from before the list existed): the xattrs answer
        }
      }
      this.opaqueLists.set(layer, list);
    }
    return list;
  }
}
