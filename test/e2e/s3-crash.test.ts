import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startS3Server, type TestS3Server } from '@berth/storage/test-s3-server';
import { patternBuffer, patternDigest, patternStream } from './support/data.js';
import { request, requestDigest, slowRequest } from './support/http.js';
import { patchChunk, withDigest } from './support/oci.js';
import { killAll, startRegistry, tempDir, type Registry } from './support/registry.js';

/** kill -9 of the real registry process on the S3 driver during an upload, then a restart. */

const MiB = 1024 * 1024;

function s3Env(s3: TestS3Server): Record<string, string> {
  return {
    BERTH_STORAGE_DRIVER: 's3',
    BERTH_STORAGE_BUCKET: s3.bucket,
    BERTH_STORAGE_REGION: s3.region,
    BERTH_STORAGE_ENDPOINT: s3.endpoint,
    BERTH_STORAGE_PATHSTYLE: 'true',
    BERTH_STORAGE_ACCESSKEY: s3.accessKeyId,
    BERTH_STORAGE_SECRETKEY: s3.secretAccessKey,
    BERTH_STORAGE_PARTSIZE: '5MiB',
    BERTH_LOG_REQUESTS: 'false',
  };
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function rebase(reg: Registry, uploadUrl: string): string {
  const u = new URL(uploadUrl);
  return `${reg.url}${u.pathname}${u.search}`;
}

describe('crash safety on S3 (kill -9)', () => {
  let s3: TestS3Server;
  const dirs: Array<() => void> = [];
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await killAll();
    for (const cleanup of dirs) cleanup();
    await s3.close();
  });

  test('kill -9 while a chunk is being sent as parts; restart; resume from Range; complete; bytes intact, nothing left', async () => {
    const tmp = tempDir();
    dirs.push(tmp.cleanup);
    const dataDir = join(tmp.path, 'data');
    const env = s3Env(s3);
    const repo = 'e2e/s3crash';
    const seed = 's3-crash';
    const TOTAL = 20 * MiB;
    const digest = patternDigest(seed, TOTAL);

    let reg = await startRegistry({ dataDir, env });
    const post = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/`);
    assert.equal(post.status, 202);
    let uploadUrl = new URL(post.header('location'), reg.url).toString();
    const accepted = 8 * MiB;
    await patchChunk(reg, uploadUrl, 0, 6 * MiB, patternStream(seed, 0, 6 * MiB));
    await patchChunk(reg, uploadUrl, 6 * MiB, 2 * MiB, patternStream(seed, 6 * MiB, 2 * MiB));
    assert.equal(await s3.openMultipartUploads(), 1);

    // The next chunk: enough to send another part, then kill -9 before the chunk ends.
    const putsBefore = s3.requests['PUT'] ?? 0;
    const slow = slowRequest('PATCH', uploadUrl, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': 8 * MiB, 'Content-Range': `${accepted}-${accepted + 8 * MiB - 1}` },
    });
    const outcome = slow.response.then(
      (res) => `unexpected response ${res.status}`,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    await slow.write(patternBuffer(seed, accepted, 4 * MiB));
    await until(() => (s3.requests['PUT'] ?? 0) > putsBefore, 10_000, 'a part of the interrupted chunk sent to S3');
    const exit = await reg.proc.kill9();
    assert.equal(exit.signal, 'SIGKILL');
    slow.req.destroy();
    assert.doesNotMatch(await outcome, /unexpected response/);

    reg = await startRegistry({ dataDir, env });
    uploadUrl = rebase(reg, uploadUrl);
    assert.equal((await request('HEAD', `${reg.url}/v2/${repo}/blobs/${digest}`)).status, 404);
    const status = await request('GET', uploadUrl);
    assert.equal(status.status, 204);
    assert.equal(status.header('range'), `0-${accepted - 1}`, 'Range = the chunks accepted before the crash');

    await patchChunk(reg, uploadUrl, accepted, 8 * MiB, patternStream(seed, accepted, 8 * MiB));
    const put = await request('PUT', withDigest(uploadUrl, digest), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': TOTAL - 16 * MiB },
      body: patternStream(seed, 16 * MiB, TOTAL - 16 * MiB),
    });
    assert.equal(put.status, 201, `closing PUT: ${put.status} ${put.body.toString()}`);
    // Blob GETs redirect to the object (the S3 driver's default): its bytes are checked in S3 itself.
    const redirect = await request('GET', `${reg.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(redirect.status, 307);
    const got = await requestDigest('GET', redirect.header('location'));
    assert.equal(got.status, 200);
    assert.equal(got.length, TOTAL);
    assert.equal(`sha256:${got.sha256}`, digest);
    assert.equal(await s3.openMultipartUploads(), 0, 'no multipart upload left in S3');
    assert.deepEqual(readdirSync(join(dataDir, 'spool')), [], 'no spool file left');
    assert.deepEqual(await reg.proc.stop(), { code: 0, signal: null });
  });
});
