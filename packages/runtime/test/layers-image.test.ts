import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RegistryClient, pullImage } from '@berth/client';
import { parseReference } from '@berth/oci';
import { LocalStore, type ImageRow } from '@berth/store';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools } from '@berth/test-support/exec';
import { AMD64, busyboxLayer, MT, openLayout, type BuiltImage } from '@berth/test-support/images';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { createRootfs, DiffIdMismatchError, ensureLayers, LayerPaths, pruneLayers, unpackLayer, type UnpackEvent } from '../src/index.js';
import { pullUnpacker } from '../src/layers/index.js';
import { dir as dirEntry, file, tarBytes, writeLayer } from './layers-support.js';

/** A real image: built from busybox-static, pushed by skopeo, pulled by our client into the local store. */
describe('layers of a pulled image', () => {
  let registry: Registry | undefined;
  let tmp = '';
  let image: BuiltImage;
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => [registryLog(registry)], fn));
  };

  before(async () => {
    requireTools('skopeo', 'busybox', 'zstd');
    tmp = makeTempDir('layers-image');
    const layout = openLayout(join(tmp, 'layout'));
    // a gzip busybox layer, then a zstd layer that deletes and adds files
    const base = await layout.writeLayer(busyboxLayer());
    const top = writeLayer(
      join(tmp, 'layout'),
      tarBytes([dirEntry('etc'), file('etc/berth-test', 'zstd layer\n'), file('bin/.wh.true', ''), dirEntry('tmp/', { mode: 0o1777 })]),
      'zstd',
      'top',
    );
    const topDesc = layout.writeBlob(readFileSync(top.path), 'application/vnd.oci.image.layer.v1.tar+zstd');
    const config = layout.writeJson(
      { architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [base.diffId, top.diffId] } },
      MT.ociConfig,
    );
    const manifest = layout.writeJson({ schemaVersion: 2, mediaType: MT.ociManifest, config, layers: [base.desc, topDesc] }, MT.ociManifest);
    layout.tag('zstd', manifest);
    // the same layers, but the config lies about the top layer's diff_id
    const lying = layout.writeJson(
      { architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [base.diffId, base.diffId] } },
      MT.ociConfig,
    );
    layout.tag('lying', layout.writeJson({ schemaVersion: 2, mediaType: MT.ociManifest, config: lying, layers: [base.desc, topDesc] }, MT.ociManifest));
    image = { manifest, config, layers: [base.desc, topDesc], diffIds: [base.diffId, top.diffId], platform: AMD64 };
    registry = await startRegistry();
    const skopeo = skopeoRunner(tmp);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${join(tmp, 'layout')}:zstd`, `docker://${registry.url}/layers/app:v1`]);
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${join(tmp, 'layout')}:lying`, `docker://${registry.url}/layers/app:lying`]);
  });
  after(async () => {
    await registry?.stop();
    if (tmp !== '') removeTempDir(tmp);
  });

  it('berth pull, then ensureLayers and createRootfs: busybox runs in the rootfs', async () => {
    assert.ok(registry);
    const root = join(tmp, 'berth-root');
    const store = await LocalStore.open(root);
    try {
      const session = store.session();
      const pulled = await pullImage(new RegistryClient({ registry: registry.url, insecure: true }), parseReference(`${registry.url}/layers/app:v1`), session);
      session.record(
        { digest: pulled.manifest.digest, mediaType: pulled.manifest.mediaType, configDigest: pulled.config.digest, size: 0, blobs: pulled.blobs },
        [{ repository: `${registry.url}/layers/app`, tag: 'v1', imageDigest: pulled.manifest.digest, indexDigest: undefined }],
      );
      const row = store.getImage(pulled.manifest.digest);
      assert.ok(row);
      const events: UnpackEvent[] = [];
      const layers = await ensureLayers(store, row, { onEvent: (e) => events.push(e) });
      assert.deepEqual(
        layers.layers.map((l) => l.diffId),
        image.diffIds,
      );
      assert.deepEqual(
        events.map((e) => e.type),
        ['unpacked', 'unpacked'],
      );
      assert.equal(layers.cacheDir, join(root, 'layers'));
      assert.deepEqual(readdirSync(join(root, 'layers/sha256')).sort(), image.diffIds.map((d) => d.slice(7)).sort());

      const again: UnpackEvent[] = [];
      await ensureLayers(store, row, { onEvent: (e) => again.push(e) });
      assert.deepEqual(
        again.map((e) => e.type),
        ['cached', 'cached'],
        'each layer is unpacked once',
      );

      const rootfs = await createRootfs(layers, join(tmp, 'container'));
      try {
        const run = spawnSync('chroot', [rootfs.path, '/bin/sh', '-c', 'cat /etc/berth-test; ls /bin; echo hi > /tmp/x; cat /tmp/x'], { encoding: 'utf8' });
        assert.equal(run.status, 0, run.stderr);
        assert.match(run.stdout, /^zstd layer\n/);
        assert.doesNotMatch(run.stdout, /\btrue\b/, 'the whiteout hid /bin/true');
        assert.match(run.stdout, /busybox/);
        assert.match(run.stdout, /hi\n$/);
        assert.ok(existsSync(join(rootfs.upperDir ?? '', 'tmp/x')), 'the write went to the writable layer');
      } finally {
        await rootfs.remove();
      }
    } finally {
      store.close();
    }
  });

  it('an image whose config names a wrong diff_id: refused, nothing of that layer cached', async () => {
    assert.ok(registry);
    const root = join(tmp, 'berth-root-lying');
    const store = await LocalStore.open(root);
    try {
      const session = store.session();
      const pulled = await pullImage(new RegistryClient({ registry: registry.url, insecure: true }), parseReference(`${registry.url}/layers/app:lying`), session);
      session.record({ digest: pulled.manifest.digest, mediaType: pulled.manifest.mediaType, configDigest: pulled.config.digest, size: 0, blobs: pulled.blobs }, []);
      const row = store.getImage(pulled.manifest.digest);
      assert.ok(row);
      await assert.rejects(ensureLayers(store, row), DiffIdMismatchError);
      assert.deepEqual(readdirSync(join(root, 'layers/sha256')), [image.diffIds[0]?.slice(7)], 'only the honest layer');
      assert.deepEqual(readdirSync(join(root, 'layers/tmp')), []);
    } finally {
      store.close();
    }
  });

  it('pruneLayers deletes what no image names and no container keeps', async () => {
    assert.ok(registry);
    const root = join(tmp, 'berth-root-prune');
    const store = await LocalStore.open(root);
    try {
      const session = store.session();
      const pulled = await pullImage(new RegistryClient({ registry: registry.url, insecure: true }), parseReference(`${registry.url}/layers/app:v1`), session);
      const name = { repository: `${registry.url}/layers/app`, tag: 'v1', imageDigest: pulled.manifest.digest, indexDigest: undefined };
      session.record({ digest: pulled.manifest.digest, mediaType: pulled.manifest.mediaType, configDigest: pulled.config.digest, size: 0, blobs: pulled.blobs }, [name]);
      const row = store.getImage(pulled.manifest.digest);
      assert.ok(row);
      const layers = await ensureLayers(store, row);
      // a leftover layer no image names
      const stray = writeLayer(tmp, tarBytes([file('stray', 's')]), 'gzip', 'stray');
      await unpackLayer(new LayerPaths(root), stray.path, stray.diffId);
      assert.deepEqual(await pruneLayers(store), [stray.diffId]);
      assert.equal(readdirSync(join(root, 'layers/sha256')).length, 2);
      assert.equal(readdirSync(join(root, 'layers/l')).length, 2, 'its short link went with it');

      // the image goes, a container of it stays: its layers are kept
      const rootfs = await createRootfs(layers, join(tmp, 'prune-container'));
      try {
        assert.deepEqual(rootfs.layers, image.diffIds);
        store.remove([{ repository: name.repository, tag: 'v1' }]);
        assert.deepEqual(await pruneLayers(store, { keep: rootfs.layers }), []);
        assert.equal(readFileSync(join(rootfs.path, 'etc/berth-test'), 'utf8'), 'zstd layer\n');
      } finally {
        await rootfs.remove();
      }
      assert.deepEqual((await pruneLayers(store)).sort(), [...image.diffIds].sort());
      assert.deepEqual(readdirSync(join(root, 'layers/sha256')), []);
      assert.deepEqual(readdirSync(join(root, 'layers/l')), []);
      assert.deepEqual(readdirSync(join(root, 'layers/tmp')), []);
    } finally {
      store.close();
    }
  });

  /** `tag` pulled into the store through pullUnpacker, and recorded; the image row. */
  async function pullStreamed(store: LocalStore, tag: string): Promise<ImageRow> {
    assert.ok(registry);
    const session = store.session();
    const unpacker = pullUnpacker(store);
    const pulled = await pullImage(new RegistryClient({ registry: registry.url, insecure: true }), parseReference(`${registry.url}/layers/app:${tag}`), session, {
      layerTap: (layer, position, config) => unpacker.tap(layer, position, config),
    }).finally(() => unpacker.settle());
    session.record({ digest: pulled.manifest.digest, mediaType: pulled.manifest.mediaType, configDigest: pulled.config.digest, size: 0, blobs: pulled.blobs }, []);
    const row = store.getImage(pulled.manifest.digest);
    assert.ok(row);
    return row;
  }

  it('pulled with pullUnpacker: each layer is unpacked while it downloads, so ensureLayers finds them cached', async () => {
    const root = join(tmp, 'berth-root-streamed');
    const store = await LocalStore.open(root);
    try {
      const row = await pullStreamed(store, 'v1');
      assert.deepEqual(readdirSync(join(root, 'layers/sha256')).sort(), image.diffIds.map((d) => d.slice(7)).sort(), 'cached during the pull');
      image.layers.forEach((layer, i) => {
        assert.equal(readFileSync(join(root, 'layers/sha256', (image.diffIds[i] ?? '').slice(7), 'blobs'), 'utf8'), `${layer.digest}\n`, 'the verified blob is recorded');
      });
      const events: UnpackEvent[] = [];
      await ensureLayers(store, row, { onEvent: (e) => events.push(e) });
      assert.deepEqual(
        events.map((e) => e.type),
        ['cached', 'cached'],
      );
      assert.deepEqual(readdirSync(join(root, 'layers/tmp')), []);
    } finally {
      store.close();
    }
  });

  it('pulled with pullUnpacker, a config lying about a diff_id: the pull succeeds, that layer is not cached, ensureLayers refuses', async () => {
    const root = join(tmp, 'berth-root-streamed-lying');
    const store = await LocalStore.open(root);
    try {
      const row = await pullStreamed(store, 'lying');
      assert.deepEqual(readdirSync(join(root, 'layers/sha256')), [image.diffIds[0]?.slice(7)], 'only the honest layer');
      assert.deepEqual(readdirSync(join(root, 'layers/tmp')), []);
      await assert.rejects(ensureLayers(store, row), DiffIdMismatchError);
    } finally {
      store.close();
    }
  });
});
