import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { openHarness, pushImage, sha256, type Harness } from './harness.js';

/** Garbage in: every answer is a 4xx with an OCI error body; never a 5xx or a hang. */
describe('hostile input never produces a 5xx', () => {
  let h: Harness;
  let digest: string;
  before(async () => {
    h = await openHarness();
    digest = (await pushImage(h.app, 'h/app', 'v1')).digest;
  });
  after(() => h.close());

  const paths = [
    '/v2/../../etc/passwd/blobs/sha256:' + 'a'.repeat(64),
    '/v2/h/app/blobs/sha256%3A' + 'a'.repeat(64),
    '/v2/h/app/blobs/%E0%A4%A',
    '/v2/h%00app/manifests/v1',
    '/v2/h/app/manifests/%2e%2e%2f%2e%2e',
    '/v2/' + 'a/'.repeat(300) + 'manifests/v1',
    '/v2/h/app/manifests/' + 'x'.repeat(5000),
    '/v2/h/app/blobs/uploads/..%2F..%2Fetc%2Fpasswd',
    '/v2/h/app/tags/list?n=1&n=2&last=a&last=b',
    '/v2/h/app/tags/list?last=' + 'z'.repeat(600),
    '/v2/_catalog?n=%ff',
    '/v2/h/app/referrers/sha256:' + 'a'.repeat(64) + '?artifactType=' + 'q'.repeat(2000),
    '/v2/h/app/blobs/uploads/?mount=' + sha256('x') + '&from=../../x',
    '/v2/h/app/blobs/uploads/?digest=sha256:short',
    '/v2/h/app/blobs/uploads/?digest[a]=b',
  ];
  for (const path of paths) {
    for (const method of ['get', 'head', 'put', 'post', 'patch', 'delete'] as const) {
      test(`${method.toUpperCase()} ${path.slice(0, 60)}`, async () => {
        const res = await request(h.app)[method](path);
        assert.ok(res.status < 500, `status ${res.status}`);
      });
    }
  }

  test('absurd ranges and Content-Ranges', async () => {
    for (const range of ['bytes=99999999999999999999-', 'bytes=-99999999999999999999', 'bytes=5-2', 'bytes=-0', 'bytes=0-0,0-0,0-0']) {
      const res = await request(h.app).get(`/v2/h/app/blobs/${digest}`).set('Range', range);
      assert.ok(res.status < 500, `${range}: ${res.status}`);
    }
    const loc = (await request(h.app).post('/v2/h/app/blobs/uploads/').expect(202)).headers['location'] as string;
    for (const cr of ['999999999999999-9999999999999999', '0-99999999999999999999', '-1-5', '']) {
      const res = await request(h.app).patch(loc).set('Content-Range', cr).set('Content-Type', 'application/octet-stream').send(Buffer.from('abc'));
      assert.ok(res.status < 500, `${cr}: ${res.status}`);
    }
  });

  test('two concurrent PATCHes on one session: one is refused with 416, the upload stays consistent', async () => {
    const loc = (await request(h.app).post('/v2/h/app/blobs/uploads/').expect(202)).headers['location'] as string;
    const body = Buffer.alloc(2 * 1024 * 1024, 1);
    const results = await Promise.all([
      request(h.app).patch(loc).set('Content-Type', 'application/octet-stream').send(body),
      request(h.app).patch(loc).set('Content-Type', 'application/octet-stream').send(body),
    ]);
    const statuses = results.map((r) => r.status).sort();
    assert.ok(statuses.every((s) => s === 202 || s === 416), statuses.join(','));
    const status = await request(h.app).get(loc).expect(204);
    const accepted = statuses.filter((s) => s === 202).length;
    assert.equal(status.headers['range'], `0-${accepted * body.length - 1}`);
    const whole = Buffer.concat(Array.from({ length: accepted }, () => body));
    await request(h.app).put(`${loc}?digest=${sha256(whole)}`).expect(201);
  });

  test('deeply nested or huge-number JSON manifests are MANIFEST_INVALID', async () => {
    for (const body of ['['.repeat(100000) + ']'.repeat(100000), '{"schemaVersion":2e400}', '{"schemaVersion":2,"config":{"mediaType":"x","digest":"' + digest + '","size":1e30},"layers":[]}']) {
      const res = await request(h.app).put('/v2/h/app/manifests/bad').set('Content-Type', 'application/vnd.oci.image.manifest.v1+json').send(body);
      assert.equal(res.status, 400, body.slice(0, 40));
    }
  });
});
