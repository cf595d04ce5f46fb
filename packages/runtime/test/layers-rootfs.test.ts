import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { removeAttributeSync, setAttributeSync } from '@napi-rs/xattr';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { createRootfs, diffToLayer, LayerPaths, openRootfs, unpackLayer, type LayerDirs, type UnpackedLayer } from '../src/index.js';
import { copyLayers } from '../src/layers/copy.js';
import { dir, file, symlink, tarBytes, treeOf, writeLayer, type RawEntry } from './layers-support.js';

const isMounted = (path: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);

describe('container root file systems', () => {
  let tmp = '';
  let paths: LayerPaths;
  let blobs = '';
  const layer = async (entries: readonly RawEntry[]): Promise<UnpackedLayer> => {
    const blob = writeLayer(blobs, tarBytes(entries));
    return (await unpackLayer(paths, blob.path, blob.diffId)).layer;
  };
  const dirsOf = (layers: UnpackedLayer[]): LayerDirs => ({ cacheDir: paths.dir, layers });
  let base: LayerDirs;

  before(async () => {
    tmp = makeTempDir('layers-rootfs');
    paths = new LayerPaths(join(tmp, 'root'));
    blobs = join(tmp, 'blobs');
    mkdirSync(blobs);
    base = dirsOf([
      await layer([
        dir('a'),
        file('a/x', 'x'),
        file('a/y', 'y'),
        file('keep', 'v1'),
        file('gone', 'g'),
        dir('opq'),
        file('opq/old1', '1'),
        dir('opq/olddir'),
        file('opq/olddir/deep', 'd'),
        symlink('link', 'keep'),
        dir('repl'),
        file('repl/inner', 'i'),
      ]),
      await layer([file('.wh.gone', ''), file('opq/.wh..wh..opq', ''), file('opq/new', 'n'), file('a/.wh.x', ''), file('keep', 'v2'), file('repl', 'now a file')]),
      await layer([dir('a'), file('a/z', 'z'), file('.wh.link', '')]),
    ]);
  });
  after(() => removeTempDir(tmp));

  const expected = [
    'a d 755 0:0 4096 ',
    'a/y f 644 0:0 1 ',
    'a/z f 644 0:0 1 ',
    'keep f 644 0:0 2 ',
    'opq d 755 0:0 4096 ',
    'opq/new f 644 0:0 1 ',
    'repl f 644 0:0 10 ',
  ];

  test('an overlay of the cached layers applies whiteouts and opaque directories across layers', async () => {
    const layerTrees = base.layers.map((l) => treeOf(l.dir));
    const rootfs = await createRootfs(base, join(tmp, 'c1'), { mode: 'overlay' });
    try {
      assert.equal(rootfs.kind, 'overlay');
      assert.ok(isMounted(rootfs.path));
      assert.deepEqual(treeOf(rootfs.path), expected);
      assert.equal(readFileSync(join(rootfs.path, 'keep'), 'utf8'), 'v2');
      // the container writes; the image's layers do not change
      writeFileSync(join(rootfs.path, 'keep'), 'container');
      rmSync(join(rootfs.path, 'a'), { recursive: true });
      writeFileSync(join(rootfs.path, 'new'), 'n');
      assert.deepEqual(
        base.layers.map((l) => treeOf(l.dir)),
        layerTrees,
      );
      assert.equal(readFileSync(join(rootfs.upperDir ?? '', 'keep'), 'utf8'), 'container');
      // after a release (a reboot), a later process mounts it again from rootfs.json
      await rootfs.release();
      assert.equal(isMounted(rootfs.path), false);
      await rootfs.release(); // idempotent
      const again = await openRootfs(join(tmp, 'c1'));
      await again.mount();
      await again.mount(); // idempotent
      assert.equal(readFileSync(join(again.path, 'keep'), 'utf8'), 'container');
      assert.equal(existsSync(join(again.path, 'a')), false);
      await again.remove();
      assert.equal(isMounted(rootfs.path), false);
      assert.deepEqual(readdirSync(join(tmp, 'c1')), []);
    } finally {
      await rootfs.release();
    }
  });

  test('the copying fallback gives the same tree as the overlay', async () => {
    const rootfs = await createRootfs(base, join(tmp, 'c2'), { mode: 'copy' });
    assert.equal(rootfs.kind, 'copy');
    assert.equal(rootfs.upperDir, undefined);
    assert.equal(isMounted(rootfs.path), false);
    assert.deepEqual(treeOf(rootfs.path), expected);
    assert.equal((await openRootfs(join(tmp, 'c2'))).kind, 'copy');
    await rootfs.remove();
    assert.equal(existsSync(rootfs.path), false);
  });

  test("'auto' falls back to the copy where overlayfs refuses (a container directory on an overlay)", async () => {
    const nest = join(tmp, 'nest');
    for (const d of ['l', 'u', 'w', 'm']) mkdirSync(join(nest, d), { recursive: true });
    const m = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${nest}/l,upperdir=${nest}/u,workdir=${nest}/w`, `${nest}/m`], { encoding: 'utf8' });
    assert.equal(m.status, 0, m.stderr);
    try {
      await assert.rejects(createRootfs(base, join(nest, 'm/c0'), { mode: 'overlay' }), /mount/);
      const rootfs = await createRootfs(base, join(nest, 'm/c1'));
      assert.equal(rootfs.kind, 'copy');
      assert.deepEqual(treeOf(rootfs.path), expected);
      assert.deepEqual(readdirSync(join(nest, 'm/c1')).sort(), ['rootfs', 'rootfs.json']);
      await rootfs.remove();
    } finally {
      spawnSync('umount', [`${nest}/m`]);
    }
  });

  test('a volatile rootfs mounts with volatile, and again after it was left mounted', async () => {
    const rootfs = await createRootfs(base, join(tmp, 'cv'), { volatile: true });
    try {
      const line = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === rootfs.path) ?? '';
      assert.match(line, /volatile/);
      writeFileSync(join(rootfs.path, 'scratch'), 's');
      // as after a crash: the kernel's marker is there, the mount is not
      spawnSync('umount', ['-l', rootfs.path]);
      mkdirSync(join(tmp, 'cv/work/work/incompat/volatile'), { recursive: true });
      await (await openRootfs(join(tmp, 'cv'))).mount();
      assert.equal(readFileSync(join(rootfs.path, 'scratch'), 'utf8'), 's');
    } finally {
      await rootfs.remove();
    }
    assert.equal(isMounted(rootfs.path), false);
  });

  test('a layer that occurs twice counts once, at its top-most place; an image without layers mounts empty', async () => {
    const [l1, l2] = base.layers as [UnpackedLayer, UnpackedLayer];
    // the truth: every layer applied in order, the repeated one included
    const truth = join(tmp, 'truth');
    mkdirSync(truth);
    copyLayers([l1.dir, l2.dir, l1.dir], truth);
    assert.equal(readFileSync(join(truth, 'gone'), 'utf8'), 'g', 'the second l1 brings back what l2 deleted');
    for (const mode of ['overlay', 'copy'] as const) {
      const a = await createRootfs(dirsOf([l1, l2, l1]), join(tmp, `twice-${mode}`), { mode });
      try {
        assert.deepEqual(treeOf(a.path), treeOf(truth), mode);
      } finally {
        await a.remove();
      }
    }
    const empty = await createRootfs(dirsOf([]), join(tmp, 'empty'), { mode: 'overlay' });
    try {
      assert.deepEqual(readdirSync(empty.path), []);
      writeFileSync(join(empty.path, 'x'), 'x');
    } finally {
      await empty.remove();
    }
    assert.deepEqual(readdirSync(join(tmp, 'empty')), []);
  });

  test('read-only rootfs refuses writes', async () => {
    const rootfs = await createRootfs(base, join(tmp, 'c3'), { readOnly: true });
    try {
      assert.throws(() => writeFileSync(join(rootfs.path, 'x'), 'x'), /EROFS/);
    } finally {
      await rootfs.remove();
    }
  });

  test('150 layers fit one mount (short lowerdir links, mounted relative to the cache)', async () => {
    const many: UnpackedLayer[] = [];
    for (let i = 0; i < 150; i++) many.push(await layer([file(`l${i}`, String(i)), file('top', String(i))]));
    const absolute = many.map((l) => l.dir).join(':').length;
    assert.ok(absolute > 4096, `absolute lowerdirs would need ${absolute} bytes`);
    const rootfs = await createRootfs(dirsOf(many), join(tmp, 'c4'), { mode: 'overlay' });
    try {
      assert.equal(readdirSync(rootfs.path).length, 151);
      assert.equal(readFileSync(join(rootfs.path, 'top'), 'utf8'), '149', 'the last layer is on top');
    } finally {
      await rootfs.remove();
    }
  });

  test('diffToLayer turns the writable layer into an OCI layer that reproduces the container view', async () => {
    const rootfs = await createRootfs(base, join(tmp, 'c5'), { mode: 'overlay' });
    try {
      const r = rootfs.path;
      writeFileSync(join(r, 'keep'), 'changed');
      rmSync(join(r, 'a/y'));
      rmSync(join(r, 'repl'));
      rmSync(join(r, 'opq'), { recursive: true });
      mkdirSync(join(r, 'opq'));
      writeFileSync(join(r, 'opq/fresh'), 'f');
      mkdirSync(join(r, 'usr/local/bin'), { recursive: true });
      writeFileSync(join(r, 'usr/local/bin/tool'), 't', { mode: 0o4755 });
      linkSync(join(r, 'usr/local/bin/tool'), join(r, 'usr/local/bin/tool2'));
      symlinkSync('tool', join(r, 'usr/local/bin/t'));
      const long = `usr/${'n'.repeat(150)}`;
      writeFileSync(join(r, long), 'long name');
      spawnSync('mknod', [join(r, 'null'), 'c', '1', '3']);
      // a lower directory renamed: with redirect_dir=off overlay says EXDEV and mv copies
      const mv = spawnSync('mv', [join(r, 'a'), join(r, 'a-moved')], { encoding: 'utf8' });
      assert.equal(mv.status, 0, mv.stderr);
      const view = treeOf(r);
      assert.ok(view.includes('a-moved/z f 644 0:0 1 '));

      const out = join(tmp, 'commit.tar.gz');
      const blob = await diffToLayer(rootfs.upperDir ?? '', out);
      const bytes = readFileSync(out);
      assert.equal(blob.size, bytes.length);
      assert.equal(blob.digest, `sha256:${createHash('sha256').update(bytes).digest('hex')}`);
      const listing = spawnSync('tar', ['-tzvf', out], { encoding: 'utf8' });
      assert.equal(listing.status, 0, `GNU tar reads it: ${listing.stderr}`);
      assert.match(listing.stdout, / \.wh\.a\n/);
      assert.match(listing.stdout, / \.wh\.repl\n/);
      assert.match(listing.stdout, / opq\/\.wh\.\.wh\.\.opq\n/);
      assert.match(listing.stdout, /usr\/local\/bin\/tool2 link to usr\/local\/bin\/tool/);
      assert.match(listing.stdout, new RegExp(long));
      assert.doesNotMatch(listing.stdout, /overlay/);

      // the new layer, verified by its diff_id, stacked on the image: the same view
      const committed = (await unpackLayer(paths, out, blob.diffId)).layer;
      const stacked = await createRootfs(dirsOf([...base.layers, committed]), join(tmp, 'c6'), { mode: 'overlay' });
      try {
        assert.deepEqual(treeOf(stacked.path), view);
        assert.equal(lstatSync(join(stacked.path, 'usr/local/bin/tool')).mode & 0o7777, 0o4755);
        assert.deepEqual(readdirSync(join(stacked.path, 'opq')), ['fresh']);
      } finally {
        await stacked.remove();
      }
      const copied = await createRootfs(dirsOf([...base.layers, committed]), join(tmp, 'c7'), { mode: 'copy' });
      assert.deepEqual(treeOf(copied.path), view, 'the copy fallback agrees');
      await copied.remove();
    } finally {
      await rootfs.remove();
    }
  });

  test('LayerView reads the unmounted layers as the mounted overlay shows them, symlinks kept inside the root', async () => {
    const mounted = await createRootfs(base, join(tmp, 'cview'), { mode: 'overlay' });
    try {
      const read = (path: string): string | undefined => {
        try {
          return readFileSync(join(mounted.path, path), 'utf8');
        } catch {
          return undefined;
        }
      };
      const view = mounted.view();
      const paths = ['keep', 'a/x', 'a/y', 'a/z', 'gone', 'link', 'opq/new', 'opq/old1', 'opq/olddir/deep', 'repl', 'repl/inner', 'a', 'nothing/here', 'keep/below'];
      for (const path of paths) {
        assert.equal(view.readFile(path, 1024, () => new Error('big'))?.toString('utf8'), read(path), path);
      }
      // ".." stops at the root, as in the container
      assert.equal(view.readFile('../../keep', 1024, () => new Error('big'))?.toString('utf8'), 'v2');
      assert.equal(view.readFile('/a/../a/../keep', 1024, () => new Error('big'))?.toString('utf8'), 'v2');
      // the upper takes part too: a file written through the mount, and one deleted
      writeFileSync(join(mounted.path, 'a/new'), 'fresh');
      rmSync(join(mounted.path, 'a/y'));
      for (const path of ['a/new', 'a/y', 'a/z']) assert.equal(view.readFile(path, 1024, () => new Error('big'))?.toString('utf8'), read(path), path);
      assert.throws(() => view.readFile('a/new', 2, () => new Error('too big')), /too big/);
    } finally {
      await mounted.remove();
    }

    // links resolve against the container's root, never the host's
    const links = dirsOf([
      await layer([dir('etc'), file('real', 'inside'), symlink('etc/passwd', '/real'), symlink('up', '../../../real'), symlink('l1', 'l2'), symlink('l2', 'l1'), symlink('host', '/etc/hostname'), symlink('d', 'etc')]),
    ]);
    const rootfs = await createRootfs(links, join(tmp, 'clinks'), { mode: 'overlay' });
    try {
      const view = rootfs.view();
      const text = (path: string): string | undefined => view.readFile(path, 1024, () => new Error('big'))?.toString('utf8');
      assert.equal(text('etc/passwd'), 'inside');
      assert.equal(text('up'), 'inside');
      assert.equal(text('d/passwd'), 'inside');
      assert.equal(text('l1'), undefined, 'a symlink loop is no file');
      assert.equal(text('host'), undefined, "the host's /etc/hostname is not read");
      assert.equal(text('etc'), undefined, 'a directory is no file');
    } finally {
      await rootfs.remove();
    }
  });

  test("LayerView takes opaque directories from the layer's opaque.json, and from the xattrs where there is none", async () => {
    const layers = dirsOf([await layer([dir('d'), file('d/old', 'o')]), await layer([file('d/.wh..wh..opq', ''), file('d/new', 'n')])]);
    const upper = layers.layers[1] as UnpackedLayer;
    const list = join(upper.dir, '..', 'opaque.json');
    assert.deepEqual(JSON.parse(readFileSync(list, 'utf8')), ['d']);
    const rootfs = await createRootfs(layers, join(tmp, 'copaque'), { mode: 'overlay' });
    const text = (path: string): string | undefined => rootfs.view().readFile(path, 1024, () => new Error('big'))?.toString('utf8');
    try {
      assert.equal(readFileSync(join(rootfs.path, 'd/new'), 'utf8'), 'n');
      assert.equal(existsSync(join(rootfs.path, 'd/old')), false);
      assert.equal(text('d/new'), 'n');
      assert.equal(text('d/old'), undefined, 'hidden by the opaque directory above it');
      // the list is what is read: without the xattr, d is still opaque to the view
      removeAttributeSync(join(upper.dir, 'd'), 'trusted.overlay.opaque');
      assert.equal(text('d/old'), undefined);
      // an entry from before the lists: the xattr answers (present, then gone)
      rmSync(list);
      assert.equal(text('d/old'), 'o', 'no list and no xattr: not opaque');
      setAttributeSync(join(upper.dir, 'd'), 'trusted.overlay.opaque', 'y');
      assert.equal(text('d/old'), undefined, 'no list: the xattr says opaque');
    } finally {
      await rootfs.remove();
    }
  });

  test('inRuntime: after one host mount has worked, the overlay is left to the runtime as a spec mount of "/"', async () => {
    const containers = join(tmp, 'containers');
    mkdirSync(containers);
    const first = await createRootfs(base, join(containers, 'c1'), { inRuntime: true });
    try {
      assert.equal(first.specMount, undefined, 'the first is mounted here: it proves overlayfs works beside the cache');
      assert.ok(isMounted(first.path));
      assert.ok(existsSync(join(containers, '.overlay-mounts')));
    } finally {
      await first.remove();
    }
    const second = await createRootfs(base, join(containers, 'c2'), { inRuntime: true, volatile: true });
    try {
      assert.equal(isMounted(second.path), false, 'nothing is mounted on the host');
      const options = second.specMount?.options ?? [];
      const lower = options.find((o) => o.startsWith('lowerdir='))?.slice('lowerdir='.length).split(':') ?? [];
      assert.deepEqual(lower, [...base.layers].reverse().map((l) => join(paths.dir, l.link)), 'absolute lowerdirs, top-most first');
      assert.ok(options.includes(`upperdir=${join(containers, 'c2', 'upper')}`));
      assert.ok(options.includes('volatile'));
      // what the runtime will mount is what mount(8) mounts: the same tree
      const target = join(tmp, 'cspec');
      mkdirSync(target);
      const m = spawnSync('mount', ['-t', 'overlay', 'overlay', '-o', options.join(','), target], { encoding: 'utf8' });
      assert.equal(m.status, 0, m.stderr);
      try {
        assert.deepEqual(treeOf(target), expected);
      } finally {
        spawnSync('umount', [target]);
      }
      const again = await openRootfs(join(containers, 'c2'));
      await again.mount();
      assert.equal(isMounted(again.path), false, 'mount() of a runtime-mounted rootfs is a no-op');
      assert.equal(again.view().readFile('keep', 1024, () => new Error('big'))?.toString('utf8'), 'v2');
    } finally {
      await second.remove();
    }
    assert.equal(existsSync(join(containers, 'c2', 'upper')), false);
  });
});
