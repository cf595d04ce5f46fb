import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Express } from 'express';
import request from 'supertest';
import { SqliteMetadataStore } from '@berth/metadata';
import { FilesystemBlobStore } from '@berth/storage';
import { createApp, type RegistryApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config/index.js';
import { silentLogger } from '../src/logger.js';
import { Metrics } from '../src/metrics.js';

/** A registry app on fresh disk storage in a temp dir; `reopen` builds a new app on the same data. */
export interface Harness {
  readonly app: Express;
  readonly registry: RegistryApp;
  readonly dir: string;
  readonly blobs: FilesystemBlobStore;
  reopen(): Promise<Harness>;
  close(): Promise<void>;
}

export async function openHarness(env: Record<string, string> = {}, dir?: string): Promise<Harness> {
  const root = dir ?? (await mkdtemp(join(tmpdir(), 'berth-test-')));
  const config: Config = loadConfig({ env: { BERTH_DATA_DIR: root, BERTH_LOG_REQUESTS: 'false', ...env } });
  const blobs = await FilesystemBlobStore.open(join(root, 'blobs'));
  const metadata = new SqliteMetadataStore(join(root, 'metadata.db'));
  const registry = createApp({ config, blobs, metadata, logger: silentLogger, metrics: new Metrics({ processMetrics: false }) });
  let closed = false;
  const closeStores = async (): Promise<void> => {
    if (!closed) await metadata.close();
    closed = true;
  };
  return {
    app: registry.app,
    registry,
    dir: root,
    blobs,
    reopen: async () => {
      await closeStores();
      return openHarness(env, root);
    },
    close: async () => {
      await closeStores();
      if (dir === undefined) await rm(root, { recursive: true, force: true });
    },
  };
}

export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Pushes a blob monolithically (POST ?digest=) and returns its digest. */
export async function pushBlob(app: Express, name: string, data: Buffer | string): Promise<string> {
  const digest = sha256(data);
  await request(app)
    .post(`/v2/${name}/blobs/uploads/?digest=${digest}`)
    .set('Content-Type', 'application/octet-stream')
    .send(Buffer.from(data))
    .expect(201);
  return digest;
}

export interface PushedImage {
  readonly manifest: Buffer;
  readonly digest: string;
  readonly config: string;
  readonly layers: readonly string[];
}

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** Builds an OCI image manifest over blobs it pushes first; `extra` is merged into the JSON. */
export async function pushImage(app: Express, name: string, tag: string | undefined, extra: Record<string, unknown> = {}, layerTexts = ['layer one']): Promise<PushedImage> {
  const configBody = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
  const config = await pushBlob(app, name, configBody);
  const layers: string[] = [];
  for (const t of layerTexts) layers.push(await pushBlob(app, name, t));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: Buffer.byteLength(configBody) },
    layers: layerTexts.map((t, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layers[i], size: Buffer.byteLength(t) })),
    ...extra,
  }));
  const digest = sha256(manifest);
  await request(app)
    .put(`/v2/${name}/manifests/${tag ?? digest}`)
    .set('Content-Type', OCI_MANIFEST)
    .send(manifest.toString())
    .expect(201);
  return { manifest, digest, config, layers };
}

/** The OCI error code of a response body. */
export function errorCode(res: { body: unknown }): string | undefined {
  const body = res.body as { errors?: { code?: string }[] } | undefined;
  return body?.errors?.[0]?.code;
}
