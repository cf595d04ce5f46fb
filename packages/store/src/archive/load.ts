import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { digestOf, isIndexMediaType, MediaType, parseDescriptor, parseManifest, parseReference, type Descriptor, type ImageReference } from '@berth/oci';
import type { NameRow } from '../database.js';
import type { LocalStore } from '../store.js';
import { layoutBlobPath } from './save.js';
import { indexTar, type TarMember } from './tar.js';

/** Manifests, indexes and configs we read into memory are bounded like a registry's. */
const MAX_JSON_BYTES = 8 * 1024 * 1024;

export class ArchiveError extends Error {
  override readonly name = 'ArchiveError';
}

export interface LoadedImage {
  readonly digest: string;
  readonly configDigest: string;
  readonly names: readonly ImageReference[];
}

export interface LoadOptions {
  /** Picks the manifest to load from an index (e.g. the host's platform); undefined: none fits. */
  readonly choose: (index: Buffer) => Descriptor | undefined;
}

interface Candidate {
  readonly manifest: { readonly digest: string; readonly mediaType: string; readonly bytes: Buffer };
  /** Each blob the manifest needs, and where its bytes are in the archive. */
  readonly blobs: readonly { readonly digest: string; readonly size: number; readonly member: TarMember }[];
  readonly configDigest: string;
  readonly names: ImageReference[];
}

/**
 * Loads every image of an archive into the store: an OCI image layout tar (what
 * `berth save`, `skopeo copy oci-archive:` and `docker save` of Docker 25+ write) or the
 * classic `docker save` tar (manifest.json + config + uncompressed layer tars). Each blob
 * is streamed from the archive into the store's ingest and verified against its digest
 * before it is committed; a bad archive loads nothing of the image it breaks.
 */
export async function loadImages(store: LocalStore, path: string, options: LoadOptions): Promise<LoadedImage[]> {
  const fh = await open(path, 'r');
  let members: TarMember[];
  try {
    members = await indexTar(fh, (await fh.stat()).size);
  } finally {
    await fh.close();
  }
  const files = new Map(members.filter((m) => m.type === 'file').map((m) => [m.name, m]));
  const archive = new Archive(path, files);
  const candidates = files.has('index.json') ? await archive.ociImages(options) : files.has('manifest.json') ? await archive.dockerImages() : undefined;
  if (candidates === undefined) throw new ArchiveError('not an image archive: it has neither index.json nor manifest.json');
  const loaded: LoadedImage[] = [];
  for (const c of candidates) {
    await ingest(store, path, c);
    loaded.push({ digest: c.manifest.digest, configDigest: c.configDigest, names: c.names });
  }
  return loaded;
}

async function ingest(store: LocalStore, path: string, c: Candidate): Promise<void> {
  const session = store.session();
  try {
    await session.present([c.manifest.digest, ...c.blobs.map((b) => b.digest)]);
    for (const blob of c.blobs) {
      const writer = await session.writer(blob.digest, blob.size);
      if (writer === undefined) continue;
      try {
        if (writer.offset > 0) await writer.reset();
        await writer.append(memberStream(path, blob.member));
        await writer.commit();
      } catch (err) {
        await writer.discard().catch(() => undefined);
        throw err;
      }
    }
    await session.putBytes(c.manifest.digest, c.manifest.bytes);
    const blobs = [c.manifest.digest, ...new Set(c.blobs.map((b) => b.digest))];
    const size = c.blobs.reduce((n, b) => n + b.size, 0);
    const names: NameRow[] = c.names.map((r) => ({ repository: `${r.registry}/${r.repository}`, tag: r.tag ?? 'latest', imageDigest: c.manifest.digest, indexDigest: undefined }));
    session.record({ digest: c.manifest.digest, mediaType: c.manifest.mediaType, configDigest: c.configDigest, size, blobs }, names);
  } catch (err) {
    session.abort();
    throw err;
  }
}

/** A member's bytes, streamed from the archive file. */
function memberStream(path: string, member: TarMember): Readable {
  if (member.size === 0) return Readable.from([]);
  return createReadStream(path, { start: member.offset, end: member.offset + member.size - 1, highWaterMark: 1024 * 1024 });
}

/** The members of one archive on disk, read by name. */
class Archive {
  constructor(
    private readonly path: string,
    private readonly files: ReadonlyMap<string, TarMember>,
  ) {}

