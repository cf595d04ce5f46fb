import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { errorCode, openHarness, pushBlob, sha256, type Harness } from './harness.js';
import { raw } from './raw.js';

describe('blobs: GET, HEAD, DELETE', () => {
  let h: Harness;
  let digest: string;
  const data = Buffer.from('0123456789abcdefghij');
  before(async () => {
    h = await openHarness();
    digest = await pushBlob(h.app, 'library/app', data);
  });
  after(() => h.close());

  test('HEAD answers size and digest with no body', async () => {
    const res = await request(h.app).head(`/v2/library/app/blobs/${digest}`).expect(200);
    assert.equal(res.headers['content-length'], String(data.length));
    assert.equal(res.headers['docker-content-digest'], digest);
    assert.equal(res.headers['accept-ranges'], 'bytes');
  });

  test('GET streams the exact bytes', async () => {
    const res = await raw(request(h.app).get(`/v2/library/app/blobs/${digest}`)).expect(200);
    assert.deepEqual(res.body, data);
    assert.equal(res.headers['content-type'], 'application/octet-stream');
    assert.equal(res.headers['etag'], `"${digest}"`);
  });

  test('GET with a byte range answers 206 with Content-Range', async () => {
    const res = await raw(request(h.app).get(`/v2/library/app/blobs/${digest}`).set('Range', 'bytes=5-9')).expect(206);
    assert.deepEqual(res.body, data.subarray(5, 10));
    assert.equal(res.headers['content-range'], `bytes 5-9/${data.length}`);
    assert.equal(res.headers['content-length'], '5');
  });

  test('GET with an open-ended and a suffix range', async () => {
    const open = await raw(request(h.app).get(`/v2/library/app/blobs/${digest}`).set('Range', 'bytes=15-')).expect(206);
    assert.deepEqual(open.body, data.subarray(15));
    const suffix = await raw(request(h.app).get(`/v2/library/app/blobs/${digest}`).set('Range', 'bytes=-3')).expect(206);
    assert.deepEqual(suffix.body, data.subarray(data.length - 3));
  });

  test('a range past the end is clamped to the blob', async () => {
    const res = await raw(request(h.app).get(`/v2/library/app/blobs/${digest}`).set('Range', 'bytes=10-1000')).expect(206);
    assert.deepEqual(res.body, data.subarray(10));
  });

  test('a range starting past the end is a 416 with Content-Range */size', async () => {
    const res = await request(h.app).get(`/v2/library/app/blobs/${digest}`).set('Range', 'bytes=100-200').expect(416);
    assert.equal(res.headers['content-range'], `bytes */${data.length}`);
    assert.equal(errorCode(res), 'RANGE_INVALID');
  });

  test('a malformed or multi-range header is ignored: the whole blob', async () => {
    const res = await raw(request(h.app).get(`/v2/library/app/blobs/${digest}`).set('Range', 'bytes=0-1,4-5')).expect(200);
    assert.deepEqual(res.body, data);
    await request(h.app).get(`/v2/library/app/blobs/${digest}`).set('Range', 'pages=1').expect(200);
  });

  test('If-None-Match with the ETag answers 304', async () => {
    await request(h.app).get(`/v2/library/app/blobs/${digest}`).set('If-None-Match', `"${digest}"`).expect(304);
  });

  test('a blob is not readable through a repository it is not linked to', async () => {
    const res = await request(h.app).get(`/v2/other/repo/blobs/${digest}`).expect(404);
    assert.equal(errorCode(res), 'BLOB_UNKNOWN');
    await request(h.app).head(`/v2/other/repo/blobs/${digest}`).expect(404);
  });

  test('an unknown blob is 404 BLOB_UNKNOWN; HEAD has no body', async () => {
    const unknown = sha256('never pushed');
    const res = await request(h.app).get(`/v2/library/app/blobs/${unknown}`).expect(404);
    assert.equal(errorCode(res), 'BLOB_UNKNOWN');
    const head = await request(h.app).head(`/v2/library/app/blobs/${unknown}`).expect(404);
    assert.equal(head.text, undefined);
  });

  for (const bad of ['sha256:abc', 'sha256:' + 'G'.repeat(64), 'notadigest', 'md5:d41d8cd98f00b204e9800998ecf8427e', 'sha256:' + 'a'.repeat(65)]) {
    test(`an invalid digest ${bad.slice(0, 20)}… is 400 DIGEST_INVALID`, async () => {
      const res = await request(h.app).get(`/v2/library/app/blobs/${bad}`).expect(400);
      assert.equal(errorCode(res), 'DIGEST_INVALID');
    });
  }

  for (const bad of ['Upper/case', 'a//b', '-lead', 'trail-', 'a/../b', 'x'.repeat(256)]) {
    test(`an invalid repository name ${bad.slice(0, 16)} is 400 NAME_INVALID`, async () => {
      const res = await request(h.app).get(`/v2/${bad}/blobs/${digest}`).expect(400);
      assert.equal(errorCode(res), 'NAME_INVALID');
    });
  }

  test('sha512 blobs are stored and served under their sha512 digest', async () => {
    const body = Buffer.from('sha512 content');
    const d512 = `sha512:${createHash('sha512').update(body).digest('hex')}`;
    await request(h.app).post(`/v2/library/app/blobs/uploads/?digest=${d512}`).set('Content-Type', 'application/octet-stream').send(body).expect(201);
    const res = await raw(request(h.app).get(`/v2/library/app/blobs/${d512}`)).expect(200);
    assert.deepEqual(res.body, body);
    assert.equal(res.headers['docker-content-digest'], d512);
  });

  test('DELETE unlinks the blob from the repository: 202, then 404', async () => {
    const d = await pushBlob(h.app, 'library/app', 'to be deleted');
    await pushBlob(h.app, 'library/other', 'to be deleted');
    await request(h.app).delete(`/v2/library/app/blobs/${d}`).expect(202);
    await request(h.app).head(`/v2/library/app/blobs/${d}`).expect(404);
    const again = await request(h.app).delete(`/v2/library/app/blobs/${d}`).expect(404);
    assert.equal(errorCode(again), 'BLOB_UNKNOWN');
    // Other repositories keep their link.
    await request(h.app).head(`/v2/library/other/blobs/${d}`).expect(200);
  });

  test('a blob whose bytes vanished from storage is a 404, not a 500', async () => {
    const d = await pushBlob(h.app, 'library/app', 'bytes that will vanish');
    await h.blobs.delete(d);
    const res = await request(h.app).get(`/v2/library/app/blobs/${d}`).expect(404);
    assert.equal(errorCode(res), 'BLOB_UNKNOWN');
  });
});

describe('blobs: deletes disabled', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness({ BERTH_DELETE_ENABLED: 'false' });
  });
  after(() => h.close());

  test('DELETE answers 405 UNSUPPORTED and keeps the blob', async () => {
    const d = await pushBlob(h.app, 'keep/me', 'precious');
    const res = await request(h.app).delete(`/v2/keep/me/blobs/${d}`).expect(405);
    assert.equal(errorCode(res), 'UNSUPPORTED');
    await request(h.app).head(`/v2/keep/me/blobs/${d}`).expect(200);
  });
});
