import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getManifest, headBlob } from '../support/api.js';
import { containersStore, type Runner } from '../support/containers-storage.js';
import { registryLog, withLogs } from '../support/diagnose.js';
import { requireTools, which } from '../support/exec.js';
import { MT } from '../support/images.js';
import { startRegistry, type Registry } from '../support/registry.js';
import { loggedRequests, serverProblems } from '../support/registry-log.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

interface ImageManifest {
  mediaType?: string;
  config: { digest: string; mediaType: string };
  layers: { digest: string; mediaType: string }[];
}

describe('buildah interop', () => {
  let registry: Registry | undefined;
  let dir = '';
  let buildah: Runner;
  let imageId = '';
  let ociDigest = '';
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => [registryLog(registry)], fn));
  };
  const reg = (): Registry => {
    assert.ok(registry, 'registry did not start');
    return registry;
  };
  const ref = (repoTag: string): string => `${reg().url}/${repoTag}`;

  before(async () => {
    requireTools('buildah', 'busybox');
    dir = makeTempDir('buildah');
    ({ buildah } = containersStore(join(dir, 'containers')));
    registry = await startRegistry();
  });

  after(async () => {
    // containers are only directories with vfs, but release buildah's bookkeeping anyway
    if (dir !== '') await buildah(['rm', '--all'], true).catch(() => undefined);
    await registry?.stop();
    if (dir !== '') removeTempDir(dir);
  });

  it('buildah from scratch + copy + commit, then push (OCI)', async () => {
    const hello = join(dir, 'hello.txt');
    writeFileSync(hello, 'hello from buildah\n');
    const ctr = (await buildah(['from', 'scratch'])).stdout.trim();
    await buildah(['copy', ctr, which('busybox') as string, '/bin/busybox']);
    await buildah(['copy', ctr, hello, '/etc/hello.txt']);
    await buildah(['config', '--cmd', '/bin/busybox cat /etc/hello.txt', '--os', 'linux', '--arch', 'amd64', ctr]);
    imageId = (await buildah(['commit', '--quiet', ctr, 'berth-interop/buildah:v1'])).stdout.trim();
    assert.match(imageId, /^[0-9a-f]{64}$/);

    const digestFile = join(dir, 'oci.digest');
    await buildah([
      'push', '--tls-verify=false', '--digestfile', digestFile, 'berth-interop/buildah:v1', `docker://${ref('interop/buildah:v1')}`,
    ]);
    ociDigest = readFileSync(digestFile, 'utf8').trim();
    const m = await getManifest(reg(), 'interop/buildah', 'v1');
    assert.equal(m.status, 200);
    assert.equal(m.contentType, MT.ociManifest);
    assert.equal(m.bodyDigest, ociDigest);
    assert.equal(m.digestHeader, ociDigest);
    const manifest = JSON.parse(m.body) as ImageManifest;
    assert.equal(manifest.config.digest, `sha256:${imageId}`, 'config digest is the image ID');
    for (const b of [manifest.config, ...manifest.layers]) {
      assert.equal(await headBlob(reg(), 'interop/buildah', b.digest), 200, `blob ${b.digest}`);
    }
  });

  it('buildah push --format v2s2', async () => {
    assert.ok(imageId !== '', 'commit test must run first');
    await buildah(['push', '--tls-verify=false', '--format', 'v2s2', 'berth-interop/buildah:v1', `docker://${ref('interop/buildah:v2s2')}`]);
    const m = await getManifest(reg(), 'interop/buildah', 'v2s2');
    assert.equal(m.status, 200);
    assert.equal(m.contentType, MT.dockerManifest);
    const manifest = JSON.parse(m.body) as ImageManifest;
    assert.equal(manifest.config.mediaType, MT.dockerConfig);
  });

  it('buildah rmi, pull back, build on top and push to another repository', async () => {
    assert.ok(ociDigest !== '', 'push test must run first');
    await buildah(['rm', '--all']);
    await buildah(['rmi', '--all', '--force']);
    await buildah(['pull', '--tls-verify=false', ref('interop/buildah:v1')]);
    const pulled = (await buildah(['images', '--format', '{{.ID}}', '--no-trunc'])).stdout.trim();
    assert.equal(pulled.replace(/^sha256:/, ''), imageId, 'pulled image has the pushed config');

    const ctr = (await buildah(['from', '--tls-verify=false', '--pull=never', ref('interop/buildah:v1')])).stdout.trim();
    const extra = join(dir, 'extra.txt');
    writeFileSync(extra, 'second layer\n');
    await buildah(['copy', ctr, extra, '/etc/extra.txt']);
    await buildah(['commit', '--quiet', ctr, 'berth-interop/buildah:v2']);
    const digestFile = join(dir, 'v2.digest');
    await buildah([
      'push', '--tls-verify=false', '--digestfile', digestFile, 'berth-interop/buildah:v2', `docker://${ref('interop/buildah-derived:v2')}`,
    ]);
    const m = await getManifest(reg(), 'interop/buildah-derived', 'v2');
    assert.equal(m.status, 200);
    assert.equal(m.bodyDigest, readFileSync(digestFile, 'utf8').trim());
    const base = JSON.parse((await getManifest(reg(), 'interop/buildah', 'v1')).body) as ImageManifest;
    const derived = JSON.parse(m.body) as ImageManifest;
    assert.equal(derived.layers.length, base.layers.length + 1);
    assert.deepEqual(derived.layers.slice(0, base.layers.length).map((l) => l.digest), base.layers.map((l) => l.digest));
    for (const b of derived.layers) {
      assert.equal(await headBlob(reg(), 'interop/buildah-derived', b.digest), 200, `blob ${b.digest}`);
    }
  });

  it('the registry answered no request with a 5xx and logged no errors', async () => {
    assert.ok(loggedRequests(reg()).length > 0, `no request lines found in ${reg().logFile}`);
    assert.deepEqual(serverProblems(reg()), []);
  });
});
