import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getManifest, headBlob, listTags } from '../support/api.js';
import { registryLog, withLogs } from '../support/diagnose.js';
import { requireTools, type RunResult } from '../support/exec.js';
import { buildMultiArchImage, buildTestImage, MT, sha256, type BuiltImage, type Descriptor } from '../support/images.js';
import { startRegistry, type Registry } from '../support/registry.js';
import { loggedRequests, serverProblems } from '../support/registry-log.js';
import { skopeoRunner } from '../support/skopeo.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

describe('skopeo interop', () => {
  let registry: Registry | undefined;
  let dir = '';
  let skopeo: (args: readonly string[], allowFailure?: boolean) => Promise<RunResult>;
  let v1: { ref: string; image: BuiltImage };
  let doomed: { ref: string; image: BuiltImage };
  let zstd: { ref: string; image: BuiltImage };
  let multi: { ref: string; index: Descriptor; images: BuiltImage[] };
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => [registryLog(registry)], fn));
  };
  const reg = (): Registry => {
    assert.ok(registry, 'registry did not start');
    return registry;
  };
  const docker = (repoTag: string): string => `docker://${reg().url}/${repoTag}`;

  before(async () => {
    requireTools('skopeo', 'busybox');
    dir = makeTempDir('skopeo');
    skopeo = skopeoRunner(dir);
    const layout = join(dir, 'layout');
    v1 = await buildTestImage(layout, 'v1', { marker: 'skopeo v1', randomLayerSize: 2 * 1024 * 1024 });
    doomed = await buildTestImage(layout, 'doomed', { marker: 'skopeo doomed' });
    zstd = await buildTestImage(layout, 'zstd', { marker: 'skopeo zstd', randomLayerSize: 64 * 1024 });
    multi = await buildMultiArchImage(layout, 'multi', 'skopeo multi');
    // tiny pages, so list-tags has to follow Berth's Link header
    registry = await startRegistry({ berthEnv: { BERTH_LIMITS_PAGESIZE: '2' } });
  });

  after(async () => {
    await registry?.stop();
    if (dir !== '') removeTempDir(dir);
  });

  it('copies an OCI layout into the registry and back unchanged', async () => {
    const digestFile = join(dir, 'push.digest');
    await skopeo(['copy', '--dest-tls-verify=false', '--digestfile', digestFile, v1.ref, docker('interop/skopeo:v1')]);
    assert.equal(readFileSync(digestFile, 'utf8').trim(), v1.image.manifest.digest, 'pushed manifest digest');

    const m = await getManifest(reg(), 'interop/skopeo', 'v1');
    assert.equal(m.status, 200);
    assert.equal(m.digestHeader, v1.image.manifest.digest, 'Docker-Content-Digest header');
    assert.equal(m.bodyDigest, v1.image.manifest.digest, 'manifest bytes preserved');
    assert.equal(m.contentType, MT.ociManifest);
    for (const layer of [...v1.image.layers, v1.image.config]) {
      assert.equal(await headBlob(reg(), 'interop/skopeo', layer.digest), 200, `HEAD blob ${layer.digest}`);
    }

    const back = join(dir, 'back');
    const backDigest = join(dir, 'pull.digest');
    await skopeo(['copy', '--src-tls-verify=false', '--digestfile', backDigest, docker('interop/skopeo:v1'), `oci:${back}:v1`]);
    assert.equal(readFileSync(backDigest, 'utf8').trim(), v1.image.manifest.digest, 'pulled manifest digest');
    const index = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    assert.equal(index.manifests[0]?.digest, v1.image.manifest.digest);
    for (const blob of [v1.image.manifest, v1.image.config, ...v1.image.layers]) {
      const bytes = readFileSync(join(back, 'blobs', 'sha256', blob.digest.slice('sha256:'.length)));
      assert.equal(sha256(bytes), blob.digest, `blob ${blob.digest} round-trips`);
      assert.equal(bytes.length, blob.size);
    }
  });

  it('inspects an image (parsed, --raw and --config)', async () => {
    const info = JSON.parse(
      (await skopeo(['inspect', '--tls-verify=false', docker('interop/skopeo:v1')])).stdout,
    ) as { Digest: string; Architecture: string; Os: string; Layers: string[]; Labels: Record<string, string> };
    assert.equal(info.Digest, v1.image.manifest.digest);
    assert.equal(info.Architecture, 'amd64');
    assert.equal(info.Os, 'linux');
    assert.deepEqual(info.Layers, v1.image.layers.map((l) => l.digest));
    assert.equal(info.Labels['org.berth.test'], 'skopeo v1');

    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', docker('interop/skopeo:v1')]);
    assert.equal(sha256(raw.stdout), v1.image.manifest.digest, 'raw manifest hashes to its digest');
    assert.equal((JSON.parse(raw.stdout) as { mediaType: string }).mediaType, MT.ociManifest);

    const config = await skopeo(['inspect', '--config', '--raw', '--tls-verify=false', docker('interop/skopeo:v1')]);
    assert.equal(sha256(config.stdout), v1.image.config.digest, 'raw config hashes to its digest');

    const byDigest = await skopeo([
      'inspect', '--raw', '--tls-verify=false', docker(`interop/skopeo@${v1.image.manifest.digest}`),
    ]);
    assert.equal(sha256(byDigest.stdout), v1.image.manifest.digest, 'inspect by digest');
  });

  it('lists tags', async () => {
    for (const tag of ['v2', 'latest']) {
      await skopeo(['copy', '--dest-tls-verify=false', v1.ref, docker(`interop/skopeo:${tag}`)]);
    }
    const out = JSON.parse(
      (await skopeo(['list-tags', '--tls-verify=false', `docker://${reg().url}/interop/skopeo`])).stdout,
    ) as { Repository: string; Tags: string[] };
    assert.equal(out.Repository, `${reg().url}/interop/skopeo`);
    assert.deepEqual([...out.Tags].sort(), ['latest', 'v1', 'v2']);
    if (reg().kind === 'berth') {
      // Distribution does not paginate unless asked; Berth was started with 2 tags a page
      const first = await fetch(`${reg().base}/v2/interop/skopeo/tags/list`);
      await first.arrayBuffer();
      assert.match(first.headers.get('link') ?? '', /rel="next"/, 'first page links to the next');
    }
  });

  it('deletes an image', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', doomed.ref, docker('interop/skopeo:doomed')]);
    assert.equal((await getManifest(reg(), 'interop/skopeo', 'doomed')).status, 200);
    await skopeo(['delete', '--tls-verify=false', docker('interop/skopeo:doomed')]);

    const gone = await skopeo(['inspect', '--raw', '--tls-verify=false', docker('interop/skopeo:doomed')], true);
    assert.notEqual(gone.code, 0, 'inspect after delete must fail');
    assert.match(gone.stderr, /manifest unknown|not found/i);
    assert.equal((await getManifest(reg(), 'interop/skopeo', doomed.image.manifest.digest)).status, 404);
    assert.ok(!(await listTags(reg(), 'interop/skopeo')).includes('doomed'), 'deleted tag no longer listed');
    // the other image in the repository is untouched
    assert.equal((await getManifest(reg(), 'interop/skopeo', 'v1')).status, 200);
  });

  it('copies a multi-arch index with --all', async () => {
    const digestFile = join(dir, 'multi.digest');
    await skopeo([
      'copy', '--all', '--dest-tls-verify=false', '--digestfile', digestFile, multi.ref, docker('interop/multi:v1'),
    ]);
    assert.equal(readFileSync(digestFile, 'utf8').trim(), multi.index.digest);

    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', docker('interop/multi:v1')]);
    assert.equal(sha256(raw.stdout), multi.index.digest);
    const index = JSON.parse(raw.stdout) as { mediaType: string; manifests: Descriptor[] };
    assert.equal(index.mediaType, MT.ociIndex);
    assert.deepEqual(index.manifests.map((d) => d.digest), multi.images.map((i) => i.manifest.digest));

    for (const child of multi.images) {
      const got = await getManifest(reg(), 'interop/multi', child.manifest.digest);
      assert.equal(got.status, 200, `child ${child.platform.architecture} by digest`);
      assert.equal(got.bodyDigest, child.manifest.digest);
      assert.equal(got.digestHeader, child.manifest.digest);
      const head = await getManifest(reg(), 'interop/multi', child.manifest.digest, 'HEAD');
      assert.equal(head.status, 200);
    }

    const arm = JSON.parse(
      (
        await skopeo([
          'inspect', '--tls-verify=false', '--override-arch', 'arm64', '--override-variant', 'v8',
          docker('interop/multi:v1'),
        ])
      ).stdout,
    ) as { Digest: string; Architecture: string };
    assert.equal(arm.Architecture, 'arm64');

    const back = join(dir, 'multi-back');
    await skopeo(['copy', '--all', '--src-tls-verify=false', docker('interop/multi:v1'), `oci:${back}:v1`]);
    const backIndex = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    assert.equal(backIndex.manifests[0]?.digest, multi.index.digest, 'index round-trips');
  });

  it('copies with zstd layer compression', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', '--dest-compress-format', 'zstd', zstd.ref, docker('interop/zstd:v1')]);
    const m = await getManifest(reg(), 'interop/zstd', 'v1');
    assert.equal(m.status, 200);
    const manifest = JSON.parse(m.body) as { layers: Descriptor[] };
    // the shared busybox layer may be reused in its gzip form; the image's own layers are new
    assert.deepEqual(
      manifest.layers.slice(1).map((l) => l.mediaType),
      ['application/vnd.oci.image.layer.v1.tar+zstd', 'application/vnd.oci.image.layer.v1.tar+zstd'],
    );
    for (const l of manifest.layers) assert.equal(await headBlob(reg(), 'interop/zstd', l.digest), 200);
    const back = join(dir, 'zstd-back');
    await skopeo(['copy', '--src-tls-verify=false', docker('interop/zstd:v1'), `oci:${back}:v1`]);
    const index = JSON.parse(readFileSync(join(back, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
    assert.equal(index.manifests[0]?.digest, m.bodyDigest);
  });

  it('copies between repositories of the same registry (cross-repo blob mount)', async () => {
    await skopeo(['copy', '--dest-tls-verify=false', v1.ref, docker('interop/source:v1')]);
    const copy = await skopeo([
      '--debug', 'copy', '--src-tls-verify=false', '--dest-tls-verify=false',
      docker('interop/source:v1'), docker('interop/mounted:v1'),
    ]);
    const mounts = copy.stderr.split('\n').filter((l) => l.includes('Trying to mount'));
    assert.ok(mounts.length > 0, `skopeo should try cross-repo mounts; its log:\n${copy.stderr.slice(-3000)}`);
    assert.match(copy.stderr, /mount OK/, 'at least one mount should succeed');
    const m = await getManifest(reg(), 'interop/mounted', 'v1');
    assert.equal(m.status, 200);
    assert.equal(m.bodyDigest, v1.image.manifest.digest);
    for (const blob of [v1.image.config, ...v1.image.layers]) {
      assert.equal(await headBlob(reg(), 'interop/mounted', blob.digest), 200, `blob ${blob.digest} in target repo`);
    }
  });

  it('the registry answered no request with a 5xx and logged no errors', async () => {
    assert.ok(loggedRequests(reg()).length > 0, `no request lines found in ${reg().logFile}`);
    assert.deepEqual(serverProblems(reg()), []);
  });
});