  member(name: string, what: string): TarMember {
    const m = this.files.get(name.replace(/^(\.\/|\/)+/, ''));
    if (m === undefined) throw new ArchiveError(`archive lacks ${what} (${name.slice(0, 200)})`);
    return m;
  }

  async read(member: TarMember, what: string): Promise<Buffer> {
    if (member.size > MAX_JSON_BYTES) throw new ArchiveError(`${what} is larger than ${MAX_JSON_BYTES} bytes`);
    const chunks: Buffer[] = [];
    for await (const chunk of memberStream(this.path, member) as AsyncIterable<Buffer>) chunks.push(chunk);
    return Buffer.concat(chunks);
  }

  async json(member: TarMember, what: string): Promise<unknown> {
    try {
      return JSON.parse((await this.read(member, what)).toString('utf8')) as unknown;
    } catch (err) {
      if (err instanceof ArchiveError) throw err;
      throw new ArchiveError(`${what} is not valid JSON`);
    }
  }

  /** A blob of the OCI layout, read and checked against its descriptor. */
  async blob(desc: Descriptor, what: string): Promise<Buffer> {
    const bytes = await this.read(this.member(layoutBlobPath(desc.digest), what), what);
    const actual = digestOf(bytes, desc.digest.startsWith('sha512:') ? 'sha512' : 'sha256');
    if (actual !== desc.digest || bytes.length !== desc.size) throw new ArchiveError(`${what} ${desc.digest}: content does not match its descriptor; refused`);
    return bytes;
  }

  async ociImages(options: LoadOptions): Promise<Candidate[]> {
    const index = await this.json(this.member('index.json', 'index.json'), 'index.json');
    const entries = typeof index === 'object' && index !== null ? (index as Record<string, unknown>)['manifests'] : undefined;
    if (!Array.isArray(entries)) throw new ArchiveError('index.json has no manifests list');
    const byDigest = new Map<string, Candidate>();
    for (const [i, raw] of entries.entries()) {
      const desc = checked(() => parseDescriptor(raw, `index.json manifests[${i}]`));
      let top = desc;
      let bytes = await this.blob(desc, 'manifest');
      if (isIndexMediaType(desc.mediaType)) {
        const chosen = options.choose(bytes);
        if (chosen === undefined) throw new ArchiveError(`index ${desc.digest} has no manifest for this platform`);
        top = chosen;
        bytes = await this.blob(chosen, 'manifest');
      }
      const parsed = checked(() => parseManifest(bytes, top.mediaType));
      if (parsed.isIndex || parsed.config === undefined) throw new ArchiveError(`manifest ${top.digest} is not an image manifest`);
      const names = namesOf(desc.annotations);
      const known = byDigest.get(top.digest);
      if (known !== undefined) {
        known.names.push(...names);
        continue;
      }
      const blobs = [parsed.config, ...parsed.layers].map((d) => ({ digest: d.digest, size: d.size, member: this.member(layoutBlobPath(d.digest), `blob ${d.digest}`) }));
      for (const b of blobs) if (b.member.size !== b.size) throw new ArchiveError(`blob ${b.digest}: ${b.member.size} bytes in the archive, ${b.size} in the manifest; refused`);
      byDigest.set(top.digest, { manifest: { digest: top.digest, mediaType: parsed.mediaType, bytes }, blobs, configDigest: parsed.config.digest, names });
    }
    return [...byDigest.values()];
  }

