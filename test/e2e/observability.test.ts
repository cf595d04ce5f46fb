import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { patternBuffer, patternDigest, sha256 } from './support/data.js';
import { request, slowRequest } from './support/http.js';
import { pushBlob, startUpload } from './support/oci.js';
import { killAll, startRegistry, tempDir, type Registry } from './support/registry.js';

const SECRET_BEARER = 'e2e-bearer-SECRET-7f3a9c';
const SECRET_BASIC = Buffer.from('e2euser:e2e-basic-SECRET-51d2').toString('base64');

/** The value of an exact Prometheus sample line `name{labels} value`, or undefined. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && line.split(' ')[0] !== name) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (m === null || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) got[pair[1] ?? ''] = pair[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) return Number(m[3]);
  }
  return undefined;
}

describe('metrics, health and logs', () => {
  const tmp = tempDir();
  let reg: Registry;
  before(async () => {
    reg = await startRegistry({ dataDir: join(tmp.path, 'data') });
  });
  after(async () => {
    await killAll();
    tmp.cleanup();
  });

  test('/healthz answers 200', async () => {
    const res = await request('GET', `${reg.url}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.json(), { status: 'ok' });
  });

  test('/metrics counts requests by route and tracks uploads in flight', async () => {
    const repo = 'e2e/metrics';
    assert.equal((await request('GET', `${reg.url}/v2/`)).status, 200);
    assert.equal((await request('GET', `${reg.url}/v2/`)).status, 200);
    const missing = sha256('not pushed');
    assert.equal((await request('HEAD', `${reg.url}/v2/${repo}/blobs/${missing}`)).status, 404);
    const data = patternBuffer('metrics', 0, 1000);
    await pushBlob(reg, repo, data, patternDigest('metrics', 1000));
    const config = Buffer.from('{}');
    await pushBlob(reg, repo, config, sha256(config));
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: patternDigest('metrics', 1000), size: 1000 }],
      }),
    );
    const put = await request('PUT', `${reg.url}/v2/${repo}/manifests/v1`, {
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    assert.equal(put.status, 201, put.body.toString());
    assert.equal((await request('GET', `${reg.url}/v2/${repo}/tags/list`)).status, 200);

    // A PATCH that is streaming right now is an upload in flight.
    const uploadUrl = await startUpload(reg, repo);
    const slow = slowRequest('PATCH', uploadUrl, { headers: { 'Content-Length': 8192, 'Content-Range': '0-8191' } });
    const patched = slow.response.catch((err: unknown) => err);
    await slow.write(patternBuffer('inflight', 0, 4096));
    let during = '';
    for (let i = 0; i < 50; i++) {
      during = (await request('GET', `${reg.url}/metrics`)).body.toString();
      if (sample(during, 'berth_uploads_in_flight', {}) === 1) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(sample(during, 'berth_uploads_in_flight', {}), 1, `berth_uploads_in_flight during a PATCH:\n${during.split('\n').filter((l) => l.includes('in_flight')).join('\n')}`);
    await slow.write(patternBuffer('inflight', 4096, 4096));
    slow.end();
    const patchRes = await patched;
    assert.ok(!(patchRes instanceof Error), String(patchRes));
    const del = await request('DELETE', uploadUrl);
    assert.equal(del.status, 204);

    const res = await request('GET', `${reg.url}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.header('content-type'), /^text\/plain/);
    const text = res.body.toString();
    assert.match(text, /^# TYPE berth_http_requests_total counter$/m);
    assert.match(text, /^# TYPE berth_uploads_in_flight gauge$/m);
    assert.equal(sample(text, 'berth_uploads_in_flight', {}), 0, 'no upload in flight any more');
    const base = sample(text, 'berth_http_requests_total', { method: 'GET', route: 'base', status: '200' });
    assert.ok(base !== undefined && base >= 2, `GET base 200 counted (${base})`);
    assert.ok((sample(text, 'berth_http_requests_total', { method: 'HEAD', route: 'blob', status: '404' }) ?? 0) >= 1, 'HEAD blob 404 counted');
    assert.ok((sample(text, 'berth_http_requests_total', { method: 'POST', route: 'upload-start', status: '201' }) ?? 0) >= 2, 'monolithic POSTs counted');
    assert.ok((sample(text, 'berth_http_requests_total', { method: 'POST', route: 'upload-start', status: '202' }) ?? 0) >= 1, 'POST start counted');
    assert.ok((sample(text, 'berth_http_requests_total', { method: 'PATCH', route: 'upload', status: '202' }) ?? 0) >= 1, 'PATCH counted');
    assert.ok((sample(text, 'berth_http_requests_total', { method: 'PUT', route: 'manifest', status: '201' }) ?? 0) >= 1, 'manifest PUT counted');
    assert.ok((sample(text, 'berth_http_requests_total', { method: 'GET', route: 'tags', status: '200' }) ?? 0) >= 1, 'tags list counted');
    assert.ok((sample(text, 'berth_http_requests_total', { method: 'GET', route: 'healthz', status: '200' }) ?? 0) >= 1, 'healthz counted');
    // No per-repository or per-digest label values: routes are templates.
    assert.doesNotMatch(text, /e2e\/metrics|sha256:/, 'no repository names or digests in metric labels');
  });

  test('request log lines are JSON with requestId, method, path and status; credentials never logged', async () => {
    const repo = 'e2e/logs';
    const a = await request('GET', `${reg.url}/v2/`, { headers: { Authorization: `Bearer ${SECRET_BEARER}`, 'X-Request-Id': 'e2e-req-1' } });
    assert.equal(a.status, 200);
    assert.equal(a.header('x-request-id'), 'e2e-req-1');
    const b = await request('GET', `${reg.url}/v2/${repo}/manifests/latest`, { headers: { Authorization: `Basic ${SECRET_BASIC}` } });
    assert.equal(b.status, 404);
    const requestIdB = b.header('x-request-id');
    assert.notEqual(requestIdB, '');
    // Credentials in other places a careless logger might copy: an error path, odd headers, query.
    const c = await request('PUT', `${reg.url}/v2/${repo}/manifests/latest?token=${SECRET_BEARER}`, {
      headers: { Authorization: `Bearer ${SECRET_BEARER}`, 'Proxy-Authorization': `Basic ${SECRET_BASIC}`, 'Content-Type': 'application/json' },
      body: '{not json',
    });
    assert.ok(c.status >= 400 && c.status < 500, `bad manifest: ${c.status}`);
    const d = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/?digest=sha256:zz`, {
      headers: { Authorization: `Bearer ${SECRET_BEARER}`, 'Content-Length': 3 },
      body: 'abc',
    });
    assert.equal(d.status, 400);

    // Log lines are written when a response closes; give the last one a moment.
    await reg.proc.waitFor(
      () => reg.proc.logLines().filter((l) => l['msg'] === 'request' && l['path'] === `/v2/${repo}/blobs/uploads/`).length >= 1,
      3000,
      'the last request log line',
    );
    const lines = reg.proc.logLines();
    const requests = lines.filter((l) => l['msg'] === 'request');
    for (const l of requests) {
      assert.equal(typeof l['requestId'], 'string', JSON.stringify(l));
      assert.equal(typeof l['method'], 'string', JSON.stringify(l));
      assert.equal(typeof l['path'], 'string', JSON.stringify(l));
      assert.equal(typeof l['status'], 'number', JSON.stringify(l));
      assert.equal(typeof l['time'], 'string', JSON.stringify(l));
      assert.equal(l['level'], 'info');
    }
    const la = requests.find((l) => l['requestId'] === 'e2e-req-1');
    assert.ok(la !== undefined, 'the client X-Request-Id is the logged requestId');
    assert.equal(la['method'], 'GET');
    assert.equal(la['path'], '/v2/');
    assert.equal(la['status'], 200);
    const lb = requests.find((l) => l['requestId'] === requestIdB);
    assert.ok(lb !== undefined, 'the X-Request-Id response header matches the log');
    assert.equal(lb['path'], `/v2/${repo}/manifests/latest`);
    assert.equal(lb['status'], 404);
    assert.ok(requests.some((l) => l['method'] === 'PUT' && l['status'] === c.status));
    assert.ok(requests.some((l) => l['method'] === 'POST' && l['status'] === 400));

    const all = reg.proc.stdout + reg.proc.stderr;
    for (const secret of [SECRET_BEARER, SECRET_BASIC, 'e2e-basic-SECRET-51d2']) {
      assert.ok(!all.includes(secret), `credential ${secret} appears in the output`);
    }
    assert.doesNotMatch(all, /authorization/i);
  });

  test('stops with exit 0', async () => {
    assert.deepEqual(await reg.proc.stop(), { code: 0, signal: null });
  });
});
