import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteMetadataStore } from '@berth/metadata';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { BlobNotFoundError, StorageUnavailableError } from '../src/errors.js';
import { createS3Client } from '../src/s3/client.js';
import { S3BlobStore } from '../src/s3/driver.js';
import { MIN_PART_SIZE } from '../src/s3/options.js';
import { blobStoreSuite } from './driver-suite.js';
import { collect, hashStream, patternStream, sha256, sink, streamOf } from './helpers.js';
import { startS3Server, type TestS3Server } from './s3-server.js';

/** An S3 store on a running test server, with its catalog in a fresh SQLite file. */
export async function openS3Store(s3: TestS3Server, overrides: { partSize?: number; timeout?: number; attempts?: number; storageClass?: string; serverSideEncryption?: 'AES256' | 'aws:kms' } = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'berth-s3-test-'));
  const metadata = new SqliteMetadataStore(join(dir, 'metadata.db'));
  const store = await S3BlobStore.open({
    bucket: s3.bucket,
    region: s3.region,
    endpoint: s3.endpoint,
    forcePathStyle: true,
    prefix: 'registry/',
    ...(overrides.storageClass !== undefined ? { storageClass: overrides.storageClass } : {}),
    ...(overrides.serverSideEncryption !== undefined ? { serverSideEncryption: overrides.serverSideEncryption } : {}),
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    spoolDir: join(dir, 'spool'),
    partSize: overrides.partSize ?? MIN_PART_SIZE,
    concurrency: 2,
    retry: { attempts: overrides.attempts ?? 3, baseDelay: 20, maxDelay: 200, timeout: overrides.timeout ?? 10_000 },
    presignExpiry: 300,
    catalog: metadata.blobCatalog(),
  });
  return {
    store,
    dir,
    metadata,
    async cleanup(): Promise<void> {
      store.destroy();
      await metadata.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let server: TestS3Server;
before(async () => {
  server = await startS3Server();
});
after(async () => {
  await server.close();
});

blobStoreSuite('s3', () => openS3Store(server));

describe('S3BlobStore specifics', () => {
  test('a blob larger than a part is one object at the upload key, with no copy and no parts left', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const id = randomUUID();
      await store.startUpload(id);
      const h = (await import('node:crypto')).createHash('sha256');
      const total = 2 * MIN_PART_SIZE + 1234;
      assert.equal(await store.append(id, 0, patternStream(0, total, h)), total);
      const digest = `sha256:${h.digest('hex')}`;
      // Only the sub-part tail waits on local disk.
      const spool = await readdir(join(opened.dir, 'spool'));
      assert.equal(spool.length, 1);
      assert.equal(await server.openMultipartUploads(), 1);
      await store.commit(id, digest);
      assert.equal(await server.openMultipartUploads(), 0);
      assert.deepEqual(await readdir(join(opened.dir, 'spool')), []);
      assert.deepEqual(await hashStream(await store.read(digest)), { hex: digest.slice(7), size: total });
      const url = await store.presignedUrl(digest);
      assert.ok(url?.includes(`/registry/uploads/${id}`), url);
      const res = await fetch(url as string, { headers: { Range: 'bytes=0-9' } });
      assert.equal(res.status, 206);
      assert.equal((await res.arrayBuffer()).byteLength, 10);
    } finally {
      await opened.cleanup();
    }
  });

  test('cancel aborts the multipart upload: no parts are left behind', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const id = randomUUID();
      await store.startUpload(id);
      await store.append(id, 0, patternStream(0, MIN_PART_SIZE + 10));
      assert.equal(await server.openMultipartUploads(), 1);
      await store.cancel(id);
      assert.equal(await server.openMultipartUploads(), 0);
      assert.deepEqual(await readdir(join(opened.dir, 'spool')), []);
    } finally {
      await opened.cleanup();
    }
  });

  test('an upload read back (after a restart) is sealed, then continues and commits intact', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const id = randomUUID();
      await store.startUpload(id);
      const h = (await import('node:crypto')).createHash('sha256');
      const first = MIN_PART_SIZE + 100;
      await store.append(id, 0, patternStream(0, first, h));
      assert.deepEqual(await hashStream(await store.readUpload(id)), {
        hex: (await hashStream(patternStream(0, first))).hex,
        size: first,
      });
      const total = 2 * MIN_PART_SIZE + 7;
      assert.equal(await store.append(id, first, patternStream(first, total, h)), total);
      const digest = `sha256:${h.digest('hex')}`;
      await store.commit(id, digest);
      assert.deepEqual(await hashStream(await store.read(digest)), { hex: digest.slice(7), size: total });
      assert.equal(await server.openMultipartUploads(), 0);
    } finally {
      await opened.cleanup();
    }
  });

  test('parts ready while the multipart upload is still being created share one multipart upload (regression)', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const id = randomUUID();
      await store.startUpload(id);
      // A slow CreateMultipartUpload: the second part is cut before it answers.
      const end = server.inject({ count: 1, method: 'POST', delayMs: 400 });
      const h = (await import('node:crypto')).createHash('sha256');
      const total = 3 * MIN_PART_SIZE + 5;
      try {
        assert.equal(await store.append(id, 0, patternStream(0, total, h)), total);
      } finally {
        end();
      }
      const digest = `sha256:${h.digest('hex')}`;
      await store.commit(id, digest);
      assert.deepEqual(await hashStream(await store.read(digest)), { hex: digest.slice(7), size: total });
      assert.equal(await server.openMultipartUploads(), 0);
    } finally {
      await opened.cleanup();
    }
  });

  test('abortStrayMultipartUploads aborts old multipart uploads no upload state names, and only those', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const live = randomUUID();
      await store.startUpload(live);
      await store.append(live, 0, patternStream(0, MIN_PART_SIZE + 1));
      // A multipart upload S3 created but the state never recorded (a crash in between).
      const { S3Client, CreateMultipartUploadCommand } = await import('@aws-sdk/client-s3');
      const client = new S3Client({
        region: server.region,
        endpoint: server.endpoint,
        forcePathStyle: true,
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      });
      await client.send(new CreateMultipartUploadCommand({ Bucket: server.bucket, Key: `registry/uploads/${randomUUID()}` }));
      client.destroy();
      const open = await server.openMultipartUploads();
      assert.equal(await store.abortStrayMultipartUploads(Date.now() - 60_000), 0, 'too recent');
      assert.equal(await store.abortStrayMultipartUploads(Date.now() + 1000), 1);
      assert.equal(await server.openMultipartUploads(), open - 1);
      await store.cancel(live);
    } finally {
      await opened.cleanup();
    }
  });

  test('a sealed upload whose next multipart upload was cut short by a crash still commits its sealed bytes (regression)', async () => {
    const opened = await openS3Store(server);
    try {
      const { store, metadata } = opened;
      const id = randomUUID();
      await store.startUpload(id);
      const total = MIN_PART_SIZE + 3;
      await store.append(id, 0, patternStream(0, total));
      const expected = await hashStream(await store.readUpload(id));
      // The state a crash leaves inside startMultipart: a multipart id, the sealed bytes not yet copied.
      const catalog = metadata.blobCatalog();
      const state = await catalog.uploadState(id);
      assert.ok(state !== undefined && state.sealed > 0);
      await catalog.saveUploadState(id, { ...state, multipartId: 'ffffffffffffffffffffffffffffffff' });
      const digest = `sha256:${expected.hex}`;
      await store.commit(id, digest);
      assert.deepEqual(await hashStream(await store.read(digest)), expected);
    } finally {
      await opened.cleanup();
    }
  });

  test('a rewind into bytes already sent as parts is refused', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const id = randomUUID();
      await store.startUpload(id);
      await store.append(id, 0, patternStream(0, MIN_PART_SIZE + 10));
      await assert.rejects(store.append(id, 5, streamOf('x')), /is at/);
      await store.cancel(id);
    } finally {
      await opened.cleanup();
    }
  });

  test('the storage class and server-side encryption go with every object written: small and multipart', async () => {
    const opened = await openS3Store(server, { storageClass: 'STANDARD_IA', serverSideEncryption: 'AES256' });
    try {
      const { store } = opened;
      server.amzHeaders.length = 0;
      for (const size of [100, MIN_PART_SIZE + 10]) {
        const id = randomUUID();
        await store.startUpload(id);
        const { hex } = await hashStream(patternStream(0, size));
        await store.append(id, 0, patternStream(0, size));
        await store.commit(id, `sha256:${hex}`);
      }
      const seen = new Set(server.amzHeaders);
      assert.ok(seen.has('x-amz-storage-class: STANDARD_IA'), [...seen].join('\n'));
      assert.ok(seen.has('x-amz-server-side-encryption: AES256'), [...seen].join('\n'));
      const creates = server.amzHeaders.filter((h) => h === 'x-amz-storage-class: STANDARD_IA').length;
      assert.ok(creates >= 2, `both objects carry the class (${creates})`);
    } finally {
      await opened.cleanup();
    }
  });

  test('committing a digest stored already keeps one object and drops the new upload', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const content = `dedup ${randomUUID()}`;
      const a = randomUUID();
      const b = randomUUID();
      for (const id of [a, b]) {
        await store.startUpload(id);
        await store.append(id, 0, streamOf(content));
      }
      await store.commit(a, sha256(content));
      await store.commit(b, sha256(content));
      const key = (await opened.metadata.blobCatalog().location(sha256(content)))?.key;
      assert.equal(key, `registry/uploads/${a}`);
      assert.equal((await collect(await store.read(sha256(content)))).toString(), content);
    } finally {
      await opened.cleanup();
    }
  });

  test('writeTo relays over kept-alive connections: sequential reads share one, and one S3 dropped meanwhile is replaced unnoticed', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const content = Buffer.from(`relayed ${randomUUID()}`.repeat(100));
      const digest = await putBlob(store, content);
      const read = async (): Promise<void> => {
        const dest = sink();
        await store.writeTo(digest, undefined, content.length, dest);
        assert.deepEqual(dest.bytes(), content);
      };
      await read();
      const before = server.connections;
      for (let i = 0; i < 20; i++) await read();
      assert.equal(server.connections, before, 'no new connection');
      // A restart of S3 closes every connection; the next read opens a new one.
      await server.stop();
      await server.start();
      await read();
      assert.equal(server.connections, before + 1);
    } finally {
      await opened.cleanup();
    }
  });

  test('writeTo: throttling is retried away; S3 down, slow or refusing is StorageUnavailableError within the bound, with nothing written', async () => {
    const opened = await openS3Store(server, { timeout: 500, attempts: 3 });
    try {
      const { store } = opened;
      const content = Buffer.from(`faulty ${randomUUID()}`);
      const digest = await putBlob(store, content);
      let end = server.inject({ count: 2, status: 503, code: 'SlowDown', method: 'GET' });
      const dest = sink();
      await store.writeTo(digest, undefined, content.length, dest);
      end();
      assert.deepEqual(dest.bytes(), content);
      for (const fault of [{ count: 100, status: 503, code: 'SlowDown' }, { count: 100, delayMs: 2000 }, { count: 100, status: 403, code: 'AccessDenied' }]) {
        end = server.inject({ ...fault, method: 'GET' });
        const started = Date.now();
        const failed = sink();
        await assert.rejects(store.writeTo(digest, undefined, content.length, failed), (err: unknown) => err instanceof StorageUnavailableError && /GetObject/.test(err.message));
        end();
        assert.ok(Date.now() - started < 3 * 500 + 1500, `answered in ${Date.now() - started} ms`);
        assert.equal(failed.bytes().length, 0);
      }
      await server.stop();
      try {
        await assert.rejects(store.writeTo(digest, undefined, content.length, sink()), StorageUnavailableError);
      } finally {
        await server.start();
      }
      const again = sink();
      await store.writeTo(digest, { start: 1, end: 3 }, content.length, again);
      assert.deepEqual(again.bytes(), content.subarray(1, 4));
    } finally {
      await opened.cleanup();
    }
  });

  test('writeTo of a blob whose object is gone throws BlobNotFoundError', async () => {
    const opened = await openS3Store(server);
    try {
      const { store } = opened;
      const content = `vanishing ${randomUUID()}`;
      const digest = await putBlob(store, Buffer.from(content));
      const key = (await opened.metadata.blobCatalog().location(digest))?.key as string;
      const client = createS3Client({ region: server.region, endpoint: server.endpoint, forcePathStyle: true, credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey }, retry: { attempts: 1, baseDelay: 1, maxDelay: 1, timeout: 5000 } });
      await client.send(new DeleteObjectCommand({ Bucket: server.bucket, Key: key }));
      client.destroy();
      await assert.rejects(store.writeTo(digest, undefined, content.length, sink()), (err: unknown) => err instanceof BlobNotFoundError);
    } finally {
      await opened.cleanup();
    }
  });
});

async function putBlob(store: S3BlobStore, content: Buffer): Promise<string> {
  const id = randomUUID();
  await store.startUpload(id);
  await store.append(id, 0, streamOf(content));
  await store.commit(id, sha256(content));
  return sha256(content);
}
