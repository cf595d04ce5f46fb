import type { LayerView } from './view.js';

/** The unpacked layers of one image, as an overlay mount and the copying fallback need them. */
export interface LayerDirs {
  /** `<BERTH_ROOT>/layers`: short lowerdir links are relative to it. */
  readonly cacheDir: string;
  /** Bottom (the base layer) to top. */
  readonly layers: readonly UnpackedLayer[];
}

export interface UnpackedLayer {
  readonly diffId: string;
  /** The layer's tree in overlay format (a lowerdir). */
  readonly dir: string;
  /** `l/<16 hex>`, relative to cacheDir, a symlink to `dir`. */
  readonly link: string;
}

export type UnpackEvent =
  | { readonly type: 'cached'; readonly diffId: string }
  | { readonly type: 'unpacked'; readonly diffId: string; readonly bytes: number; readonly ms: number };

export interface EnsureLayersOptions {
  readonly signal?: AbortSignal;
  readonly onEvent?: (e: UnpackEvent) => void;
}

export type RootfsKind = 'overlay' | 'copy';

export interface RootfsOptions {
  /** Mounts the overlay read-only (the writable layer is still created, for commit). */
  readonly readOnly?: boolean;
  /**
   * Overlay's `volatile`: no sync of the writable layer, ever (for `--rm` containers, whose
   * writes nobody keeps). After a crash its contents may be incomplete.
   */
  readonly volatile?: boolean;
  /** 'auto' (default) mounts an overlay and copies when overlayfs is unavailable. */
  readonly mode?: 'auto' | RootfsKind;
  /**
   * Leave the overlay to the OCI runtime: Rootfs.specMount is then a mount of "/" for the
   * container's config.json, made inside the container's mount namespace, so nothing is
   * mounted on the host and nothing is left mounted when the container ends. Taken only once
   * an overlay has mounted on the host beside this container directory (the first
   * container proves overlayfs works there), and only while the lowerdirs, as absolute
   * paths, fit one page of mount options; otherwise the overlay is mounted on the host.
   */
  readonly inRuntime?: boolean;
}

/** An OCI runtime-spec mount (without its destination, which is "/") of the container's overlay. */
export interface OverlayMount {
  readonly type: 'overlay';
  readonly source: 'overlay';
  readonly options: readonly string[];
}

/**
 * A container's root file system under its container directory:
 *
 *   <containerDir>/rootfs/        what the container sees (the overlay mount point, or the copy)
 *   <containerDir>/upper/         its writable layer (overlay only); diffToLayer reads it
 *   <containerDir>/work/          overlay's work directory
 *   <containerDir>/empty/         the lowerdir of an image without layers
 *   <containerDir>/rootfs.json    how to mount it again: kind, lower links, readOnly
 *
 * The image's cached layers are never written: all changes land in upper/ (or in the copy).
 */
export interface Rootfs {
  readonly kind: RootfsKind;
  /** diff_ids of the layers it is made of, bottom to top (what pruneLayers must keep). */
  readonly layers: readonly string[];
  readonly path: string;
  /** The writable layer, undefined for a copy (there, commit has no diff to take). */
  readonly upperDir: string | undefined;
  /** The mount the runtime must make at "/" (RootfsOptions.inRuntime); undefined when `path` is the root as it is. */
  readonly specMount: OverlayMount | undefined;
  /** Its files as the container sees them, read from the layers (mounted or not). */
  view(): LayerView;
  /** Mounts again (after a reboot or a release); a no-op when mounted or for a copy. */
  mount(): Promise<void>;
  /** Unmounts; a no-op when not mounted or for a copy. The files stay. */
  release(): Promise<void>;
  /** Unmounts (lazily: what is deleted needs no sync) and deletes rootfs/, upper/ and work/. */
  remove(): Promise<void>;
}

/** A layer blob written by diffToLayer, ready to be added to the store. */
export interface LayerBlob {
  readonly mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip';
  /** sha256 of the gzip bytes (the blob digest). */
  readonly digest: string;
  /** sha256 of the uncompressed tar (for the config's rootfs.diff_ids). */
  readonly diffId: string;
  /** Bytes of the gzip file. */
  readonly size: number;
}