  async dockerImages(): Promise<Candidate[]> {
    const list = await this.json(this.member('manifest.json', 'manifest.json'), 'manifest.json');
    if (!Array.isArray(list)) throw new ArchiveError('manifest.json is not a list');
    const out: Candidate[] = [];
    for (const [i, raw] of list.entries()) {
      const entry = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
      const configPath = entry['Config'];
      const layerPaths = entry['Layers'];
      const repoTags = entry['RepoTags'] ?? [];
      if (typeof configPath !== 'string' || !Array.isArray(layerPaths) || !layerPaths.every((p) => typeof p === 'string') || !Array.isArray(repoTags)) {
        throw new ArchiveError(`manifest.json entry ${i} needs Config, Layers and RepoTags`);
      }
      const configMember = this.member(configPath, 'the image config');
      const config = await this.read(configMember, 'the image config');
      const configDigest = digestOf(config);
      const diffIds = diffIdsOf(config);
      if (diffIds.length !== layerPaths.length) throw new ArchiveError(`image config lists ${diffIds.length} layers, manifest.json ${layerPaths.length}`);
      const layers: { desc: Descriptor; member: TarMember }[] = [];
      for (const [j, p] of (layerPaths).entries()) {
        const member = this.member(p, `layer ${j}`);
        layers.push({ desc: await this.describeLayer(member, diffIds[j] ?? ''), member });
      }
      const manifest = {
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        config: { mediaType: MediaType.ociConfig, digest: configDigest, size: config.length },
        layers: layers.map((l) => l.desc),
      };
      const bytes = Buffer.from(JSON.stringify(manifest));
      const names = (repoTags as unknown[]).map((t) => (typeof t === 'string' ? checked(() => parseReference(t)) : undefined)).filter((r) => r !== undefined);
      out.push({
        manifest: { digest: digestOf(bytes), mediaType: MediaType.ociManifest, bytes },
        blobs: [{ digest: configDigest, size: config.length, member: configMember }, ...layers.map((l) => ({ digest: l.desc.digest, size: l.desc.size, member: l.member }))],
        configDigest,
        names,
      });
    }
    return out;
  }

  /**
   * A layer of a docker save tar: uncompressed, its digest is its diff_id (checked when it
   * is stored); gzip-compressed, its digest is computed and the diff_id checked now.
   */
  private async describeLayer(member: TarMember, diffId: string): Promise<Descriptor> {
    const head = await this.headOf(member);
    if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
      return { mediaType: MediaType.ociLayerZstd, digest: await this.hashOf(member, false, ''), size: member.size };
    }
    if (head[0] !== 0x1f || head[1] !== 0x8b) return { mediaType: MediaType.ociLayerTar, digest: diffId, size: member.size };
    return { mediaType: MediaType.ociLayerGzip, digest: await this.hashOf(member, true, diffId), size: member.size };
  }

  private async headOf(member: TarMember): Promise<Buffer> {
    const fh = await open(this.path, 'r');
    try {
      const buf = Buffer.alloc(4);
      await fh.read(buf, 0, Math.min(4, member.size), member.offset);
      return buf;
    } finally {
      await fh.close();
    }
  }

  /** sha256 of the member, and for gzip the uncompressed sha256 checked against diffId. */
  private async hashOf(member: TarMember, gzip: boolean, diffId: string): Promise<string> {
    const outer = process.getBuiltinModule('node:crypto').createHash('sha256');
    const inner = process.getBuiltinModule('node:crypto').createHash('sha256');
    const source = memberStream(this.path, member);
    source.on('data', (chunk: Buffer) => outer.update(chunk));
    const sink = new Writable({ write: (chunk: Buffer, _e, cb) => (inner.update(chunk), cb()) });
    await (gzip ? pipeline(source, process.getBuiltinModule('node:zlib').createGunzip(), sink) : pipeline(source, sink));
    if (gzip && `sha256:${inner.digest('hex')}` !== diffId) throw new ArchiveError(`layer ${member.name.slice(0, 200)} does not match its diff_id ${diffId}; refused`);
    return `sha256:${outer.digest('hex')}`;
  }
}

function diffIdsOf(config: Buffer): string[] {
  let json: unknown;
  try {
    json = JSON.parse(config.toString('utf8'));
  } catch {
    throw new ArchiveError('the image config is not valid JSON');
  }
  const rootfs = typeof json === 'object' && json !== null ? (json as Record<string, unknown>)['rootfs'] : undefined;
  const ids = typeof rootfs === 'object' && rootfs !== null ? (rootfs as Record<string, unknown>)['diff_ids'] : undefined;
  if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string' && /^sha256:[a-f0-9]{64}$/.test(d))) throw new ArchiveError('the image config has no valid rootfs.diff_ids');
  return ids as string[];
}

/** The names an OCI layout entry carries: containerd's full name, or a full ref.name. */
function namesOf(annotations: Readonly<Record<string, string>> | undefined): ImageReference[] {
  const full = annotations?.['io.containerd.image.name'];
  if (full !== undefined) return [checked(() => parseReference(full))];
  const refName = annotations?.['org.opencontainers.image.ref.name'];
  if (refName !== undefined && refName.includes('/')) return [checked(() => parseReference(refName))];
  return [];
}

function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ArchiveError(err instanceof Error ? err.message : String(err));
  }
}
