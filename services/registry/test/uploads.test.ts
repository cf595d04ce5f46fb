import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { errorCode, listAll, openHarness, pushBlob, sha256, type Harness } from './harness.js';
import { raw } from './raw.js';

async function startUpload(h: Harness, name: string): Promise<string> {
  const res = await request(h.app).post(`/v2/${name}/blobs/uploads/`).expect(202);
  return res.headers['location'] as string;
}

describe('uploads: sessions, chunks and completion', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness();
  });
  after(() => h.close());

  test('POST opens a session: 202 with Location, Range 0-0, Docker-Upload-UUID', async () => {
    const res = await request(h.app).post('/v2/up/one/blobs/uploads/').expect(202);
    const uuid = res.headers['docker-upload-uuid'] as string;
    assert.match(uuid, /^[0-9a-f-]{36}$/);
    assert.equal(res.headers['location'], `/v2/up/one/blobs/uploads/${uuid}`);
    assert.equal(res.headers['range'], '0-0');
    assert.equal(res.headers['content-length'], '0');
  });

  test('POST then PUT with the whole body: 201 with Location and digest', async () => {
    const data = Buffer.from('post then put');
    const loc = await startUpload(h, 'up/one');
    const res = await request(h.app).put(`${loc}?digest=${sha256(data)}`).set('Content-Type', 'application/octet-stream').send(data).expect(201);
    assert.equal(res.headers['location'], `/v2/up/one/blobs/${sha256(data)}`);
    assert.equal(res.headers['docker-content-digest'], sha256(data));
    const got = await raw(request(h.app).get(`/v2/up/one/blobs/${sha256(data)}`)).expect(200);
    assert.deepEqual(got.body, data);
  });

  test('chunked PATCHes with Content-Range, then an empty PUT', async () => {
    const parts = ['first-', 'second-', 'third'];
    const whole = Buffer.from(parts.join(''));
    const loc = await startUpload(h, 'up/chunks');
    let offset = 0;
    for (const p of parts) {
      const res = await request(h.app)
        .patch(loc)
        .set('Content-Type', 'application/octet-stream')
        .set('Content-Range', `${offset}-${offset + p.length - 1}`)
        .send(Buffer.from(p))
        .expect(202);
      offset += p.length;
      assert.equal(res.headers['range'], `0-${offset - 1}`);
      assert.equal(res.headers['location'], loc);
    }
    const status = await request(h.app).get(loc).expect(204);
    assert.equal(status.headers['range'], `0-${whole.length - 1}`);
    assert.equal(status.headers['location'], loc);
    await request(h.app).put(`${loc}?digest=${sha256(whole)}`).expect(201);
    const got = await raw(request(h.app).get(`/v2/up/chunks/blobs/${sha256(whole)}`)).expect(200);
    assert.deepEqual(got.body, whole);
  });

  test('streamed PATCH without Content-Range (as docker sends), last chunk in the PUT', async () => {
    const loc = await startUpload(h, 'up/stream');
    await request(h.app).patch(loc).set('Content-Type', 'application/octet-stream').send(Buffer.from('stream-a')).expect(202);
    await request(h.app)
      .put(`${loc}?digest=${sha256('stream-a-and-b')}`)
      .set('Content-Type', 'application/octet-stream')
      .set('Content-Range', '8-13')
      .send(Buffer.from('-and-b'))
      .expect(201);
  });

  test('an out-of-order chunk is a 416 carrying the current Range; the upload goes on', async () => {
    const loc = await startUpload(h, 'up/order');
    await request(h.app).patch(loc).set('Content-Range', '0-3').set('Content-Type', 'application/octet-stream').send(Buffer.from('abcd')).expect(202);
    const gap = await request(h.app).patch(loc).set('Content-Range', '10-13').set('Content-Type', 'application/octet-stream').send(Buffer.from('wxyz')).expect(416);
    assert.equal(gap.headers['range'], '0-3');
    assert.equal(errorCode(gap), 'RANGE_INVALID');
    const overlap = await request(h.app).patch(loc).set('Content-Range', '2-5').set('Content-Type', 'application/octet-stream').send(Buffer.from('cdef')).expect(416);
    assert.equal(overlap.headers['range'], '0-3');
    await request(h.app).patch(loc).set('Content-Range', '4-7').set('Content-Type', 'application/octet-stream').send(Buffer.from('efgh')).expect(202);
    await request(h.app).put(`${loc}?digest=${sha256('abcdefgh')}`).expect(201);
  });

  test('a malformed Content-Range, or one disagreeing with the length, is a 416', async () => {
    const loc = await startUpload(h, 'up/badrange');
    const bad = await request(h.app).patch(loc).set('Content-Range', 'zero-four').set('Content-Type', 'application/octet-stream').send(Buffer.from('abcd')).expect(416);
    assert.equal(bad.headers['range'], '0-0');
    await request(h.app).patch(loc).set('Content-Range', '0-9').set('Content-Type', 'application/octet-stream').send(Buffer.from('abcd')).expect(416);
    const status = await request(h.app).get(loc).expect(204);
    assert.equal(status.headers['range'], '0-0');
  });

  test('a digest that does not match is 400 DIGEST_INVALID and ends the session', async () => {
    const loc = await startUpload(h, 'up/mismatch');
    const res = await request(h.app).put(`${loc}?digest=${sha256('something else')}`).set('Content-Type', 'application/octet-stream').send(Buffer.from('actual')).expect(400);
    assert.equal(errorCode(res), 'DIGEST_INVALID');
    await request(h.app).head(`/v2/up/mismatch/blobs/${sha256('actual')}`).expect(404);
    await request(h.app).head(`/v2/up/mismatch/blobs/${sha256('something else')}`).expect(404);
    await request(h.app).get(loc).expect(404);
  });

  test('PUT without a digest, or with a malformed one, is 400 DIGEST_INVALID', async () => {
    const loc = await startUpload(h, 'up/nodigest');
    assert.equal(errorCode(await request(h.app).put(loc).expect(400)), 'DIGEST_INVALID');
    assert.equal(errorCode(await request(h.app).put(`${loc}?digest=sha256:zzz`).expect(400)), 'DIGEST_INVALID');
    // The session survives a malformed completion request.
    await request(h.app).get(loc).expect(204);
  });

  test('several digest parameters are all verified', async () => {
    const data = Buffer.from('two digests');
    const loc = await startUpload(h, 'up/multi');
    const res = await request(h.app).put(`${loc}?digest=${sha256(data)}&digest=${sha256('other')}`).set('Content-Type', 'application/octet-stream').send(data).expect(400);
    assert.equal(errorCode(res), 'DIGEST_INVALID');
  });

  test('DELETE cancels: 204, then the session is unknown and its data gone', async () => {
    const loc = await startUpload(h, 'up/cancel');
    const uuid = loc.split('/').pop() as string;
    await request(h.app).patch(loc).set('Content-Type', 'application/octet-stream').send(Buffer.from('abandon')).expect(202);
    await request(h.app).delete(loc).expect(204);
    const res = await request(h.app).get(loc).expect(404);
    assert.equal(errorCode(res), 'BLOB_UPLOAD_UNKNOWN');
    assert.ok(!(await listAll(h.blobs.listUploads())).includes(uuid));
    await request(h.app).delete(loc).expect(404);
  });

  test('an unknown or malformed upload id is 404 BLOB_UPLOAD_UNKNOWN', async () => {
    for (const id of ['00000000-0000-0000-0000-000000000000', 'not-a-uuid', '..%2F..%2Fetc']) {
      for (const method of ['get', 'patch', 'put', 'delete'] as const) {
        const url = method === 'put' ? `/v2/up/x/blobs/uploads/${id}?digest=${sha256('x')}` : `/v2/up/x/blobs/uploads/${id}`;
        const res = await request(h.app)[method](url).expect(404);
        assert.equal(errorCode(res), 'BLOB_UPLOAD_UNKNOWN', `${method} ${id}`);
      }
    }
  });

  test('a session belongs to its repository', async () => {
    const loc = await startUpload(h, 'up/owner');
    const other = loc.replace('/v2/up/owner/', '/v2/up/thief/');
    assert.equal(errorCode(await request(h.app).get(other).expect(404)), 'BLOB_UPLOAD_UNKNOWN');
  });

  test('monolithic POST ?digest= with the wrong digest stores nothing', async () => {
    const before = (await listAll(h.blobs.listUploads())).length;
    const res = await request(h.app).post(`/v2/up/mono/blobs/uploads/?digest=${sha256('x')}`).set('Content-Type', 'application/octet-stream').send(Buffer.from('y')).expect(400);
    assert.equal(errorCode(res), 'DIGEST_INVALID');
    await request(h.app).head(`/v2/up/mono/blobs/${sha256('y')}`).expect(404);
    assert.equal((await listAll(h.blobs.listUploads())).length, before);
  });

  test('an empty blob can be pushed', async () => {
    await request(h.app).post(`/v2/up/empty/blobs/uploads/?digest=${sha256('')}`).expect(201);
    const res = await request(h.app).head(`/v2/up/empty/blobs/${sha256('')}`).expect(200);
    assert.equal(res.headers['content-length'], '0');
  });

  test('pushing the same blob twice is fine and stores it once', async () => {
    const d1 = await pushBlob(h.app, 'up/dup', 'same bytes');
    const d2 = await pushBlob(h.app, 'up/dup2', 'same bytes');
    assert.equal(d1, d2);
    assert.deepEqual((await listAll(h.blobs.list())).filter((d) => d === d1), [d1]);
  });
});

