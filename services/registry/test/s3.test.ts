/**
 * The registry on the S3 driver specifically: multipart uploads that survive a restart,
 * abort on cancel and expiry, dedup without a copy, HEAD without S3, blob GETs both
 * redirected (the default) and streamed, and faults of a real S3-compatible server
 * (stopped, throttling, slow) answered with a bounded 503 + Retry-After, never a hang,
 * never a half-written blob.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, get, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import type { TestS3Server } from '@berth/storage/test-s3-server';
import { errorCode, OCI_MANIFEST, openHarness, pushBlob, pushImage, s3Env, sha256, testS3Server, type Harness } from './harness.js';
import { raw } from './raw.js';

const MiB = 1024 * 1024;

/** Deterministic bytes: `n` bytes of a seed-dependent pattern. */
function bytes(seed: string, n: number): Buffer {
  const block = createHash('sha256').update(seed).digest();
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += block.length) block.copy(out, i, 0, Math.min(block.length, n - i));
  for (let i = 0; i < n; i += 4096) out.writeUInt32BE(i, Math.min(i, n - 4));
  return out;
}

async function startUpload(h: Harness, name: string): Promise<string> {
  const res = await request(h.app).post(`/v2/${name}/blobs/uploads/`).expect(202);
  return res.headers['location'] as string;
}

function patch(h: Harness, loc: string, start: number, data: Buffer) {
  return request(h.app)
    .patch(loc)
    .set('Content-Type', 'application/octet-stream')
    .set('Content-Range', `${start}-${start + data.length - 1}`)
    .send(data);
}

