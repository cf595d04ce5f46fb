import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools } from '@berth/test-support/exec';
import { buildTestImage } from '@berth/test-support/images';
import { freePort } from '@berth/test-support/net';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth } from './berth.js';

const FAKE_HOST = 'registry.berth-proxy.test';

/**
 * A forward proxy on 127.0.0.1 (CONNECT tunnels and absolute-form requests) that knows one
 * name no DNS resolves: FAKE_HOST:port goes to 127.0.0.1:port. It records what it served.
 */
async function startProxy(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const resolveHost = (hostPort: string): { host: string; port: number } => {
    const [host = '', port = '80'] = hostPort.split(':');
    return { host: host === FAKE_HOST ? '127.0.0.1' : host, port: Number(port) };
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/');
    seen.push(`${req.method ?? ''} ${url.host}`);
    const target = resolveHost(url.host);
    const up = httpRequest({ host: target.host, port: target.port, method: req.method, path: `${url.pathname}${url.search}`, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  server.on('connect', (req, socket, head) => {
    seen.push(`CONNECT ${req.url ?? ''}`);
    const target = resolveHost(req.url ?? '');
    const up = connect(target.port, target.host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('berth pull through proxies from the environment', () => {
  let registry: Registry | undefined;
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  let dir = '';
  let port = '';

  before(async () => {
    requireTools('skopeo', 'busybox');
    dir = makeTempDir('proxy');
    registry = await startRegistry({ kind: 'berth' });
    port = registry.url.split(':')[1] ?? '';
    const built = await buildTestImage(join(dir, 'layout'), 'app', { marker: 'proxy' });
    await skopeoRunner(dir)(['copy', '--dest-tls-verify=false', built.ref, `docker://${registry.url}/team/app:v1`]);
    proxy = await startProxy();
  });

  after(async () => {
    await Promise.allSettled([registry?.stop(), proxy?.close()]);
    if (dir !== '') removeTempDir(dir);
  });

  test('HTTP_PROXY carries every request to a registry only the proxy can reach; NO_PROXY and loopback bypass it', withLogs(() => [registryLog(registry)], async () => {
    assert.ok(proxy);
    const name = `${FAKE_HOST}:${port}/team/app:v1`;
    const proxied = await berth(join(dir, 'root-1'), ['pull', '--insecure', name], { HTTP_PROXY: proxy.url, NO_PROXY: '' });
    assert.equal(proxied.code, 0, proxied.stderr);
    assert.ok(proxy.seen.length >= 3 && proxy.seen.every((s) => s.includes(`${FAKE_HOST}:${port}`)), proxy.seen.join('\n'));

    const bypassed = await berth(join(dir, 'root-2'), ['pull', '--insecure', name], { HTTP_PROXY: proxy.url, NO_PROXY: FAKE_HOST });
    assert.equal(bypassed.code, 1, 'NO_PROXY: the name does not resolve without the proxy');
    assert.match(bypassed.stderr, /^berth: cannot reach registry /);

    const dead = `http://127.0.0.1:${await freePort()}`;
    const loopback = await berth(join(dir, 'root-3'), ['pull', `127.0.0.1:${port}/team/app:v1`], { HTTP_PROXY: dead, HTTPS_PROXY: dead, NO_PROXY: '' });
    assert.equal(loopback.code, 0, `loopback registries are never proxied: ${loopback.stderr}`);
  }));
});
