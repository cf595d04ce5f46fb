import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, renameSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { requireTools, which } from './exec.js';
import { tarStream, type TarEntry } from './tar.js';

export const MT = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

/** Every manifest media type, for Accept headers. */
export const ACCEPT_MANIFESTS = [MT.ociManifest, MT.ociIndex, MT.dockerManifest, MT.dockerList].join(', ');

export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly variant?: string;
}

export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly platform?: Platform;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface BuiltImage {
  readonly manifest: Descriptor;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly diffIds: readonly string[];
  readonly platform: Platform;
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Counts and hashes what flows through. */
class HashTap extends Transform {
  private readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}

/** An OCI image layout directory (oci-layout, index.json, blobs/sha256/...) that we write ourselves. */
export class OciLayout {
  private readonly refs: Descriptor[] = [];

  constructor(readonly dir: string) {
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    this.writeIndexJson();
  }

  blobPath(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  }

  writeBlob(data: Buffer | string, mediaType: string): Descriptor {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    const digest = sha256(buf);
    writeFileSync(this.blobPath(digest), buf);
    return { mediaType, digest, size: buf.length };
  }

  writeJson(value: unknown, mediaType: string): Descriptor {
    return this.writeBlob(JSON.stringify(value), mediaType);
  }

  /** Streams a gzip tar layer of the entries into the layout. */
  async writeLayer(entries: readonly TarEntry[]): Promise<{ desc: Descriptor; diffId: string }> {
    const tmp = join(this.dir, `.layer-${randomBytes(6).toString('hex')}`);
    const plain = new HashTap();
    const compressed = new HashTap();
    await pipeline(Readable.from(tarStream(entries)), plain, createGzip({ level: 6 }), compressed, createWriteStream(tmp));
    const digest = compressed.digest();
    renameSync(tmp, this.blobPath(digest));
    return { desc: { mediaType: MT.ociLayerGzip, digest, size: compressed.size }, diffId: plain.digest() };
  }

  /** Writes config and manifest for the given layers (each a list of tar entries). */
  async writeImage(platform: Platform, layers: readonly (readonly TarEntry[])[], label: string): Promise<BuiltImage> {
    const written = [];
    for (const entries of layers) written.push(await this.writeLayer(entries));
    const config = this.writeJson(
      {
        created: '2024-01-01T00:00:00Z',
        architecture: platform.architecture,
        os: platform.os,
        ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
        config: {
          Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
          Cmd: ['/bin/sh'],
          Labels: { 'org.berth.test': label },
        },
        rootfs: { type: 'layers', diff_ids: written.map((l) => l.diffId) },
        history: written.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'berth interop test' })),
      },
      MT.ociConfig,
    );
    const manifest = this.writeJson(
      { schemaVersion: 2, mediaType: MT.ociManifest, config, layers: written.map((l) => l.desc) },
      MT.ociManifest,
    );
    return {
      manifest: { ...manifest, platform },
      config,
      layers: written.map((l) => l.desc),
      diffIds: written.map((l) => l.diffId),
      platform,
    };
  }

  writeIndex(manifests: readonly Descriptor[]): Descriptor {
    return this.writeJson({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }, MT.ociIndex);
  }

  /** Names desc `ref` in index.json, so `oci:<dir>:<ref>` resolves to it. */
  tag(ref: string, desc: Descriptor): void {
    this.refs.push({
      mediaType: desc.mediaType,
      digest: desc.digest,
      size: desc.size,
      annotations: { 'org.opencontainers.image.ref.name': ref },
    });
    this.writeIndexJson();
  }

  private writeIndexJson(): void {
    writeFileSync(join(this.dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: this.refs }));
  }
}

/** A layer with Debian's static busybox as /bin/busybox and a few applet symlinks. */
export function busyboxLayer(): TarEntry[] {
  requireTools('busybox');
  const busybox = which('busybox') as string;
  const head = readFileSync(busybox).subarray(0, 4);
  if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) throw new Error(`${busybox} is not an ELF binary`);
  return [
    { type: 'dir', name: 'bin' },
    { type: 'file', name: 'bin/busybox', mode: 0o755, path: busybox },
    ...['sh', 'ls', 'cat', 'echo', 'true'].map((a): TarEntry => ({ type: 'symlink', name: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\n') },
    { type: 'dir', name: 'tmp', mode: 0o1777 },
  ];
}

/** A small layer whose content (/etc/berth-test) makes an image distinct. */
export function markerLayer(marker: string): TarEntry[] {
  return [
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/berth-test', data: Buffer.from(`${marker}\n`) },
  ];
}

/** A layer holding one file of `size` random bytes (incompressible, so the blob is ~size). */
export function randomLayer(size: number, name = 'random.bin'): TarEntry[] {
  return [{ type: 'file', name, randomSize: size }];
}

export const AMD64: Platform = { architecture: 'amd64', os: 'linux' };
export const ARM64: Platform = { architecture: 'arm64', os: 'linux', variant: 'v8' };

export interface TestImageOptions {
  /** Written into /etc/berth-test and the config label; distinct markers give distinct images. */
  readonly marker: string;
  readonly platform?: Platform;
  /** Adds a third layer of random bytes of this size. */
  readonly randomLayerSize?: number;
}

/** Layout dir with one single-platform busybox image named `tag`; returns `oci:<dir>:<tag>` and the image. */
export async function buildTestImage(
  dir: string,
  tag: string,
  options: TestImageOptions,
): Promise<{ ref: string; image: BuiltImage; layout: OciLayout }> {
  const layout = openLayout(dir);
  const layers: TarEntry[][] = [busyboxLayer(), markerLayer(options.marker)];
  if (options.randomLayerSize !== undefined) layers.push(randomLayer(options.randomLayerSize));
  const image = await layout.writeImage(options.platform ?? AMD64, layers, options.marker);
  layout.tag(tag, image.manifest);
  return { ref: `oci:${dir}:${tag}`, image, layout };
}

/** Layout dir with an OCI index named `tag` over one image per platform (same busybox, distinct marker layer). */
export async function buildMultiArchImage(
  dir: string,
  tag: string,
  marker: string,
  platforms: readonly Platform[] = [AMD64, ARM64],
): Promise<{ ref: string; index: Descriptor; images: BuiltImage[]; layout: OciLayout }> {
  const layout = openLayout(dir);
  const images: BuiltImage[] = [];
  for (const p of platforms) {
    const name = `${p.os}/${p.architecture}${p.variant !== undefined ? `/${p.variant}` : ''}`;
    images.push(await layout.writeImage(p, [busyboxLayer(), markerLayer(`${marker} ${name}`)], `${marker} ${name}`));
  }
  const index = layout.writeIndex(images.map((i) => i.manifest));
  layout.tag(tag, index);
  return { ref: `oci:${dir}:${tag}`, index, images, layout };
}

const layouts = new Map<string, OciLayout>();

/** The layout this process writes in dir (created on first use), so several images can share it. */
export function openLayout(dir: string): OciLayout {
  let layout = layouts.get(dir);
  if (layout === undefined) {
    layout = new OciLayout(dir);
    layouts.set(dir, layout);
  }
  return layout;
}
