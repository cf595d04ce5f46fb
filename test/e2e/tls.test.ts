import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { patternBuffer, patternDigest } from './support/data.js';
import { request, requestDigest } from './support/http.js';
import { pushBlob } from './support/oci.js';
import { killAll, startRegistry, tempDir, type Registry } from './support/registry.js';

describe('TLS', () => {
  const tmp = tempDir();
  let reg: Registry;
  let ca: string;

  before(async () => {
    const cert = join(tmp.path, 'cert.pem');
    const key = join(tmp.path, 'key.pem');
    execFileSync(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', key, '-out', cert],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    ca = readFileSync(cert, 'utf8');
    reg = await startRegistry({ dataDir: join(tmp.path, 'data'), ca, env: { BERTH_HTTP_TLSCERT: cert, BERTH_HTTP_TLSKEY: key } });
  });
  after(async () => {
    await killAll();
    tmp.cleanup();
  });

  test('GET /v2/ over https with the self-signed CA → 200', async () => {
    assert.equal(reg.url.startsWith('https://'), true);
    const res = await request('GET', `${reg.url}/v2/`, { ca });
    assert.equal(res.status, 200);
    assert.equal(res.header('docker-distribution-api-version'), 'registry/2.0');
    const listening = reg.proc.logLines()[0];
    assert.equal(listening?.['msg'], 'listening');
    assert.equal(listening?.['tls'], true);
  });

  test('a blob round-trips over https', async () => {
    const data = patternBuffer('tls', 0, 256 * 1024);
    const digest = patternDigest('tls', data.length);
    await pushBlob(reg, 'e2e/tls', data, digest);
    const got = await requestDigest('GET', `${reg.url}/v2/e2e/tls/blobs/${digest}`, { ca });
    assert.equal(got.status, 200);
    assert.equal(`sha256:${got.sha256}`, digest);
  });

  test('without the CA the certificate is rejected; plain http to the TLS port gets no 200', async () => {
    await assert.rejects(request('GET', `${reg.url}/v2/`), (err: unknown) => {
      assert.match(String((err as { code?: unknown }).code), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
      return true;
    });
    const plain = await request('GET', `http://127.0.0.1:${reg.port}/v2/`, { timeoutMs: 3000 }).then(
      (r) => r.status,
      () => 'error',
    );
    assert.notEqual(plain, 200);
  });

  test('stops with exit 0', async () => {
    assert.deepEqual(await reg.proc.stop(), { code: 0, signal: null });
  });
});
