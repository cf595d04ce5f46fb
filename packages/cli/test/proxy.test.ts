import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools } from '@berth/test-support/exec';
import { buildTestImage } from '@berth/test-support/images';
import { freePort } from '@berth/test-support/net';
import { FAKE_HOST, startProxy } from '@berth/test-support/proxy';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth } from './berth.js';

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