describe('registry on S3: uploads', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await testS3Server();
  });

  test('a chunked upload of several parts survives two restarts and commits intact, with no parts left', async () => {
    const env = await s3Env();
    let h = await openHarness(env);
    try {
      const open = await s3.openMultipartUploads();
      const whole = bytes('restart', 13 * MiB + 77);
      const cuts = [0, 6 * MiB, 7 * MiB, 12 * MiB, whole.length];
      const loc = await startUpload(h, 's3/restart');
      await patch(h, loc, 0, whole.subarray(cuts[0], cuts[1])).expect(202);
      await patch(h, loc, cuts[1] as number, whole.subarray(cuts[1], cuts[2])).expect(202);
      assert.equal(await s3.openMultipartUploads(), open + 1, 'the first part went to S3');
      h = await h.reopen();
      const status = await request(h.app).get(loc).expect(204);
      assert.equal(status.headers['range'], `0-${(cuts[2] as number) - 1}`);
      await patch(h, loc, cuts[2] as number, whole.subarray(cuts[2], cuts[3])).expect(202);
      h = await h.reopen();
      // The running hash is gone: completing reads the upload back from S3 and the spool.
      await request(h.app)
        .put(`${loc}?digest=${sha256(whole)}`)
        .set('Content-Type', 'application/octet-stream')
        .send(whole.subarray(cuts[3]))
        .expect(201);
      const got = await raw(request(h.app).get(`/v2/s3/restart/blobs/${sha256(whole)}`)).expect(200);
      assert.equal(sha256(got.body as Buffer), sha256(whole));
      const range = await raw(request(h.app).get(`/v2/s3/restart/blobs/${sha256(whole)}`).set('Range', `bytes=${6 * MiB - 5}-${6 * MiB + 5}`)).expect(206);
      assert.deepEqual(range.body, whole.subarray(6 * MiB - 5, 6 * MiB + 6));
      assert.equal(await s3.openMultipartUploads(), open, 'no multipart upload left open');
    } finally {
      await h.close();
    }
  });

  test('DELETE of an upload and the expiry purge abort its multipart upload in S3', async () => {
    const h = await openHarness(await s3Env());
    try {
      const open = await s3.openMultipartUploads();
      const a = await startUpload(h, 's3/cancel');
      const b = await startUpload(h, 's3/cancel');
      await patch(h, a, 0, bytes('a', 6 * MiB)).expect(202);
      await patch(h, b, 0, bytes('b', 6 * MiB)).expect(202);
      assert.equal(await s3.openMultipartUploads(), open + 2);
      await request(h.app).delete(a).expect(204);
      assert.equal(await s3.openMultipartUploads(), open + 1);
      assert.equal(await h.registry.uploads.purge(Date.now() + 1), 1);
      assert.equal(await s3.openMultipartUploads(), open);
      await request(h.app).get(b).expect(404);
    } finally {
      await h.close();
    }
  });

  test('a blob pushed twice is stored once: the second upload is dropped, nothing is copied', async () => {
    const h = await openHarness(await s3Env());
    try {
      const data = bytes('twice', 6 * MiB + 1);
      const before = { ...s3.requests };
      await pushBlob(h.app, 's3/one', data);
      await pushBlob(h.app, 's3/two', data);
      // The first push sends 2 parts; the second only the part filled before its digest was
      // known, then is aborted. No copy (a PUT with x-amz-copy-source) anywhere.
      const puts = (s3.requests['PUT'] ?? 0) - (before['PUT'] ?? 0);
      assert.equal(puts, 3, 'only part uploads, no copy');
      await raw(request(h.app).get(`/v2/s3/two/blobs/${sha256(data)}`)).expect(200);
      assert.equal((await listDigests(h)).filter((d) => d === sha256(data)).length, 1);
    } finally {
      await h.close();
    }
  });

  test('redirect (the default): GET answers 307 to a pre-signed URL serving the bytes and ranges, without calling S3', async () => {
    const h = await openHarness(await defaultEnv());
    try {
      const data = bytes('redirect', 1000);
      const image = await pushImage(h.app, 's3/redirect', 'v1', {}, ['redirected layer']);
      const digest = await pushBlob(h.app, 's3/redirect', data);
      const before = total(s3.requests);
      const res = await request(h.app).get(`/v2/s3/redirect/blobs/${digest}`).expect(307);
      await request(h.app).get(`/v2/s3/redirect/blobs/${digest}`).set('Range', 'bytes=10-19').expect(307);
      await request(h.app).get(`/v2/s3/redirect/blobs/${digest}`).set('If-None-Match', `"${digest}"`).expect(304);
      const head = await request(h.app).head(`/v2/s3/redirect/blobs/${digest}`).expect(200);
      assert.equal(head.headers['content-length'], '1000');
      await request(h.app).get(`/v2/s3/redirect/manifests/v1`).set('Accept', OCI_MANIFEST).expect(200);
      await request(h.app).head(`/v2/s3/redirect/manifests/${image.digest}`).set('Accept', OCI_MANIFEST).expect(200);
      const unknown = await request(h.app).get(`/v2/s3/redirect/blobs/${sha256('absent')}`).expect(404);
      assert.equal(errorCode(unknown), 'BLOB_UNKNOWN');
      assert.equal(total(s3.requests), before, 'blob and manifest GETs and HEADs made no S3 call');
      const url = res.headers['location'] as string;
      assert.ok(url.startsWith(s3.endpoint), url);
      assert.match(url, /X-Amz-Signature=/);
      assert.equal(res.headers['content-length'], '0');
      assert.equal(res.headers['docker-content-digest'], digest);
      const body = Buffer.from(await (await fetch(url)).arrayBuffer());
      assert.deepEqual(body, data);
      const part = await fetch(url, { headers: { Range: 'bytes=10-19' } });
      assert.equal(part.status, 206);
      assert.deepEqual(Buffer.from(await part.arrayBuffer()), data.subarray(10, 20));
    } finally {
      await h.close();
    }
  });

  test('redirect: false streams through the registry, one ranged S3 GET per blob GET and none for a HEAD', async () => {
    const h = await openHarness({ ...(await defaultEnv()), BERTH_STORAGE_REDIRECT: 'false' });
    try {
      const data = bytes('streamed', 3 * MiB + 5);
      const digest = await pushBlob(h.app, 's3/streamed', data);
      const before = { ...s3.requests };
      const got = await raw(request(h.app).get(`/v2/s3/streamed/blobs/${digest}`)).expect(200);
      assert.deepEqual(got.body, data);
      const part = await raw(request(h.app).get(`/v2/s3/streamed/blobs/${digest}`).set('Range', `bytes=${MiB - 3}-${2 * MiB + 3}`)).expect(206);
      assert.deepEqual(part.body, data.subarray(MiB - 3, 2 * MiB + 4));
      await request(h.app).head(`/v2/s3/streamed/blobs/${digest}`).expect(200);
      assert.equal((s3.requests['GET'] ?? 0) - (before['GET'] ?? 0), 2);
      assert.equal(total(s3.requests), total(before) + 2, 'nothing but the two GETs');
    } finally {
      await h.close();
    }
  });

  test('redirect: with S3 down a blob GET still answers its 307 (it needs no S3 call); the client then meets S3', async () => {
    const h = await openHarness(await defaultEnv());
    const digest = await pushBlob(h.app, 's3/redirect-down', bytes('redirect down', 100));
    await s3.stop();
    try {
      const res = await request(h.app).get(`/v2/s3/redirect-down/blobs/${digest}`).expect(307);
      assert.match(res.headers['location'] as string, /X-Amz-Signature=/);
    } finally {
      await s3.start();
      await h.close();
    }
  });
});

