import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { run } from '@berth/test-support/exec';
import { FAKE_HOST, startProxy } from '@berth/test-support/proxy';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { proxyFor } from '../src/proxy.js';

describe('proxies from the environment', () => {
  test('which proxy a URL takes: scheme, NO_PROXY entries, loopback never', () => {
    const env = { HTTPS_PROXY: 'http://proxy.corp:3128', HTTP_PROXY: 'proxy.corp:8080', NO_PROXY: 'internal.corp, .svc.local,registry.example:5000' };
    assert.equal(proxyFor(new URL('https://ghcr.io/v2/'), env)?.href, 'http://proxy.corp:3128/');
    assert.equal(proxyFor(new URL('http://10.1.2.3:5000/v2/'), env)?.href, 'http://proxy.corp:8080/');
    assert.equal(proxyFor(new URL('https://internal.corp/v2/'), env), undefined);
    assert.equal(proxyFor(new URL('https://reg.internal.corp/v2/'), env), undefined, 'a subdomain of a NO_PROXY host');
    assert.equal(proxyFor(new URL('https://a.svc.local/v2/'), env), undefined);
    assert.equal(proxyFor(new URL('https://registry.example:5000/v2/'), env), undefined, 'host:port entry');
    assert.ok(proxyFor(new URL('https://registry.example/v2/'), env), 'another port of a host:port entry is proxied');
    assert.equal(proxyFor(new URL('http://127.0.0.1:5000/v2/'), env), undefined);
    assert.equal(proxyFor(new URL('http://localhost:5000/v2/'), env), undefined);
    assert.equal(proxyFor(new URL('https://ghcr.io/'), { ...env, no_proxy: '*' }), undefined, 'lower case wins, * matches all');
    assert.equal(proxyFor(new URL('https://ghcr.io/'), {}), undefined);
  });

  describe('https through a CONNECT tunnel', () => {
    let dir = '';
    let server: Server | undefined;
    let cert = '';
    before(async () => {
      dir = makeTempDir('client-proxy');
      cert = join(dir, 'cert.pem');
      const key = join(dir, 'key.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${FAKE_HOST}`, '-addext', `subjectAltName=DNS:${FAKE_HOST}`, '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
      server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (_req, res) => res.end('hello over tls'));
      await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    });
    after(async () => {
      server?.closeAllConnections();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      removeTempDir(dir);
    });

    test('TLS to the registry runs inside the tunnel, verified against its name', async () => {
      const proxy = await startProxy();
      try {
        const port = (server?.address() as AddressInfo).port;
        const http = new URL('../src/http.js', import.meta.url).href;
        const script = `const { httpRequest } = await import(${JSON.stringify(http)}); const r = await httpRequest({ method: 'GET', url: 'https://${FAKE_HOST}:${port}/v2/', headers: {} }); console.log(r.status, await r.body.text());`;
        const env = { ...process.env, HTTPS_PROXY: proxy.url, NO_PROXY: '', NODE_EXTRA_CA_CERTS: cert };
        const out = await run(process.execPath, ['--input-type=module', '-e', script], { env });
        assert.equal(out.stdout.trim(), '200 hello over tls');
        assert.deepEqual(proxy.seen, [`CONNECT ${FAKE_HOST}:${port}`]);
        // without the CA the tunnel still opens, and TLS verification refuses the server
        const refused = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...env, NODE_EXTRA_CA_CERTS: '' }, allowFailure: true });
        assert.notEqual(refused.code, 0);
        assert.match(refused.stderr, /self.signed|certificate/i);
        // the CA from BERTH_EXTRA_CA_CERTS (where bin/berth moves NODE_EXTRA_CA_CERTS) is trusted the same way
        const moved = await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...env, NODE_EXTRA_CA_CERTS: '', BERTH_EXTRA_CA_CERTS: cert } });
        assert.equal(moved.stdout.trim(), '200 hello over tls');
      } finally {
        await proxy.close();
      }
    });
  });
});