describe('uploads: cross-repository mount', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness();
  });
  after(() => h.close());

  test('mounting a blob the source has: 201 and readable in the target', async () => {
    const d = await pushBlob(h.app, 'team/src', 'shared layer');
    const res = await request(h.app).post(`/v2/team/dst/blobs/uploads/?mount=${d}&from=team/src`).expect(201);
    assert.equal(res.headers['location'], `/v2/team/dst/blobs/${d}`);
    assert.equal(res.headers['docker-content-digest'], d);
    await request(h.app).head(`/v2/team/dst/blobs/${d}`).expect(200);
  });

  test('a blob the source lacks falls back to a normal 202 session', async () => {
    const res = await request(h.app).post(`/v2/team/dst/blobs/uploads/?mount=${sha256('nowhere')}&from=team/src`).expect(202);
    assert.match(res.headers['location'] as string, /^\/v2\/team\/dst\/blobs\/uploads\/[0-9a-f-]{36}$/);
  });

  test('bad mount arguments fall back to a session too', async () => {
    await request(h.app).post('/v2/team/dst/blobs/uploads/?mount=garbage&from=team/src').expect(202);
    await request(h.app).post(`/v2/team/dst/blobs/uploads/?mount=${sha256('x')}&from=BAD..NAME`).expect(202);
  });

  test('a blob only in another repository cannot be mounted from a third', async () => {
    const d = await pushBlob(h.app, 'team/private', 'secret layer');
    await request(h.app).post(`/v2/team/dst/blobs/uploads/?mount=${d}&from=team/src`).expect(202);
    await request(h.app).head(`/v2/team/dst/blobs/${d}`).expect(404);
  });
});

