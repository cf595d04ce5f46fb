import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { copyLayers } from './copy.js';
import { isMountPoint, mountOverlay, overlaySupported, unmount } from './overlay.js';
import type { LayerDirs, Rootfs, RootfsKind, RootfsOptions } from './types.js';

export { overlaySupported };

/** What rootfs.json keeps, so a later process can mount the same rootfs again. */
interface RootfsRecord {
  readonly kind: RootfsKind;
  readonly cacheDir: string;
  /** Short lowerdir links relative to cacheDir, top-most first. */
  readonly lowers: readonly string[];
  readonly readOnly: boolean;
}

/**
 * Creates a container's rootfs in `containerDir` (layout in types.ts) and mounts it. With
 * mode 'auto', a failed overlay mount (no overlayfs, or the directory is itself on an
 * overlay) falls back to a copy of the layers.
 */
export async function createRootfs(layers: LayerDirs, containerDir: string, opts: RootfsOptions = {}): Promise<Rootfs> {
  const dir = resolve(containerDir);
  const mode = opts.mode ?? 'auto';
  const lowers = layers.layers.map((l) => l.link).reverse();
  mkdirSync(join(dir, 'rootfs'), { recursive: true, mode: 0o755 });
  if (mode !== 'copy') {
    const record: RootfsRecord = { kind: 'overlay', cacheDir: layers.cacheDir, lowers, readOnly: opts.readOnly === true };
    mkdirSync(join(dir, 'upper'), { recursive: true, mode: 0o755 });
    mkdirSync(join(dir, 'work'), { recursive: true, mode: 0o700 });
    const rootfs = new OverlayRootfs(dir, record);
    try {
      await rootfs.mount();
      writeRecord(dir, record);
      return rootfs;
    } catch (err) {
      rmSync(join(dir, 'upper'), { recursive: true, force: true });
      rmSync(join(dir, 'work'), { recursive: true, force: true });
      if (mode === 'overlay') throw err;
    }
  }
  copyLayers(
    layers.layers.map((l) => l.dir),
    join(dir, 'rootfs'),
  );
  const record: RootfsRecord = { kind: 'copy', cacheDir: layers.cacheDir, lowers, readOnly: opts.readOnly === true };
  writeRecord(dir, record);
  return new CopyRootfs(dir);
}

/** The rootfs createRootfs made in `containerDir` (in this or an earlier process). */
export async function openRootfs(containerDir: string): Promise<Rootfs> {
  const dir = resolve(containerDir);
  const record = JSON.parse(readFileSync(join(dir, 'rootfs.json'), 'utf8')) as RootfsRecord;
  return record.kind === 'overlay' ? new OverlayRootfs(dir, record) : new CopyRootfs(dir);
}

function writeRecord(dir: string, record: RootfsRecord): void {
  const tmp = join(dir, `.rootfs.json.${process.pid}`);
  writeFileSync(tmp, JSON.stringify(record), { flush: true });
  renameSync(tmp, join(dir, 'rootfs.json'));
}

class OverlayRootfs implements Rootfs {
  readonly kind = 'overlay';
  readonly path: string;
  readonly upperDir: string;

  constructor(
    private readonly dir: string,
    private readonly record: RootfsRecord,
  ) {
    this.path = join(dir, 'rootfs');
    this.upperDir = join(dir, 'upper');
  }

  async mount(): Promise<void> {
    if (isMountPoint(this.path)) return;
    mountOverlay({
      cwd: this.record.cacheDir,
      lowers: this.record.lowers,
      upper: this.upperDir,
      work: join(this.dir, 'work'),
      target: this.path,
      readOnly: this.record.readOnly,
    });
  }

  async release(): Promise<void> {
    if (isMountPoint(this.path)) unmount(this.path);
  }

  async remove(): Promise<void> {
    await this.release();
    for (const name of ['rootfs', 'upper', 'work', 'rootfs.json']) rmSync(join(this.dir, name), { recursive: true, force: true });
  }
}

class CopyRootfs implements Rootfs {
  readonly kind = 'copy';
  readonly path: string;
  readonly upperDir = undefined;

  constructor(private readonly dir: string) {
    this.path = join(dir, 'rootfs');
  }

  async mount(): Promise<void> {}

  async release(): Promise<void> {}

  async remove(): Promise<void> {
    for (const name of ['rootfs', 'rootfs.json']) rmSync(join(this.dir, name), { recursive: true, force: true });
  }
}
