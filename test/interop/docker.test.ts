import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { getManifest, headBlob } from '../support/api.js';
import { registryLog, withLogs } from '../support/diagnose.js';
import { startDockerd, type DockerDaemon } from '../support/dockerd.js';
import { requireTools, type RunResult } from '../support/exec.js';
import { ARM64, buildMultiArchImage, buildTestImage, MT, type BuiltImage, type Descriptor } from '../support/images.js';
import { startRegistry, type Registry } from '../support/registry.js';
import { loggedRequests, serverProblems } from '../support/registry-log.js';
import { skopeoRunner } from '../support/skopeo.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

interface ManifestJson {
  mediaType: string;
  config?: { digest: string };
  layers?: { digest: string; mediaType: string }[];
  manifests?: { digest: string; mediaType: string; platform?: { architecture: string; os: string } }[];
}

/** "v1: digest: sha256:... size: 945" from docker push output. */
function pushedDigest(out: RunResult): string {
  const m = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(out.stdout);
  assert.ok(m?.[1], `no digest in docker push output:\n${out.stdout}`);
  return m[1];
}

describe('docker CLI interop (private dockerd)', () => {
  let registry: Registry | undefined;
  let dockerd: DockerDaemon | undefined;
  let dir = '';
  let app: BuiltImage;
  let arm: BuiltImage;
  let v1Digest = '';
  let appRef = '';
  let multiRef = '';
  let multi: { index: Descriptor; images: BuiltImage[] };
  let skopeo: (args: readonly string[]) => Promise<RunResult>;
  const it = (name: string, fn: () => Promise<void>): void => {
    test(
      name,
      withLogs(() => [registryLog(registry), dockerd && { name: 'dockerd', logTail: (n) => dockerd?.logTail(n) ?? '' }], fn),
    );
  };
  const docker = (args: readonly string[], allowFailure = false): Promise<RunResult> => {
    assert.ok(dockerd, 'dockerd did not start');
    return dockerd.docker(args, allowFailure);
  };
  const reg = (): Registry => {
    assert.ok(registry, 'registry did not start');
    return registry;
  };
  const ref = (repoTag: string): string => `${reg().url}/${repoTag}`;
  const imageId = async (name: string): Promise<string> =>
    (await docker(['image', 'inspect', '--format', '{{.Id}}', name])).stdout.trim();

  before(async () => {
    requireTools('docker', 'dockerd', 'skopeo', 'busybox');
    dir = makeTempDir('docker');
    const starting = Promise.allSettled([startRegistry(), startDockerd()]);
    const layout = join(dir, 'layout');
    const builtApp = await buildTestImage(layout, 'app', { marker: 'docker app', randomLayerSize: 8 * 1024 * 1024 });
    const builtArm = await buildTestImage(layout, 'arm', { marker: 'docker arm64', platform: ARM64 });
    const builtMulti = await buildMultiArchImage(layout, 'multi', 'docker multi');
    appRef = builtApp.ref;
    multiRef = builtMulti.ref;
    multi = builtMulti;
    app = builtApp.image;
    arm = builtArm.image;
    skopeo = skopeoRunner(dir);
    await skopeo(['copy', builtApp.ref, `docker-archive:${join(dir, 'app.tar')}:berth-interop/app:v1`]);
    await skopeo(['copy', builtArm.ref, `docker-archive:${join(dir, 'arm.tar')}:berth-interop/arm:v1`]);
    const [r, d] = await starting;
    if (r.status === 'fulfilled') registry = r.value;
    if (d.status === 'fulfilled') dockerd = d.value;
    if (r.status === 'rejected') throw r.reason;
    if (d.status === 'rejected') throw d.reason;
    await docker(['load', '-i', join(dir, 'app.tar')]);
    await docker(['load', '-i', join(dir, 'arm.tar')]);
  });

  after(async () => {
    await Promise.allSettled([registry?.stop(), dockerd?.stop()]);
    if (dir !== '') removeTempDir(dir);
  });

  it('docker load gave the image our config digest as its ID', async () => {
    assert.equal(await imageId('berth-interop/app:v1'), app.config.digest);
    assert.equal(await imageId('berth-interop/arm:v1'), arm.config.digest);
  });

  it('docker tag + push', async () => {
    await docker(['tag', 'berth-interop/app:v1', ref('interop/docker:v1')]);
    const out = await docker(['push', ref('interop/docker:v1')]);
    v1Digest = pushedDigest(out);

    const m = await getManifest(reg(), 'interop/docker', 'v1');
    assert.equal(m.status, 200);
    assert.equal(m.bodyDigest, v1Digest);
    assert.equal(m.digestHeader, v1Digest);
    assert.equal(m.contentType, MT.dockerManifest, 'dockerd pushes Docker schema 2');
    const manifest = JSON.parse(m.body) as ManifestJson;
    assert.equal(manifest.config?.digest, app.config.digest, 'config blob unchanged');
    assert.equal(manifest.layers?.length, app.layers.length);
    for (const layer of manifest.layers ?? []) {
      assert.equal(await headBlob(reg(), 'interop/docker', layer.digest), 200, `layer ${layer.digest}`);
    }

    // a second tag of the same image: every layer already exists
    await docker(['tag', 'berth-interop/app:v1', ref('interop/docker:again')]);
    const again = await docker(['push', ref('interop/docker:again')]);
    assert.equal(pushedDigest(again), v1Digest);
    assert.match(again.stdout, /Layer already exists/);
  });

  it('docker rmi, then pull by tag and by digest', async () => {
    assert.ok(v1Digest !== '', 'push test must run first');
    await docker(['rmi', ref('interop/docker:v1'), ref('interop/docker:again'), 'berth-interop/app:v1']);
    assert.notEqual((await docker(['image', 'inspect', app.config.digest], true)).code, 0, 'image removed');

    const byTag = await docker(['pull', ref('interop/docker:v1')]);
    assert.match(byTag.stdout, new RegExp(`Digest: ${v1Digest}`));
    assert.equal(await imageId(ref('interop/docker:v1')), app.config.digest);
    const repoDigests = (await docker(['image', 'inspect', '--format', '{{json .RepoDigests}}', ref('interop/docker:v1')]))
      .stdout;
    assert.ok(repoDigests.includes(`${ref('interop/docker')}@${v1Digest}`), repoDigests);

    await docker(['rmi', ref('interop/docker:v1')]);
    const byDigest = await docker(['pull', ref(`interop/docker@${v1Digest}`)]);
    assert.match(byDigest.stdout, new RegExp(`Digest: ${v1Digest}`));
    assert.equal(await imageId(ref(`interop/docker@${v1Digest}`)), app.config.digest);
  });

  it('docker manifest inspect --insecure', async () => {
    assert.ok(v1Digest !== '', 'push test must run first');
    const out = await docker(['manifest', 'inspect', '--insecure', ref('interop/docker:v1')]);
    const manifest = JSON.parse(out.stdout) as ManifestJson;
    assert.equal(manifest.mediaType, MT.dockerManifest);
    assert.equal(manifest.config?.digest, app.config.digest);
    const verbose = JSON.parse((await docker(['manifest', 'inspect', '--insecure', '-v', ref('interop/docker:v1')])).stdout) as {
      Descriptor: { digest: string };
    };
    assert.equal(verbose.Descriptor.digest, v1Digest);
  });

  it('docker manifest create --insecure + manifest push of a list', async () => {
    assert.ok(v1Digest !== '', 'push test must run first');
    await docker(['tag', 'berth-interop/arm:v1', ref('interop/docker:arm64')]);
    const armDigest = pushedDigest(await docker(['push', ref('interop/docker:arm64')]));

    // the list goes to another repository than its images: docker mounts their blobs and
    // pushes the child manifests by digest there first
    await docker(['manifest', 'create', '--insecure', ref('interop/docker-list:v1'), ref('interop/docker:v1'), ref('interop/docker:arm64')]);
    const pushed = await docker(['manifest', 'push', '--insecure', '--purge', ref('interop/docker-list:v1')]);
    // children are reported first ("Pushed ref ...@sha256:... with digest: ..."), the list last
    const listDigest = pushed.stdout.match(/sha256:[0-9a-f]{64}/g)?.at(-1);
    assert.ok(listDigest, `no digest in manifest push output:\n${pushed.stdout}`);

    const m = await getManifest(reg(), 'interop/docker-list', 'v1');
    assert.equal(m.status, 200);
    assert.equal(m.contentType, MT.dockerList);
    assert.equal(m.bodyDigest, listDigest);
    const list = JSON.parse(m.body) as ManifestJson;
    assert.deepEqual(
      list.manifests?.map((d) => `${d.platform?.architecture} ${d.digest}`).sort(),
      [`amd64 ${v1Digest}`, `arm64 ${armDigest}`],
    );
    for (const child of list.manifests ?? []) {
      const got = await getManifest(reg(), 'interop/docker-list', child.digest);
      assert.equal(got.status, 200, `child ${child.digest} in the list's repository`);
      assert.equal(got.bodyDigest, child.digest);
      const manifest = JSON.parse(got.body) as ManifestJson;
      for (const b of [manifest.config?.digest ?? '', ...(manifest.layers ?? []).map((l) => l.digest)]) {
        assert.equal(await headBlob(reg(), 'interop/docker-list', b), 200, `blob ${b} in the list's repository`);
      }
    }

    const inspected = JSON.parse((await docker(['manifest', 'inspect', '--insecure', ref('interop/docker-list:v1')])).stdout) as ManifestJson;
    assert.equal(inspected.mediaType, MT.dockerList);
    assert.equal(inspected.manifests?.length, 2);

    // pulling the list on this amd64 daemon resolves to the amd64 image
    await docker(['pull', ref('interop/docker-list:v1')]);
    assert.equal(await imageId(ref('interop/docker-list:v1')), app.config.digest);
  });

  it('docker push to a second repository mounts the layers from the first', async () => {
    assert.ok(v1Digest !== '', 'push test must run first');
    await docker(['tag', app.config.digest, ref('interop/docker-mounted:v1')]);
    const out = await docker(['push', ref('interop/docker-mounted:v1')]);
    assert.equal(pushedDigest(out), v1Digest);
    assert.match(out.stdout, /Mounted from interop\/docker/, 'dockerd should mount existing layers cross-repo');
    const m = JSON.parse((await getManifest(reg(), 'interop/docker-mounted', 'v1')).body) as ManifestJson;
    for (const l of m.layers ?? []) {
      assert.equal(await headBlob(reg(), 'interop/docker-mounted', l.digest), 200, `layer ${l.digest}`);
    }
  });

  it('docker pull of OCI manifests and an OCI index pushed by skopeo', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', appRef, `docker://${ref('interop/docker-oci:v1')}`]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', multiRef, `docker://${ref('interop/docker-oci:multi')}`]);
    const single = await docker(['pull', ref('interop/docker-oci:v1')]);
    assert.match(single.stdout, new RegExp(`Digest: ${app.manifest.digest}`));
    assert.equal(await imageId(ref('interop/docker-oci:v1')), app.config.digest);
    const multiOut = await docker(['pull', ref('interop/docker-oci:multi')]);
    assert.match(multiOut.stdout, new RegExp(`Digest: ${multi.index.digest}`));
    const amd64 = multi.images.find((i) => i.platform.architecture === 'amd64');
    assert.equal(await imageId(ref('interop/docker-oci:multi')), amd64?.config.digest, 'amd64 image chosen from the index');
  });

  it('the registry answered no request with a 5xx and logged no errors', async () => {
    assert.ok(loggedRequests(reg()).length > 0, `no request lines found in ${reg().logFile}`);
    assert.deepEqual(serverProblems(reg()), []);
  });
});
