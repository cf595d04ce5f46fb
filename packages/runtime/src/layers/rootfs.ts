import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { copyLayers } from './copy.js';
import { isMountPoint, mountOverlay, overlayOptions, overlaySupported, unmount } from './overlay.js';
import type { LayerDirs, OverlayMount, Rootfs, RootfsKind, RootfsOptions, UnpackedLayer } from './types.js';
import { LayerPaths } from './paths.js';
import { LayerView } from './view.js';

export { overlaySupported };

/** What rootfs.json keeps, so a later process can mount the same rootfs again. */
interface RootfsRecord {
  readonly kind: RootfsKind;
  readonly cacheDir: string;
  /** Short lowerdir links relative to cacheDir, top-most first. */
  readonly lowers: readonly string[];
  readonly readOnly: boolean;
  readonly volatile?: boolean;
  /** diff_ids bottom to top. */
  readonly layers?: readonly string[];
  /** The OCI runtime mounts the overlay, inside the container (see RootfsOptions.inRuntime). */
  readonly inRuntime?: boolean;
}

/**
 * Beside the container directories: written once an overlay of cached layers with an
 * upper there has mounted, so later containers may leave the mount to the runtime.
 */
const OVERLAY_SEEN = '.overlay-mounts';

/**
 * Creates a container's rootfs in `containerDir` (layout in types.ts) and mounts it. With
 * mode 'auto', a failed overlay mount (no overlayfs, or the directory is itself on an
 * overlay) falls back to a copy of the layers.
 */
export async function createRootfs(layers: LayerDirs, containerDir: string, opts: RootfsOptions = {}): Promise<Rootfs> {
  const dir = resolve(containerDir);
  const mode = opts.mode ?? 'auto';
  // a layer that occurs again higher up redoes all it did lower down, so only its top-most
  // occurrence counts (and overlayfs refuses a lowerdir named twice)
  const stack = topMostOnly(layers.layers);
  mkdirSync(join(dir, 'rootfs'), { recursive: true, mode: 0o755 });
  // an image without layers: overlayfs needs a lowerdir, an empty one of the container's
  const lowers = stack.length > 0 ? stack.map((l) => l.link).reverse() : [emptyLower(dir)];
  if (mode !== 'copy') {
    const record: RootfsRecord = { kind: 'overlay', cacheDir: layers.cacheDir, lowers, readOnly: opts.readOnly === true, volatile: opts.volatile === true, layers: stack.map((l) => l.diffId) };
    mkdirSync(join(dir, 'upper'), { recursive: true, mode: 0o755 });
    mkdirSync(join(dir, 'work'), { recursive: true, mode: 0o700 });
    const seen = join(dirname(dir), OVERLAY_SEEN);
    if (opts.inRuntime === true && existsSync(seen)) {
      const inRuntime = new OverlayRootfs(dir, { ...record, inRuntime: true });
      if (inRuntime.specMount !== undefined) {
        writeRecord(dir, { ...record, inRuntime: true });
        return inRuntime;
      }
    }
    const rootfs = new OverlayRootfs(dir, record);
    try {
      await rootfs.mount();
      writeRecord(dir, record);
      if (opts.inRuntime === true && !existsSync(seen)) writeFileSync(seen, '');
      return rootfs;
    } catch (err) {
      rmSync(join(dir, 'upper'), { recursive: true, force: true });
      rmSync(join(dir, 'work'), { recursive: true, force: true });
      if (mode === 'overlay') throw err;
    }
  }
  copyLayers(
    stack.map((l) => l.dir),
    join(dir, 'rootfs'),
  );
  const record: RootfsRecord = { kind: 'copy', cacheDir: layers.cacheDir, lowers, readOnly: opts.readOnly === true, layers: stack.map((l) => l.diffId) };
  writeRecord(dir, record);
  return new CopyRootfs(dir, record);
}

/** The rootfs createRootfs made in `containerDir` (in this or an earlier process). */
export async function openRootfs(containerDir: string): Promise<Rootfs> {
  const dir = resolve(containerDir);
  const record = JSON.parse(readFileSync(join(dir, 'rootfs.json'), 'utf8')) as RootfsRecord;
  return record.kind === 'overlay' ? new OverlayRootfs(dir, record) : new CopyRootfs(dir, record);
}

