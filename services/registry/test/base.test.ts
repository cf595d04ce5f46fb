import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { errorCode, openHarness, pushBlob, type Harness } from './harness.js';

describe('base endpoints', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness();
  });
  after(() => h.close());

  test('GET /v2/ answers 200 {} with the API version header', async () => {
    const res = await request(h.app).get('/v2/').expect(200);
    assert.equal(res.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.deepEqual(res.body, {});
  });

  test('GET /v2 without the slash is the same endpoint', async () => {
    await request(h.app).get('/v2').expect(200);
  });

  test('HEAD /v2/ answers 200', async () => {
    await request(h.app).head('/v2/').expect(200);
  });

  test('an unknown /v2 path is a 404 with an OCI error body', async () => {
    const res = await request(h.app).get('/v2/foo/unknown/thing').expect(404);
    assert.equal(errorCode(res), 'UNSUPPORTED');
  });

  test('a path outside /v2 is a 404 with an OCI error body', async () => {
    const res = await request(h.app).get('/nope').expect(404);
    assert.equal(errorCode(res), 'UNSUPPORTED');
  });

  test('a method an endpoint does not answer is a 405 with Allow', async () => {
    const res = await request(h.app).post('/v2/foo/manifests/latest').expect(405);
    assert.equal(errorCode(res), 'UNSUPPORTED');
    assert.equal(res.headers['allow'], 'GET, HEAD, PUT, DELETE');
  });

  test('every response carries a request id, the client one when sane', async () => {
    const own = await request(h.app).get('/v2/').set('X-Request-Id', 'abc-123').expect(200);
    assert.equal(own.headers['x-request-id'], 'abc-123');
    const bad = await request(h.app).get('/v2/').set('X-Request-Id', 'x'.repeat(200)).expect(200);
    assert.match(bad.headers['x-request-id'] as string, /^[0-9a-f-]{36}$/);
  });

  test('/healthz answers 200', async () => {
    const res = await request(h.app).get('/healthz').expect(200);
    assert.deepEqual(res.body, { status: 'ok' });
  });

  test('/metrics counts requests by route and exposes uploads in flight', async () => {
    await pushBlob(h.app, 'metrics/repo', 'metric bytes');
    const res = await request(h.app).get('/metrics').expect(200);
    assert.match(res.text, /berth_http_requests_total\{method="POST",route="upload-start",status="201"\} 1/);
    assert.match(res.text, /berth_uploads_in_flight 0/);
    assert.match(res.text, /berth_http_request_duration_seconds_bucket/);
  });
});
