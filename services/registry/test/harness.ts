import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import type { Express } from 'express';
import request from 'supertest';
import { SqliteMetadataStore } from '@berth/metadata';
import type { BlobStore } from '@berth/storage';
import { startS3Server, type TestS3Server } from '@berth/storage/test-s3-server';
import { createApp, type RegistryApp } from '../src/app.js';
import { loadConfig, type Config } from '../src/config/index.js';
import { createLogger, silentLogger } from '../src/logger.js';
import { Metrics } from '../src/metrics.js';
import { openBlobStore } from '../src/storage.js';

/**
 * The blob driver every registry suite runs on: BERTH_TEST_STORAGE=s3 runs them on the
 * S3 driver against a real S3-compatible server (s3rver on 127.0.0.1, one per test
 * process); the test runner runs the registry suites once per driver.
 */
export const TEST_DRIVER: 'filesystem' | 's3' = process.env['BERTH_TEST_STORAGE'] === 's3' ? 's3' : 'filesystem';

let s3: Promise<TestS3Server> | undefined;
// Registered at load, so on the root test: the server outlives every suite of the file.
after(async () => (await s3)?.close());

/** The shared S3 server of this test process (started on first use, closed at the end). */
export function testS3Server(): Promise<TestS3Server> {
  s3 ??= startS3Server();
  return s3;
}

/** BERTH_STORAGE_* variables that point a registry at the shared S3 server, under its own prefix. */
export async function s3Env(prefix = randomUUID()): Promise<Record<string, string>> {
  const server = await testS3Server();
  return {
    BERTH_STORAGE_DRIVER: 's3',
    BERTH_STORAGE_BUCKET: server.bucket,
    BERTH_STORAGE_REGION: server.region,
    BERTH_STORAGE_ENDPOINT: server.endpoint,
    BERTH_STORAGE_PATHSTYLE: 'true',
    BERTH_STORAGE_ACCESSKEY: server.accessKeyId,
    BERTH_STORAGE_SECRETKEY: server.secretAccessKey,
    BERTH_STORAGE_ROOTPREFIX: prefix,
    BERTH_STORAGE_PARTSIZE: '5MiB',
    BERTH_STORAGE_TIMEOUT: '5s',
    BERTH_STORAGE_RETRIES: '2',
    // Blob GETs stream through the registry (not the default 307 to S3): the suites check
    // the bytes, ranges and errors the registry itself serves. s3.test.ts covers redirects.
    BERTH_STORAGE_REDIRECT: 'false',
  };
}

/** A registry app on fresh storage (TEST_DRIVER) in a temp dir; `reopen` builds a new app on the same data. */
export interface Harness {
  readonly app: Express;
  readonly registry: RegistryApp;
  readonly dir: string;
  readonly blobs: BlobStore;
  reopen(): Promise<Harness>;
  close(): Promise<void>;
}

export async function openHarness(env: Record<string, string> = {}, dir?: string, prefix = randomUUID()): Promise<Harness> {
  const root = dir ?? (await mkdtemp(join(tmpdir(), 'berth-test-')));
  // A suite that names a driver itself gets exactly its own settings.
  const driverEnv = TEST_DRIVER === 's3' && env['BERTH_STORAGE_DRIVER'] === undefined ? await s3Env(prefix) : {};
  const config: Config = loadConfig({ env: { BERTH_DATA_DIR: root, BERTH_LOG_REQUESTS: 'false', ...driverEnv, ...env } });
  const metadata = new SqliteMetadataStore(join(root, 'metadata.db'));
  const store = await openBlobStore(config, metadata);
  const { blobs } = store;
  const logger = process.env['BERTH_TEST_LOG'] === '1' ? createLogger('debug', (l) => process.stderr.write(l)) : silentLogger;
  const registry = createApp({
    config,
    blobs,
    metadata,
    logger,
    metrics: new Metrics({ processMetrics: false }),
    ...(store.redirectUrl !== undefined ? { redirectUrl: store.redirectUrl } : {}),
  });
  let closed = false;
  const closeStores = async (): Promise<void> => {
    if (!closed) {
      store.close();
      await metadata.close();
    }
    closed = true;
  };
  return {
    app: registry.app,
    registry,
    dir: root,
    blobs,
    reopen: async () => {
      await closeStores();
      return openHarness(env, root, prefix);
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

export async function listAll(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}