/** The shared server's env with the driver's own default for storage.redirect. */
async function defaultEnv(): Promise<Record<string, string>> {
  return Object.fromEntries(Object.entries(await s3Env()).filter(([k]) => k !== 'BERTH_STORAGE_REDIRECT'));
}

function total(requests: Record<string, number>): number {
  return Object.values(requests).reduce((n, c) => n + c, 0);
}

async function listDigests(h: Harness): Promise<string[]> {
  const out: string[] = [];
  for await (const d of h.blobs.list()) out.push(d);
  return out;
}

describe('registry on S3: faults', () => {
  let s3: TestS3Server;
  let h: Harness;
  before(async () => {
    s3 = await testS3Server();
    h = await openHarness({ ...(await s3Env()), BERTH_STORAGE_TIMEOUT: '500ms', BERTH_STORAGE_RETRIES: '2' });
  });
  after(async () => {
    await s3.start().catch(() => undefined);
    await h.close();
  });

  /** Asserts a 503 UNAVAILABLE with Retry-After, answered within `ms`. */
  async function unavailable(t: request.Test, ms: number): Promise<void> {
    const started = Date.now();
    const res = await t;
    assert.equal(res.status, 503, `status ${res.status} ${JSON.stringify(res.body)}`);
    assert.equal(errorCode(res), 'UNAVAILABLE');
    assert.ok(Number(res.headers['retry-after']) > 0, 'Retry-After');
    assert.ok(Date.now() - started < ms, `answered in ${Date.now() - started} ms`);
  }

  test('S3 stopped: HEAD answers from metadata, GET and PATCH get 503 + Retry-After; after a restart the upload goes on', async () => {
    const kept = bytes('kept', 2000);
    const digest = await pushBlob(h.app, 's3/down', kept);
    const whole = bytes('down', 7 * MiB);
    const loc = await startUpload(h, 's3/down');
    await patch(h, loc, 0, whole.subarray(0, 3 * MiB)).expect(202);
    await s3.stop();
    try {
      await request(h.app).head(`/v2/s3/down/blobs/${digest}`).expect(200);
      await unavailable(request(h.app).get(`/v2/s3/down/blobs/${digest}`), 5000);
      // This chunk fills a part, which cannot be sent: refused as a whole.
      await unavailable(patch(h, loc, 3 * MiB, whole.subarray(3 * MiB, 6 * MiB)), 5000);
      await unavailable(request(h.app).put(`${loc}?digest=${sha256(whole.subarray(0, 3 * MiB))}`), 5000);
      await unavailable(request(h.app).post(`/v2/s3/down/blobs/uploads/?digest=${sha256('x')}`).set('Content-Type', 'application/octet-stream').send(Buffer.from('x')), 5000);
    } finally {
      await s3.start();
    }
    await request(h.app).head(`/v2/s3/down/blobs/${sha256('x')}`).expect(404);
    const status = await request(h.app).get(loc).expect(204);
    assert.equal(status.headers['range'], `0-${3 * MiB - 1}`, 'the refused chunk left nothing');
    await patch(h, loc, 3 * MiB, whole.subarray(3 * MiB, 6 * MiB)).expect(202);
    await request(h.app).put(`${loc}?digest=${sha256(whole)}`).set('Content-Type', 'application/octet-stream').send(whole.subarray(6 * MiB)).expect(201);
    const got = await raw(request(h.app).get(`/v2/s3/down/blobs/${sha256(whole)}`)).expect(200);
    assert.equal(sha256(got.body as Buffer), sha256(whole));
    assert.deepEqual((await raw(request(h.app).get(`/v2/s3/down/blobs/${digest}`)).expect(200)).body, kept);
  });

  test('S3 stopped: DELETE of an upload and the expiry purge keep the session; after a restart they abort its multipart upload', async () => {
    const open = await s3.openMultipartUploads();
    const a = await startUpload(h, 's3/drop');
    const b = await startUpload(h, 's3/drop');
    await patch(h, a, 0, bytes('drop a', 6 * MiB)).expect(202);
    await patch(h, b, 0, bytes('drop b', 6 * MiB)).expect(202);
    await s3.stop();
    try {
      await unavailable(request(h.app).delete(a), 5000);
      await request(h.app).get(a).expect(204);
      assert.equal(await h.registry.uploads.purge(Date.now() + 1), 0, 'nothing purged while S3 is down');
      await request(h.app).get(b).expect(204);
    } finally {
      await s3.start();
    }
    await request(h.app).delete(a).expect(204);
    assert.equal(await h.registry.uploads.purge(Date.now() + 1), 1);
    await request(h.app).get(b).expect(404);
    assert.equal(await s3.openMultipartUploads(), open);
  });

  test('throttling: a few 503 SlowDown answers are retried away; a lasting one becomes a bounded 503 + Retry-After', async () => {
    let end = s3.inject({ count: 2, status: 503, code: 'SlowDown' });
    await pushBlob(h.app, 's3/slow', bytes('throttled once', 100));
    end();
    end = s3.inject({ count: 1000, status: 503, code: 'SlowDown' });
    try {
      const data = bytes('throttled', 100);
      await unavailable(request(h.app).post(`/v2/s3/slow/blobs/uploads/?digest=${sha256(data)}`).set('Content-Type', 'application/octet-stream').send(data), 5000);
      await request(h.app).head(`/v2/s3/slow/blobs/${sha256(data)}`).expect(404);
    } finally {
      end();
    }
  });

  test('a slow S3 (no answer within storage.timeout) becomes a 503 within the attempts x timeout bound', async () => {
    const end = s3.inject({ count: 1000, delayMs: 3000 });
    try {
      const data = bytes('slow', 100);
      await unavailable(request(h.app).post(`/v2/s3/slow/blobs/uploads/?digest=${sha256(data)}`).set('Content-Type', 'application/octet-stream').send(data), 3 * 500 + 1500);
    } finally {
      end();
    }
  });

  test('S3 stopped mid-download: the response is cut off (no hang, no wrong bytes); after a restart GET works', async () => {
    const data = bytes('download', 24 * MiB);
    const digest = await pushBlob(h.app, 's3/dl', data);
    const server: Server = createServer(h.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const outcome = await new Promise<{ received: number; error: string | undefined }>((resolve) => {
        get(`http://127.0.0.1:${port}/v2/s3/dl/blobs/${digest}`, (res) => {
          assert.equal(res.statusCode, 200);
          let received = 0;
          res.once('data', (chunk: Buffer) => {
            received += chunk.length;
            // Hold the response still while S3 dies under it.
            res.pause();
            void s3.stop().then(() => {
              res.on('data', (c: Buffer) => (received += c.length));
              res.resume();
            });
          });
          res.on('error', (err) => resolve({ received, error: err.message }));
          res.on('close', () => resolve({ received, error: res.complete ? undefined : 'incomplete' }));
        }).on('error', (err) => resolve({ received: -1, error: err.message }));
      });
      assert.ok(outcome.error !== undefined, 'the cut response is not complete');
      assert.ok(outcome.received < data.length, `received ${outcome.received}`);
    } finally {
      server.closeAllConnections();
      server.close();
      await s3.start();
    }
    const got = await raw(request(h.app).get(`/v2/s3/dl/blobs/${digest}`)).expect(200);
    assert.equal(sha256(got.body as Buffer), digest);
  });
});
