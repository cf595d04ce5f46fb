import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getManifest, headBlob } from '../support/api.js';
import { containersStore, type Runner } from '../support/containers-storage.js';
import { registryLog, withLogs } from '../support/diagnose.js';
import { requireTools } from '../support/exec.js';
import { buildMultiArchImage, buildTestImage, MT, type BuiltImage, type Descriptor } from '../support/images.js';
import { startRegistry, type Registry } from '../support/registry.js';
import { loggedRequests, serverProblems } from '../support/registry-log.js';
import { skopeoRunner } from '../support/skopeo.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

describe('podman interop', () => {
  let registry: Registry | undefined;
  let dir = '';
  let podman: Runner;
  let image: BuiltImage;
  let multi: { index: Descriptor; images: BuiltImage[] };
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => [registryLog(registry)], fn));
  };
  const reg = (): Registry => {
    assert.ok(registry, 'registry did not start');
    return registry;
  };
  const ref = (repoTag: string): string => `${reg().url}/${repoTag}`;
  const inspect = async (name: string): Promise<{ id: string; digest: string }> => {
    const out = (await podman(['image', 'inspect', '--format', '{{.Id}} {{.Digest}}', name])).stdout.trim();
    const [id = '', digest = ''] = out.split(' ');
    return { id: `sha256:${id}`, digest };
  };

  before(async () => {
    requireTools('podman', 'skopeo', 'busybox');
    dir = makeTempDir('podman');
    ({ podman } = containersStore(join(dir, 'containers')));
    const layout = join(dir, 'layout');
    const single = await buildTestImage(layout, 'v1', { marker: 'podman v1', randomLayerSize: 1024 * 1024 });
    const m = await buildMultiArchImage(layout, 'multi', 'podman multi');
    image = single.image;
    multi = m;
    registry = await startRegistry();
    const skopeo = skopeoRunner(dir);
    await skopeo(['copy', '--dest-tls-verify=false', single.ref, `docker://${ref('interop/podman-src:v1')}`]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', m.ref, `docker://${ref('interop/podman-src:multi')}`]);
  });

  after(async () => {
    await registry?.stop();
    if (dir !== '') removeTempDir(dir);
  });

  it('podman pull by tag', async () => {
    await podman(['pull', '--tls-verify=false', ref('interop/podman-src:v1')]);
    const got = await inspect(ref('interop/podman-src:v1'));
    assert.equal(got.id, image.config.digest, 'image ID is the config digest');
    assert.equal(got.digest, image.manifest.digest);
  });

  it('podman push keeps the OCI manifest, --format v2s2 converts it', async () => {
    const digestFile = join(dir, 'oci.digest');
    await podman([
      'push', '--tls-verify=false', '--digestfile', digestFile, ref('interop/podman-src:v1'), `docker://${ref('interop/podman:oci')}`,
    ]);
    const oci = await getManifest(reg(), 'interop/podman', 'oci');
    assert.equal(oci.status, 200);
    assert.equal(oci.contentType, MT.ociManifest);
    assert.equal(oci.bodyDigest, readFileSync(digestFile, 'utf8').trim());

    const v2File = join(dir, 'v2s2.digest');
    await podman([
      'push', '--tls-verify=false', '--format', 'v2s2', '--digestfile', v2File,
      ref('interop/podman-src:v1'), `docker://${ref('interop/podman:v2s2')}`,
    ]);
    const v2 = await getManifest(reg(), 'interop/podman', 'v2s2');
    assert.equal(v2.status, 200);
    assert.equal(v2.contentType, MT.dockerManifest);
    assert.equal(v2.bodyDigest, readFileSync(v2File, 'utf8').trim());
    assert.equal(v2.digestHeader, v2.bodyDigest);
    const manifest = JSON.parse(v2.body) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] };
    assert.equal(manifest.config.digest, image.config.digest);
    for (const l of manifest.layers) {
      assert.equal(l.mediaType, MT.dockerLayerGzip);
      assert.equal(await headBlob(reg(), 'interop/podman', l.digest), 200, `layer ${l.digest}`);
    }
  });

  it('podman rmi, then pull by tag and by digest', async () => {
    const pushed = await getManifest(reg(), 'interop/podman', 'v2s2');
    assert.equal(pushed.status, 200, 'push test must run first');
    await podman(['rmi', '--all', '--force']);
    assert.equal((await podman(['images', '--quiet'])).stdout.trim(), '', 'store is empty');

    await podman(['pull', '--tls-verify=false', ref('interop/podman:v2s2')]);
    const byTag = await inspect(ref('interop/podman:v2s2'));
    assert.equal(byTag.id, image.config.digest);
    assert.equal(byTag.digest, pushed.bodyDigest);

    await podman(['rmi', '--all', '--force']);
    await podman(['pull', '--tls-verify=false', ref(`interop/podman@${pushed.bodyDigest}`)]);
    const byDigest = await inspect(ref(`interop/podman@${pushed.bodyDigest}`));
    assert.equal(byDigest.id, image.config.digest);
  });

  it('podman manifest create/add --all/push --all of a multi-arch index', async () => {
    await podman(['manifest', 'create', 'berth-interop-list']);
    await podman(['manifest', 'add', '--all', '--tls-verify=false', 'berth-interop-list', `docker://${ref('interop/podman-src:multi')}`]);
    const digestFile = join(dir, 'list.digest');
    await podman([
      'manifest', 'push', '--all', '--tls-verify=false', '--digestfile', digestFile,
      'berth-interop-list', `docker://${ref('interop/podman:list')}`,
    ]);
    const list = await getManifest(reg(), 'interop/podman', 'list');
    assert.equal(list.status, 200);
    assert.equal(list.bodyDigest, readFileSync(digestFile, 'utf8').trim());
    const body = JSON.parse(list.body) as { manifests: Descriptor[] };
    assert.deepEqual(
      body.manifests.map((d) => d.platform?.architecture).sort(),
      multi.images.map((i) => i.platform.architecture).sort(),
    );
    for (const child of body.manifests) {
      const got = await getManifest(reg(), 'interop/podman', child.digest);
      assert.equal(got.status, 200, `child ${child.digest} in the target repository`);
      assert.equal(got.bodyDigest, child.digest);
    }
  });

  it('the registry answered no request with a 5xx and logged no errors', async () => {
    assert.ok(loggedRequests(reg()).length > 0, `no request lines found in ${reg().logFile}`);
    assert.deepEqual(serverProblems(reg()), []);
  });
});
