import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools, expectOk } from '@berth/test-support/exec';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth, busyboxImage } from './run-helpers.js';

/** A free TCP port on 127.0.0.1 (closed again before use). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return typeof address === 'object' && address !== null ? address.port : 0;
}

async function fetchText(url: string): Promise<string> {
  let last: unknown;
  for (let i = 0; i < 50; i++) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      return await res.text();
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`GET ${url}: ${String(last)}`);
}

/** The bridge network: -p publishes a container port on 127.0.0.1, `port` and `ps` show it. */
describe('published ports', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  let registry: Registry | undefined;
  let dir = '';
  let root = '';
  let image = '';
  const ok = expectOk;

  before(async () => {
    requireTools('skopeo', 'busybox', 'runc', 'conmon', 'ip', 'iptables');
    dir = makeTempDir('ports');
    root = join(dir, 'root');
    const ref = await busyboxImage(join(dir, 'layout'), 'web', { Cmd: ['httpd', '-f', '-p', '8080', '-h', '/www'], ExposedPorts: { '8080/tcp': {} } });
    registry = await startRegistry();
    image = `${registry.url}/ports/web:v1`;
    await skopeoRunner(dir)(['copy', '--dest-tls-verify=false', ref, `docker://${image}`]);
  });

  after(async () => {
    if (root !== '') {
      const ids = (await berth(root, ['ps', '-aq'])).stdout.trim().split('\n').filter((l) => l !== '');
      if (ids.length > 0) await berth(root, ['rm', '-f', ...ids]);
    }
    await registry?.stop();
    if (dir !== '') removeTempDir(dir);
  });

  test('reaches the container from 127.0.0.1 through -p, until the container is removed', withLogs(() => [registryLog(registry)], async () => {
    const port = await freePort();
    // run pulls the image itself
    ok(await berth(root, ['run', '-d', '--name', 'web', '-p', `127.0.0.1:${port}:8080`, image]), 'run -d -p');
    assert.equal(await fetchText(`http://127.0.0.1:${port}/`), 'hello from the container\n');
    assert.equal(ok(await berth(root, ['port', 'web']), 'port').stdout, `8080/tcp -> 127.0.0.1:${port}\n`);
    assert.equal(ok(await berth(root, ['port', 'web', '8080']), 'port 8080').stdout, `127.0.0.1:${port}\n`);
    assert.match(ok(await berth(root, ['ps']), 'ps').stdout, new RegExp(`127\\.0\\.0\\.1:${port}->8080/tcp\\s+web`));
    const inspect = JSON.parse(ok(await berth(root, ['inspect', 'web']), 'inspect').stdout) as { NetworkSettings: { IPAddress: string }; Config: { ExposedPorts: Record<string, unknown> } }[];
    assert.match(inspect[0]?.NetworkSettings.IPAddress ?? '', /^\d+\.\d+\.\d+\.\d+$/);
    assert.deepEqual(Object.keys(inspect[0]?.Config.ExposedPorts ?? {}), ['8080/tcp']);
    // the port is taken: a second container cannot publish it, and leaves nothing behind
    const clash = await berth(root, ['run', '-d', '--name', 'web2', '-p', `127.0.0.1:${port}:8080`, image]);
    assert.equal(clash.code, 1);
    assert.equal(clash.stderr.split('\n').length, 2, clash.stderr);
    assert.doesNotMatch(ok(await berth(root, ['ps', '-a']), 'ps -a').stdout, /web2/);
    ok(await berth(root, ['rm', '-f', 'web']), 'rm -f');
    await assert.rejects(fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(1000) }));
  }));
});
