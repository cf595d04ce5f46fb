/**
 * `berth commit`: the container's writable layer (overlay upper/) becomes one new gzip
 * layer on top of its image's layers; config (the container's Cmd, Env, ... and one more
 * diff_id and history entry) and manifest are written to the store and named. The layer
 * is streamed to a file while hashed, then ingested like a pulled blob (size and digest
 * checked again). A running container is paused while its changes are read.
 */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { digestOf, parseReference } from '@berth/oci';
import type { LocalStore } from '@berth/store';
import type { Containers } from '@berth/runtime/containers';
import { repositoryKey } from './local.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
const DOCKER_LAYER = 'application/vnd.docker.image.rootfs.diff.tar.gzip';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

interface ImageConfigJson {
  created?: string;
  author?: string;
  config?: Record<string, unknown>;
  rootfs?: { type: string; diff_ids: string[] };
  history?: Record<string, unknown>[];
  [k: string]: unknown;
}

/** One `-c` instruction applied to the new image's config. */
function applyChange(config: Record<string, unknown>, change: string): void {
  const m = /^\s*(\w+)\s+(.*)$/s.exec(change);
  if (m === null) throw new Error(`invalid --change "${change.slice(0, 80)}"`);
  const op = (m[1] ?? '').toUpperCase();
  const arg = (m[2] ?? '').trim();
  const list = (): string[] => {
    if (arg.startsWith('[')) {
      const v = JSON.parse(arg) as unknown;
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new Error(`invalid --change "${change.slice(0, 80)}": a JSON array of strings`);
      return v;
    }
    return ['/bin/sh', '-c', arg];
  };
  switch (op) {
    case 'CMD':
      config['Cmd'] = list();
      break;
    case 'ENTRYPOINT':
      config['Entrypoint'] = list();
      break;
    case 'WORKDIR':
      config['WorkingDir'] = arg;
      break;
    case 'USER':
      config['User'] = arg;
      break;
    case 'ENV': {
      const [k, ...rest] = arg.includes('=') ? arg.split('=') : arg.split(/\s+/);
      const entry = `${k ?? ''}=${rest.join(arg.includes('=') ? '=' : ' ')}`;
      const env = ((config['Env'] as string[] | undefined) ?? []).filter((e) => !e.startsWith(`${k ?? ''}=`));
      config['Env'] = [...env, entry];
      break;
    }
    case 'EXPOSE':
      config['ExposedPorts'] = { ...((config['ExposedPorts']) ?? {}), ...Object.fromEntries(arg.split(/\s+/).map((p) => [p.includes('/') ? p : `${p}/tcp`, {}])) };
      break;
    case 'LABEL': {
      const eq = arg.indexOf('=');
      if (eq <= 0) throw new Error(`invalid --change "${change.slice(0, 80)}": LABEL key=value`);
      config['Labels'] = { ...((config['Labels']) ?? {}), [arg.slice(0, eq)]: arg.slice(eq + 1).replace(/^"(.*)"$/, '$1') };
      break;
    }
    default:
      throw new Error(`unsupported --change instruction ${op.slice(0, 20)}: use CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE or LABEL`);
  }
}

/** Commits the container; resolves with the new image id (its config digest). */
export async function commit(c: Containers, store: LocalStore, ref: string, name: string | undefined, o: { message?: string; author?: string; change?: string[] }): Promise<string> {
  const target = name !== undefined ? parseReference(name) : undefined;
  if (target?.digest !== undefined) throw new Error(`cannot commit to a digest: ${name ?? ''}`);
  const rec = await c.find(ref);
  const { openRootfs, diffToLayer } = await import('@berth/runtime/containers');
  const rootfs = await openRootfs(c.paths.bundle(rec.id));
  if (rootfs.upperDir === undefined) throw new Error(`container ${rec.name} has a copied root file system (no overlayfs here): it cannot be committed`);
  const baseManifest = JSON.parse((await store.readBlob(rec.config.imageDigest)).toString('utf8')) as { mediaType?: string; config: Descriptor; layers: Descriptor[] };
  const base = JSON.parse((await store.readBlob(rec.config.imageId)).toString('utf8')) as ImageConfigJson;
  const docker = baseManifest.mediaType === DOCKER_MANIFEST;

  const tmp = join(store.paths.ingest, `commit-${randomUUID()}.tar.gz`);
  const rt = c.runtime(rec.config.runtime);
  const paused = rec.status === 'running' && (await rt.call(['pause', rec.id]).then(() => true, () => false));
  let layer;
  try {
    layer = await diffToLayer(rootfs.upperDir, tmp);
  } finally {
    if (paused) await rt.call(['resume', rec.id]).catch(() => undefined);
  }
  const session = store.session();
  try {
    const ingest = await session.writer(layer.digest, layer.size);
    if (ingest !== undefined) {
      await ingest.append(createReadStream(tmp));
      await ingest.commit();
    }
    const cfg: Record<string, unknown> = { ...(base.config ?? {}) };
    cfg['Env'] = rec.config.env.filter((e) => !e.startsWith('HOSTNAME='));
    cfg['Cmd'] = [...rec.config.cmd];
    cfg['Entrypoint'] = rec.config.entrypoint.length > 0 ? [...rec.config.entrypoint] : null;
    cfg['WorkingDir'] = rec.config.workdir === '/' ? '' : rec.config.workdir;
    cfg['User'] = rec.config.user;
    for (const ch of o.change ?? []) applyChange(cfg, ch);
    const created = new Date().toISOString();
    const config: ImageConfigJson = {
      ...base,
      created,
      ...(o.author !== undefined ? { author: o.author } : {}),
      config: cfg,
      rootfs: { type: 'layers', diff_ids: [...(base.rootfs?.diff_ids ?? []), layer.diffId] },
      history: [...(base.history ?? []), { created, created_by: `berth commit ${rec.name}`, ...(o.message !== undefined ? { comment: o.message } : {}), ...(o.author !== undefined ? { author: o.author } : {}) }],
    };
    const configBytes = Buffer.from(JSON.stringify(config));
    const configDesc: Descriptor = { mediaType: docker ? DOCKER_CONFIG : OCI_CONFIG, digest: digestOf(configBytes), size: configBytes.length };
    const layerDesc: Descriptor = { mediaType: docker ? DOCKER_LAYER : layer.mediaType, digest: layer.digest, size: layer.size };
    const manifest = { schemaVersion: 2, mediaType: docker ? DOCKER_MANIFEST : OCI_MANIFEST, config: configDesc, layers: [...baseManifest.layers, layerDesc] };
    const manifestBytes = Buffer.from(JSON.stringify(manifest));
    const manifestDigest = digestOf(manifestBytes);
    await session.putBytes(configDesc.digest, configBytes);
    await session.putBytes(manifestDigest, manifestBytes);
    const layers = manifest.layers;
    session.record(
      {
        digest: manifestDigest,
        mediaType: manifest.mediaType,
        configDigest: configDesc.digest,
        size: configDesc.size + layers.reduce((n, l) => n + l.size, 0),
        blobs: [manifestDigest, configDesc.digest, ...layers.map((l) => l.digest)],
      },
      target !== undefined ? [{ repository: repositoryKey(target), tag: target.tag ?? 'latest', imageDigest: manifestDigest, indexDigest: undefined }] : [],
    );
    return configDesc.digest;
  } catch (err) {
    session.abort();
    throw err;
  } finally {
    await rm(tmp, { force: true });
  }
}
