import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { patternBuffer, patternDigest, patternStream } from './support/data.js';
import { request, requestDigest, slowRequest } from './support/http.js';
import { errorCodes, patchChunk, pushBlob, uploadId, withDigest } from './support/oci.js';
import { killAll, startRegistry, tempDir, type Registry } from './support/registry.js';

/** kill -9 of the real process during and right after uploads, then a restart on the same data. */

const MiB = 1024 * 1024;
const TOTAL = 64 * MiB;
const CHUNK = 8 * MiB;
/** Chunks accepted (202) before the crash. */
const BEFORE_CRASH = 3;

function uploadsDir(dataDir: string): string {
  return join(dataDir, 'blobs', 'uploads');
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The same upload path on another (restarted) registry. */
function rebase(reg: Registry, uploadUrl: string): string {
  const u = new URL(uploadUrl);
  return `${reg.url}${u.pathname}${u.search}`;
}

describe('crash safety (kill -9)', () => {
  const dirs: Array<() => void> = [];
  after(async () => {
    await killAll();
    for (const cleanup of dirs) cleanup();
  });

  test('kill -9 mid-PATCH of a 64 MiB chunked upload; restart; resume from Range; complete; bytes intact', async () => {
    const tmp = tempDir();
    dirs.push(tmp.cleanup);
    const dataDir = join(tmp.path, 'data');
    const repo = 'e2e/crash';
    const seed = 'crash-64MiB';
    const digest = patternDigest(seed, TOTAL);

    let reg = await startRegistry({ dataDir });
    const post = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/`);
    assert.equal(post.status, 202);
    let uploadUrl = new URL(post.header('location'), reg.url).toString();
    const id = uploadId(uploadUrl);
    assert.equal(post.header('docker-upload-uuid'), id);

    for (let i = 0; i < BEFORE_CRASH; i++) {
      await patchChunk(reg, uploadUrl, i * CHUNK, CHUNK, patternStream(seed, i * CHUNK, CHUNK));
    }
    const accepted = BEFORE_CRASH * CHUNK;

    // The next chunk: send half of it, wait until the server has written some of it, kill -9.
    const start = accepted;
    const slow = slowRequest('PATCH', uploadUrl, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': CHUNK, 'Content-Range': `${start}-${start + CHUNK - 1}` },
    });
    const outcome = slow.response.then(
      (res) => `unexpected response ${res.status}`,
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    await slow.write(patternBuffer(seed, start, CHUNK / 2));
    const partFile = join(uploadsDir(dataDir), id);
    await until(() => fileSize(partFile) > accepted, 5000, 'part of the 4th chunk on disk');
    const exit = await reg.proc.kill9();
    assert.equal(exit.signal, 'SIGKILL');
    slow.req.destroy();
    assert.doesNotMatch(await outcome, /unexpected response/, 'the interrupted PATCH got no response');

    reg = await startRegistry({ dataDir });
    uploadUrl = rebase(reg, uploadUrl);

    // Not visible as a blob.
    const head = await request('HEAD', `${reg.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(head.status, 404, 'HEAD of the unfinished blob');

    // The session survived with the chunks accepted before the crash.
    const status = await request('GET', uploadUrl);
    assert.equal(status.status, 204, `GET upload status: ${status.status} ${status.body.toString()}`);
    assert.equal(status.header('range'), `0-${accepted - 1}`, 'Range = the chunks accepted before the crash');
    assert.equal(status.header('docker-upload-uuid'), id);
    assert.equal(new URL(status.header('location'), reg.url).pathname, new URL(uploadUrl).pathname);

    // A chunk that does not start at the Range end is refused with 416 and the current Range.
    const wrong = await request('PATCH', uploadUrl, {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': 1024, 'Content-Range': `${accepted + CHUNK / 2}-${accepted + CHUNK / 2 + 1023}` },
      body: patternBuffer(seed, accepted + CHUNK / 2, 1024),
    });
    assert.equal(wrong.status, 416, `out-of-order PATCH: ${wrong.status} ${wrong.body.toString()}`);
    assert.equal(wrong.header('range'), `0-${accepted - 1}`);

    // Resume from the Range: PATCH up to the last chunk, which goes with the closing PUT.
    const resumeAt = Number(status.header('range').split('-')[1]) + 1;
    for (let offset = resumeAt; offset < TOTAL - CHUNK; offset += CHUNK) {
      await patchChunk(reg, uploadUrl, offset, CHUNK, patternStream(seed, offset, CHUNK));
    }
    const put = await request('PUT', withDigest(uploadUrl, digest), {
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': CHUNK },
      body: patternStream(seed, TOTAL - CHUNK, CHUNK),
    });
    assert.equal(put.status, 201, `closing PUT: ${put.status} ${put.body.toString()}`);
    assert.equal(put.header('docker-content-digest'), digest);
    assert.equal(new URL(put.header('location'), reg.url).pathname, `/v2/${repo}/blobs/${digest}`);

    const headAfter = await request('HEAD', `${reg.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(headAfter.status, 200);
    assert.equal(headAfter.header('content-length'), String(TOTAL));
    const got = await requestDigest('GET', `${reg.url}/v2/${repo}/blobs/${digest}`);
    assert.equal(got.status, 200);
    assert.equal(got.length, TOTAL);
    assert.equal(`sha256:${got.sha256}`, digest, 'GET returns exactly the pushed bytes');

    // The session is gone and nothing is left in the uploads directory.
    const gone = await request('GET', uploadUrl);
    assert.equal(gone.status, 404);
    assert.deepEqual(errorCodes(gone), ['BLOB_UPLOAD_UNKNOWN']);
    assert.deepEqual(readdirSync(uploadsDir(dataDir)), [], 'no upload files left');
    assert.deepEqual(await reg.proc.stop(), { code: 0, signal: null });
  });

  test('kill -9 right after a monolithic upload and a chunked upload completed: both blobs survive intact', async () => {
    const tmp = tempDir();
    dirs.push(tmp.cleanup);
    const dataDir = join(tmp.path, 'data');
    const repo = 'e2e/durable';
    const mono = patternBuffer('mono', 0, 4 * MiB);
    const monoDigest = patternDigest('mono', 4 * MiB);
    const chunkedLen = 3 * MiB + 123;
    const chunkedDigest = patternDigest('chunked', chunkedLen);

    let reg = await startRegistry({ dataDir });
    // Chunked: two PATCHes and an empty closing PUT.
    const post = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/`);
    assert.equal(post.status, 202);
    const uploadUrl = new URL(post.header('location'), reg.url).toString();
    await patchChunk(reg, uploadUrl, 0, 2 * MiB, patternBuffer('chunked', 0, 2 * MiB));
    await patchChunk(reg, uploadUrl, 2 * MiB, chunkedLen - 2 * MiB, patternBuffer('chunked', 2 * MiB, chunkedLen - 2 * MiB));
    const put = await request('PUT', withDigest(uploadUrl, chunkedDigest), { headers: { 'Content-Length': 0 } });
    assert.equal(put.status, 201, `closing PUT: ${put.status} ${put.body.toString()}`);
    // Monolithic last, then kill -9 at once.
    await pushBlob(reg, repo, mono, monoDigest);
    await reg.proc.kill9();

    reg = await startRegistry({ dataDir });
    for (const [digest, len] of [
      [monoDigest, 4 * MiB],
      [chunkedDigest, chunkedLen],
    ] as const) {
      const head = await request('HEAD', `${reg.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(head.status, 200, `HEAD ${digest} after the crash`);
      assert.equal(head.header('content-length'), String(len));
      const got = await requestDigest('GET', `${reg.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.equal(got.length, len);
      assert.equal(`sha256:${got.sha256}`, digest);
    }
    assert.deepEqual(readdirSync(uploadsDir(dataDir)), [], 'no upload files left for completed uploads');
    assert.deepEqual(await reg.proc.stop(), { code: 0, signal: null });
  });

  /**
   * The Range of an upload is what the server has accepted; completing with a body-less
   * PUT ?digest=<digest of exactly those bytes> must succeed (spec: the closing PUT may
   * carry no final chunk). Bytes of an interrupted PATCH beyond the Range must not count.
   *
   * Known server bug (both cases fail; the client-disconnect one in most runs, it is a race):
   * the upload file keeps the interrupted chunk's bytes past the recorded size, and
   * UploadService.finish answers 400 BLOB_UPLOAD_INVALID instead of truncating to the Range.
   * After kill -9 nothing truncates at all; after a client disconnect, FilesystemBlobStore.append's
   * `fh.truncate(offset)` runs after pipeline() destroyed the WriteStream, which closed the fd
   * (autoClose:false does not stop destroy() from closing it): ftruncate fails with EBADF and
   * the error is swallowed.
   */
  for (const how of ['kill -9 of the server', 'client disconnect'] as const) {
    test(`after a PATCH interrupted by ${how}, a body-less PUT completes the accepted bytes`, async () => {
      const tmp = tempDir();
      dirs.push(tmp.cleanup);
      const dataDir = join(tmp.path, 'data');
      const repo = 'e2e/interrupted';
      const seed = `interrupted-${how}`;
      const accepted = 1 * MiB;
      let reg = await startRegistry({ dataDir });
      const post = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/`);
      assert.equal(post.status, 202);
      let uploadUrl = new URL(post.header('location'), reg.url).toString();
      await patchChunk(reg, uploadUrl, 0, accepted, patternBuffer(seed, 0, accepted));

      const slow = slowRequest('PATCH', uploadUrl, {
        headers: { 'Content-Length': 4 * MiB, 'Content-Range': `${accepted}-${accepted + 4 * MiB - 1}` },
      });
      const outcome = slow.response.then(
        (res) => `response ${res.status}`,
        (err: unknown) => `error ${String(err)}`,
      );
      await slow.write(patternBuffer(seed, accepted, MiB));
      const partFile = join(uploadsDir(dataDir), uploadId(uploadUrl));
      // Everything sent so far is on disk and the server is waiting for more: interrupt now.
      await until(() => fileSize(partFile) === accepted + MiB, 5000, 'the sent part of the interrupted chunk on disk');
      await new Promise((r) => setTimeout(r, 100));
      if (how === 'kill -9 of the server') {
        await reg.proc.kill9();
        slow.req.destroy();
        await outcome;
        reg = await startRegistry({ dataDir });
        uploadUrl = rebase(reg, uploadUrl);
      } else {
        slow.req.destroy();
        await outcome;
        await reg.proc.waitFor(() => reg.proc.stdout.includes('"status":499'), 3000, 'the aborted PATCH to be logged');
        await new Promise((r) => setTimeout(r, 200));
      }

      const status = await request('GET', uploadUrl);
      assert.equal(status.status, 204);
      assert.equal(status.header('range'), `0-${accepted - 1}`);
      const digest = patternDigest(seed, accepted);
      const put = await request('PUT', withDigest(uploadUrl, digest), { headers: { 'Content-Length': 0 } });
      assert.equal(
        put.status,
        201,
        `PUT ${new URL(withDigest(uploadUrl, digest)).pathname}?digest=… (Content-Length: 0) after GET status said Range: 0-${accepted - 1}: ` +
          `${put.status} ${put.body.toString()} (upload file holds ${fileSize(partFile)} bytes)`,
      );
      const got = await requestDigest('GET', `${reg.url}/v2/${repo}/blobs/${digest}`);
      assert.equal(got.status, 200);
      assert.equal(`sha256:${got.sha256}`, digest);
      assert.deepEqual(readdirSync(uploadsDir(dataDir)), []);
    });
  }
});
