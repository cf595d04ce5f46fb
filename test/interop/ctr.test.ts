import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { getManifest, headBlob } from '../support/api.js';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { registryLog, withLogs } from '../support/diagnose.js';
import { requireTools } from '../support/exec.js';
import { buildMultiArchImage, buildTestImage, MT, type BuiltImage, type Descriptor } from '../support/images.js';
import { startRegistry, type Registry } from '../support/registry.js';
import { loggedRequests, serverProblems } from '../support/registry-log.js';
import { skopeoRunner } from '../support/skopeo.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

interface ImageRow {
  name: string;
  digest: string;
  mediaType: string;
}

describe('containerd ctr interop', () => {
  let registry: Registry | undefined;
  let containerd: Containerd | undefined;
  let dir = '';
  let image: BuiltImage;
  let multi: { index: Descriptor; images: BuiltImage[] };
  const it = (name: string, fn: () => Promise<void>): void => {
    test(
      name,
      withLogs(
        () => [registryLog(registry), containerd && { name: 'containerd', logTail: (n) => containerd?.logTail(n) ?? '' }],
        fn,
      ),
    );
  };
  const reg = (): Registry => {
    assert.ok(registry, 'registry did not start');
    return registry;
  };
  const ctr = (args: readonly string[]) => {
    assert.ok(containerd, 'containerd did not start');
    return containerd.ctr(args);
  };
  const ref = (repoTag: string): string => `${reg().url}/${repoTag}`;
  /** `ctr images ls` as rows (REF TYPE DIGEST ...). */
  const images = async (): Promise<ImageRow[]> =>
    (await ctr(['images', 'ls']))
      .stdout.trim()
      .split('\n')
      .slice(1)
      .map((line) => line.split(/\s+/))
      .map(([name = '', mediaType = '', digest = '']) => ({ name, mediaType, digest }));

  before(async () => {
    requireTools('ctr', 'containerd', 'skopeo', 'busybox');
    dir = makeTempDir('ctr');
    const starting = Promise.allSettled([startRegistry(), startContainerd()]);
    const layout = join(dir, 'layout');
    const single = await buildTestImage(layout, 'v1', { marker: 'ctr v1', randomLayerSize: 1024 * 1024 });
    const m = await buildMultiArchImage(layout, 'multi', 'ctr multi');
    image = single.image;
    multi = m;
    const [r, c] = await starting;
    if (r.status === 'fulfilled') registry = r.value;
    if (c.status === 'fulfilled') containerd = c.value;
    if (r.status === 'rejected') throw r.reason;
    if (c.status === 'rejected') throw c.reason;
    const skopeo = skopeoRunner(dir);
    await skopeo(['copy', '--dest-tls-verify=false', single.ref, `docker://${ref('interop/ctr-src:v1')}`]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', m.ref, `docker://${ref('interop/ctr-src:multi')}`]);
  });

  after(async () => {
    await Promise.allSettled([registry?.stop(), containerd?.stop()]);
    if (dir !== '') removeTempDir(dir);
  });

  it('ctr images pull --plain-http (tag pushed by skopeo)', async () => {
    await ctr(['images', 'pull', '--plain-http', ref('interop/ctr-src:v1')]);
    const row = (await images()).find((i) => i.name === ref('interop/ctr-src:v1'));
    assert.ok(row, 'image listed');
    assert.equal(row.digest, image.manifest.digest);
    assert.equal(row.mediaType, MT.ociManifest);
    // every blob is in the content store and was verified against its digest
    const content = (await ctr(['content', 'ls', '--quiet'])).stdout;
    for (const b of [image.manifest, image.config, ...image.layers]) assert.ok(content.includes(b.digest), `content ${b.digest}`);
    const check = await ctr(['images', 'check']);
    assert.match(check.stdout, /complete/);
  });

  it('ctr images pull by digest', async () => {
    const name = ref(`interop/ctr-src@${image.manifest.digest}`);
    await ctr(['images', 'pull', '--plain-http', name]);
    assert.ok((await images()).some((i) => i.name === name && i.digest === image.manifest.digest));
  });

  it('ctr images pull --all-platforms of a multi-arch index', async () => {
    await ctr(['images', 'pull', '--plain-http', '--all-platforms', ref('interop/ctr-src:multi')]);
    const row = (await images()).find((i) => i.name === ref('interop/ctr-src:multi'));
    assert.equal(row?.digest, multi.index.digest);
    assert.equal(row?.mediaType, MT.ociIndex);
    const content = (await ctr(['content', 'ls', '--quiet'])).stdout;
    for (const child of multi.images) assert.ok(content.includes(child.manifest.digest), `child ${child.manifest.digest}`);
  });

  it('ctr images tag + push --plain-http (single image and index)', async () => {
    await ctr(['images', 'tag', ref('interop/ctr-src:v1'), ref('interop/ctr:v1')]);
    await ctr(['images', 'push', '--plain-http', ref('interop/ctr:v1')]);
    const m = await getManifest(reg(), 'interop/ctr', 'v1');
    assert.equal(m.status, 200);
    assert.equal(m.bodyDigest, image.manifest.digest);
    assert.equal(m.contentType, MT.ociManifest);
    for (const b of [image.config, ...image.layers]) {
      assert.equal(await headBlob(reg(), 'interop/ctr', b.digest), 200, `blob ${b.digest}`);
    }

    await ctr(['images', 'tag', ref('interop/ctr-src:multi'), ref('interop/ctr:multi')]);
    await ctr(['images', 'push', '--plain-http', ref('interop/ctr:multi')]);
    const idx = await getManifest(reg(), 'interop/ctr', 'multi');
    assert.equal(idx.status, 200);
    assert.equal(idx.bodyDigest, multi.index.digest);
    for (const child of multi.images) {
      const got = await getManifest(reg(), 'interop/ctr', child.manifest.digest);
      assert.equal(got.status, 200, `child ${child.platform.architecture}`);
      for (const b of [child.config, ...child.layers]) {
        assert.equal(await headBlob(reg(), 'interop/ctr', b.digest), 200, `blob ${b.digest}`);
      }
    }
  });

  it('ctr pulls back what it pushed after removing it locally', async () => {
    await ctr(['images', 'rm', '--sync', ref('interop/ctr:v1'), ref('interop/ctr-src:v1'), ref(`interop/ctr-src@${image.manifest.digest}`)]);
    await ctr(['images', 'pull', '--plain-http', ref('interop/ctr:v1')]);
    const row = (await images()).find((i) => i.name === ref('interop/ctr:v1'));
    assert.equal(row?.digest, image.manifest.digest);
  });

  it('the registry answered no request with a 5xx and logged no errors', async () => {
    assert.ok(loggedRequests(reg()).length > 0, `no request lines found in ${reg().logFile}`);
    assert.deepEqual(serverProblems(reg()), []);
  });
});
