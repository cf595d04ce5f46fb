import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools } from '@berth/test-support/exec';
import { buildTestImage, type BuiltImage } from '@berth/test-support/images';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth, pausingProxy, storeFiles } from './berth.js';

const MiB = 1024 * 1024;

/** A pull cut in the middle by a registry that dies resumes, after the restart, where it stopped. */
describe('berth pull resumes after the registry is killed mid-pull', () => {
  let registry: Registry | undefined;
  let restarted: Registry | undefined;
  let dataDir = '';
  let dir = '';
  let image: BuiltImage;

  before(async () => {
    requireTools('skopeo', 'busybox');
    dir = makeTempDir('resume');
    dataDir = makeTempDir('resume-registry');
    image = (await buildTestImage(join(dir, 'layout'), 'big', { marker: 'resume', randomLayerSize: 48 * MiB })).image;
    registry = await startRegistry({ kind: 'berth', dir: dataDir });
    await skopeoRunner(dir)(['copy', '--dest-tls-verify=false', `oci:${join(dir, 'layout')}:big`, `docker://${registry.url}/team/big:v1`]);
  });

  after(async () => {
    await Promise.allSettled([registry?.stop(), restarted?.stop()]);
    removeTempDir(dataDir);
    if (dir !== '') removeTempDir(dir);
  });

  test('the first pull fails with one line and keeps its partial; the next one sends Range and completes', withLogs(() => [registryLog(registry), registryLog(restarted)], async () => {
    assert.ok(registry);
    const big = image.layers.reduce((a, b) => (b.size > a.size ? b : a));
    const proxy = await pausingProxy(registry.base, big.digest, 20 * MiB);
    const root = join(dir, 'root');
    try {
      const pulling = berth(root, ['pull', `${proxy.url}/team/big:v1`]);
      await proxy.paused;
      await registry.kill();
      proxy.cut();
      const first = await pulling;
      assert.equal(first.code, 1, first.stdout);
      assert.equal(first.stderr.trimEnd().split('\n').length, 1, first.stderr);
      assert.match(first.stderr, /^berth: /);
    } finally {
      await proxy.close();
    }
    const partial = join(root, 'ingest', `sha256-${big.digest.slice(7)}.partial`);
    const kept = statSync(partial).size;
    assert.ok(kept > 0 && kept <= 20 * MiB, `partial of ${kept} bytes kept`);
    assert.equal(storeFiles(root).includes(`blobs/sha256/${big.digest.slice(7)}`), false, 'nothing unverified is visible');

    restarted = await startRegistry({ kind: 'berth', dir: dataDir });
    const second = await berth(root, ['pull', `${restarted.url}/team/big:v1`]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`${big.digest.slice(0, 19)}: downloading .* \\(resuming at `));
    const ranged = restarted.logTail(200).split('\n').filter((l) => l.includes(`/blobs/${big.digest}`) && l.includes('"status":206'));
    assert.equal(ranged.length, 1, `one 206 for the resumed layer:\n${restarted.logTail(20)}`);
    assert.equal(statSync(join(root, 'blobs', 'sha256', big.digest.slice(7))).size, big.size);
    assert.deepEqual(storeFiles(root).filter((f) => f.startsWith('ingest/')), []);
  }));
});