describe('uploads: limits, restart and expiry', () => {
  test('a blob over limits.blobsize is refused with SIZE_INVALID and leaves nothing', async () => {
    const h = await openHarness({ BERTH_LIMITS_BLOBSIZE: '1k' });
    try {
      const big = Buffer.alloc(4096, 7);
      const res = await request(h.app).post(`/v2/lim/it/blobs/uploads/?digest=${sha256(big)}`).set('Content-Type', 'application/octet-stream').send(big);
      assert.equal(res.status, 400);
      assert.equal(errorCode(res), 'SIZE_INVALID');
      await request(h.app).head(`/v2/lim/it/blobs/${sha256(big)}`).expect(404);
      assert.deepEqual(await listAll(h.blobs.listUploads()), []);
    } finally {
      await h.close();
    }
  });

  test('sessions beyond uploads.maxsessions are refused with 429 TOOMANYREQUESTS', async () => {
    const h = await openHarness({ BERTH_UPLOADS_MAXSESSIONS: '2' });
    try {
      await startUpload(h, 'max/s');
      await startUpload(h, 'max/s');
      const res = await request(h.app).post('/v2/max/s/blobs/uploads/').expect(429);
      assert.equal(errorCode(res), 'TOOMANYREQUESTS');
      assert.ok(res.headers['retry-after']);
    } finally {
      await h.close();
    }
  });

  test('an upload survives a restart and its digest is computed from the stored bytes', async () => {
    let h = await openHarness();
    try {
      const loc = await startUpload(h, 'restart/me');
      await request(h.app).patch(loc).set('Content-Type', 'application/octet-stream').send(Buffer.from('before restart|')).expect(202);
      h = await h.reopen();
      const status = await request(h.app).get(loc).expect(204);
      assert.equal(status.headers['range'], '0-14');
      await request(h.app).patch(loc).set('Content-Range', '15-27').set('Content-Type', 'application/octet-stream').send(Buffer.from('after restart')).expect(202);
      const whole = 'before restart|after restart';
      await request(h.app).put(`${loc}?digest=${sha256('wrong')}`).expect(400);
      const loc2 = await startUpload(h, 'restart/me');
      await request(h.app).patch(loc2).set('Content-Type', 'application/octet-stream').send(Buffer.from('before restart|')).expect(202);
      h = await h.reopen();
      await request(h.app).put(`${loc2}?digest=${sha256(whole)}`).set('Content-Type', 'application/octet-stream').send(Buffer.from('after restart')).expect(201);
      const got = await raw(request(h.app).get(`/v2/restart/me/blobs/${sha256(whole)}`)).expect(200);
      assert.equal((got.body as Buffer).toString(), whole);
    } finally {
      await h.close();
    }
  });

  test('purge ends sessions idle past the expiry and removes their data', async () => {
    const h = await openHarness();
    try {
      const loc = await startUpload(h, 'old/upload');
      await request(h.app).patch(loc).set('Content-Type', 'application/octet-stream').send(Buffer.from('stale')).expect(202);
      assert.equal(await h.registry.uploads.purge(Date.now() - 60_000), 0);
      assert.equal(await h.registry.uploads.purge(Date.now() + 1), 1);
      await request(h.app).get(loc).expect(404);
      assert.deepEqual(await listAll(h.blobs.listUploads()), []);
    } finally {
      await h.close();
    }
  });

  test('upload data with no session (a crash between the two) is removed at start', async () => {
    const h = await openHarness();
    try {
      await h.blobs.startUpload('11111111-2222-3333-4444-555555555555');
      assert.equal(await h.registry.uploads.removeOrphans(), 1);
      assert.deepEqual(await listAll(h.blobs.listUploads()), []);
    } finally {
      await h.close();
    }
  });
});