function topMostOnly(layers: readonly UnpackedLayer[]): UnpackedLayer[] {
  const seen = new Set<string>();
  const out: UnpackedLayer[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i] as UnpackedLayer;
    if (seen.has(layer.diffId)) continue;
    seen.add(layer.diffId);
    out.unshift(layer);
  }
  return out;
}

function emptyLower(dir: string): string {
  const path = join(dir, 'empty');
  mkdirSync(path, { recursive: true, mode: 0o755 });
  return path;
}

function writeRecord(dir: string, record: RootfsRecord): void {
  const tmp = join(dir, `.rootfs.json.${process.pid}`);
  // durable, so a container can start again after a crash; but a volatile writable layer
  // (an --rm container's) is lost in a crash anyway, so its record need not be synced
  writeFileSync(tmp, JSON.stringify(record), { flush: record.volatile !== true });
  renameSync(tmp, join(dir, 'rootfs.json'));
}

class OverlayRootfs implements Rootfs {
  readonly kind = 'overlay';
  readonly path: string;
  readonly upperDir: string;
  readonly layers: readonly string[];
  readonly specMount: OverlayMount | undefined;

  constructor(
    private readonly dir: string,
    private readonly record: RootfsRecord,
  ) {
    this.path = join(dir, 'rootfs');
    this.upperDir = join(dir, 'upper');
    this.layers = record.layers ?? [];
    // absolute lowerdirs: the runtime mounts from a working directory of its own
    const options = record.inRuntime === true ? overlayOptions({ lowers: this.lowerDirs(), upper: this.upperDir, work: join(dir, 'work'), readOnly: false, volatile: record.volatile === true }) : undefined;
    this.specMount = options !== undefined ? { type: 'overlay', source: 'overlay', options: options.split(',') } : undefined;
  }

  private lowerDirs(): string[] {
    return this.record.lowers.map((l) => resolve(this.record.cacheDir, l));
  }

  async mount(): Promise<void> {
    if (this.record.inRuntime === true || isMountPoint(this.path)) return;
    // a volatile overlay that was not unmounted cleanly leaves this marker, and the kernel
    // refuses to mount until it is gone: such a writable layer is kept as it is
    if (this.record.volatile === true) rmSync(join(this.dir, 'work', 'work', 'incompat'), { recursive: true, force: true });
    mountOverlay({
      cwd: this.record.cacheDir,
      lowers: this.record.lowers,
      upper: this.upperDir,
      work: join(this.dir, 'work'),
      target: this.path,
      readOnly: this.record.readOnly,
      volatile: this.record.volatile === true,
    });
  }

  async release(): Promise<void> {
    if (this.record.inRuntime !== true && isMountPoint(this.path)) unmount(this.path);
  }

  async remove(): Promise<void> {
    if (this.record.inRuntime !== true && isMountPoint(this.path)) unmount(this.path, true);
    for (const name of ['rootfs', 'upper', 'work', 'empty', 'rootfs.json']) rmSync(join(this.dir, name), { recursive: true, force: true });
  }

  /** Over the cache entries' own fs/ directories (not the l/ links), so their opaque lists are found. */
  view(): LayerView {
    const layers = this.record.layers;
    const cache = new LayerPaths(dirname(this.record.cacheDir));
    const lowers = layers !== undefined && layers.length === this.record.lowers.length ? [...layers].reverse().map((d) => cache.fs(d)) : this.lowerDirs();
    return new LayerView([this.upperDir, ...lowers]);
  }
}

class CopyRootfs implements Rootfs {
  readonly kind = 'copy';
  readonly path: string;
  readonly upperDir = undefined;
  readonly layers: readonly string[];

  constructor(
    private readonly dir: string,
    record: RootfsRecord,
  ) {
    this.path = join(dir, 'rootfs');
    void record; // a copy needs no cached layer once made
    this.layers = [];
  }

  readonly specMount = undefined;

  view(): LayerView {
    return new LayerView([this.path]);
  }

  async mount(): Promise<void> {}

  async release(): Promise<void> {}

  async remove(): Promise<void> {
    for (const name of ['rootfs', 'rootfs.json']) rmSync(join(this.dir, name), { recursive: true, force: true });
  }
}
