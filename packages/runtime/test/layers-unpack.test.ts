import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAttributeSync } from '@napi-rs/xattr';
import { requireTools } from '@berth/test-support/exec';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { DiffIdMismatchError, InvalidTarError, isSyncedLayer, LayerPaths, UnsafeLayerError, unpackLayer, unpackLayerStream } from '../src/index.js';
import { ChunkQueue } from '../src/layers/chunk-queue.js';
import { dir, file, hardlink, headerBlock, MTIME, sha256, symlink, tarBytes, treeOf, writeLayer, type Compression, type RawEntry } from './layers-support.js';

describe('layer unpacking', () => {
  let tmp = '';
  let n = 0;
  /** A fresh cache root per test, so failures cannot leak into each other. */
  const fresh = (): { paths: LayerPaths; blobs: string; outside: string } => {
    const root = join(tmp, `root-${n++}`);
    const blobs = join(root, 'blobs');
    const outside = join(root, 'outside');
    mkdirSync(blobs, { recursive: true });
    mkdirSync(outside);
    return { paths: new LayerPaths(root), blobs, outside };
  };
  const unpack = async (entries: readonly RawEntry[] | Buffer, compression: Compression = 'gzip') => {
    const { paths, blobs, outside } = fresh();
    const tar = Buffer.isBuffer(entries) ? entries : tarBytes(entries);
    const blob = writeLayer(blobs, tar, compression);
    const result = await unpackLayer(paths, blob.path, blob.diffId);
    return { ...result, paths, blob, outside, fs: result.layer.dir };
  };
  /** The cache holds no entry and no temporary tree after a refused layer. */
  const refused = async (entries: readonly RawEntry[] | Buffer, kind: new (...a: never[]) => Error, pattern: RegExp, diffId?: string) => {
    const { paths, blobs, outside } = fresh();
    const tar = Buffer.isBuffer(entries) ? entries : tarBytes(entries);
    const blob = writeLayer(blobs, tar, 'gzip');
    await assert.rejects(unpackLayer(paths, blob.path, diffId ?? blob.diffId), (err: Error) => {
      assert.ok(err instanceof kind, `${err.name}: ${err.message}`);
      assert.match(err.message, pattern);
      return true;
    });
    assert.deepEqual(existsSync(paths.byDigest) ? readdirSync(paths.byDigest) : [], [], 'no cache entry');
    assert.deepEqual(readdirSync(paths.tmp), [], 'no temporary tree left');
    assert.deepEqual(readdirSync(outside), [], 'nothing written outside');
  };

  before(() => {
    requireTools('zstd');
    tmp = makeTempDir('layers-unpack');
  });
  after(() => removeTempDir(tmp));

  test('owners, modes, setuid, symlinks, hard links, devices and times are kept', async () => {
    const { fs, unpacked } = await unpack([
      dir('./', { mode: 0o755 }),
      dir('bin', { mtime: MTIME - 100 }),
      file('bin/su', 'ELF', { mode: 0o4755, uid: 0, gid: 0, mtime: MTIME - 5 }),
      file('bin/owned', 'x', { mode: 0o2750, uid: 1000, gid: 2000 }),
      hardlink('bin/su-again', 'bin/su'),
      symlink('bin/sh', 'su'),
      dir('tmp', { mode: 0o1777 }),
      dir('dev'),
      { name: 'dev/null', flag: '3', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'dev/loop9', flag: '4', mode: 0o660, devmajor: 7, devminor: 9, gid: 6 },
      { name: 'dev/pipe', flag: '6', mode: 0o600 },
      file('frac', 'f', { pax: { mtime: '1600000000.25' } }),
      file('wide', 'w', { mode: 0o666 }),
      dir('shared', { mode: 0o2775, gid: 50 }),
      file('shared/roots', 'r', { mode: 0o644, uid: 0, gid: 0 }),
    ]);
    assert.equal(unpacked, true);
    const su = lstatSync(join(fs, 'bin/su'));
    assert.equal(su.mode & 0o7777, 0o4755, 'setuid kept (applied after chown)');
    assert.equal(su.mtimeMs, (MTIME - 5) * 1000);
    assert.equal(su.nlink, 2);
    assert.equal(lstatSync(join(fs, 'bin/su-again')).ino, su.ino, 'hard link shares the inode');
    const owned = lstatSync(join(fs, 'bin/owned'));
    assert.deepEqual([owned.uid, owned.gid, owned.mode & 0o7777], [1000, 2000, 0o2750]);
    assert.equal(readlinkSync(join(fs, 'bin/sh')), 'su');
    assert.equal(lstatSync(join(fs, 'bin/sh')).mtimeMs, MTIME * 1000, 'symlink time (lutimes)');
    assert.equal(lstatSync(join(fs, 'bin')).mtimeMs, (MTIME - 100) * 1000, 'directory time set after its contents');
    assert.equal(lstatSync(join(fs, 'tmp')).mode & 0o7777, 0o1777);
    const nul = lstatSync(join(fs, 'dev/null'));
    assert.ok(nul.isCharacterDevice());
    assert.equal(nul.rdev, 0x103);
    const loop = lstatSync(join(fs, 'dev/loop9'));
    assert.ok(loop.isBlockDevice());
    assert.deepEqual([loop.rdev, loop.gid, loop.mode & 0o777], [0x709, 6, 0o660]);
    assert.ok(lstatSync(join(fs, 'dev/pipe')).isFIFO());
    assert.equal(lstatSync(join(fs, 'frac')).mtimeMs, 1_600_000_000_250);
    assert.equal(lstatSync(join(fs, 'wide')).mode & 0o7777, 0o666, 'mode beyond the umask');
    const roots = lstatSync(join(fs, 'shared/roots'));
    assert.deepEqual([roots.uid, roots.gid], [0, 0], 'not the group a setgid directory hands down');
  });

  test('gzip, zstd and plain tar give the same tree; the cache is hit the second time', async () => {
    const entries = [dir('etc'), file('etc/os-release', 'ID=berth\n'), file('big', Buffer.alloc(3 * 1024 * 1024 + 7, 7))];
    for (const c of ['gzip', 'zstd', 'none'] as const) {
      const { fs, paths, blob } = await unpack(entries, c);
      assert.equal(readFileSync(join(fs, 'etc/os-release'), 'utf8'), 'ID=berth\n', c);
      assert.equal(statSync(join(fs, 'big')).size, 3 * 1024 * 1024 + 7, c);
      const again = await unpackLayer(paths, blob.path, blob.diffId);
      assert.equal(again.unpacked, false, `${c}: cached`);
      assert.equal(again.layer.dir, fs);
      assert.equal(readlinkSync(join(paths.dir, again.layer.link)), `../sha256/${blob.diffId.slice(7)}/fs`);
    }
  });

  test('long names: pax path/linkpath and GNU ././@LongLink', async () => {
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(120)}`;
    const { fs } = await unpack([
      file('short', 'pax', { pax: { path: long } }),
      { name: 'gnu-name-truncated', flag: '0', data: 'gnu', gnuLong: true },
      { name: `${long}-gnu`, flag: '0', data: 'gnu', gnuLong: true },
      { name: 'link', flag: '2', linkname: 'x', pax: { linkpath: `/${long}` } },
      { name: `${long}-hard`, flag: '1', linkname: long, gnuLong: true },
    ]);
    assert.equal(readFileSync(join(fs, long), 'utf8'), 'pax');
    assert.equal(readFileSync(join(fs, `${long}-gnu`), 'utf8'), 'gnu');
    assert.equal(readlinkSync(join(fs, 'link')), `/${long}`);
    assert.equal(statSync(join(fs, `${long}-hard`)).ino, statSync(join(fs, long)).ino);
  });

  test('whiteouts become char 0/0 nodes and opaque markers trusted.overlay.opaque=y, in any order', async () => {
    const { fs } = await unpack([
      dir('etc'),
      file('etc/.wh.removed', ''),
      dir('var/cache/'),
      file('var/cache/.wh..wh..opq', ''),
      file('var/cache/kept', 'k'),
      file('late/x', 'x'),
      file('late/.wh..wh..opq', ''),
      file('.wh..wh.plnk', ''), // aufs metadata: ignored
    ]);
    const wh = lstatSync(join(fs, 'etc/removed'));
    assert.ok(wh.isCharacterDevice());
    assert.equal(wh.rdev, 0);
    assert.equal(getAttributeSync(join(fs, 'var/cache'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(getAttributeSync(join(fs, 'late'), 'trusted.overlay.opaque')?.toString(), 'y');
    assert.equal(readFileSync(join(fs, 'var/cache/kept'), 'utf8'), 'k');
    assert.equal(readFileSync(join(fs, 'late/x'), 'utf8'), 'x');
    assert.deepEqual(readdirSync(fs).sort(), ['etc', 'late', 'var']);
    assert.deepEqual(JSON.parse(readFileSync(join(fs, '..', 'opaque.json'), 'utf8')), ['late', 'var/cache'], 'listed beside fs/');
  });

  test('opaque.json lists only the directories still opaque at the end: the root, not one a later member replaced', async () => {
    const { fs } = await unpack([file('.wh..wh..opq', ''), dir('was'), file('was/.wh..wh..opq', ''), file('was', 'a file now'), dir('is/'), file('is/.wh..wh..opq', '')]);
    assert.equal(readFileSync(join(fs, 'was'), 'utf8'), 'a file now');
    assert.deepEqual(JSON.parse(readFileSync(join(fs, '..', 'opaque.json'), 'utf8')), ['', 'is']);
    assert.deepEqual(JSON.parse(readFileSync(join((await unpack([file('plain', 'p')])).fs, '..', 'opaque.json'), 'utf8')), [], 'a layer without any: an empty list');
  });

  test('xattrs from pax are kept, but a layer cannot forge overlay markers', async () => {
    const { fs } = await unpack([
      file('ping', 'p', { pax: { 'SCHILY.xattr.user.berth': 'yes', 'SCHILY.xattr.trusted.overlay.opaque': 'y' } }),
      dir('d', { pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y', 'SCHILY.xattr.trusted.overlay.redirect': '/etc' } }),
    ]);
    assert.equal(getAttributeSync(join(fs, 'ping'), 'user.berth')?.toString(), 'yes');
    assert.equal(getAttributeSync(join(fs, 'ping'), 'trusted.overlay.opaque'), null);
    assert.equal(getAttributeSync(join(fs, 'd'), 'trusted.overlay.opaque'), null);
    assert.equal(getAttributeSync(join(fs, 'd'), 'trusted.overlay.redirect'), null);
  });

  test('absolute names and ../ are contained below the layer root', async () => {
    const { fs, outside } = await unpack([file('/abs-evil', 'a'), file('../../../../../../rel-evil', 'r'), file('x/../../up-evil', 'u')]);
    assert.deepEqual(readdirSync(fs).sort(), ['abs-evil', 'rel-evil', 'up-evil'], 'names are cleaned lexically, as containerd does');
    assert.deepEqual(readdirSync(outside), []);
    assert.equal(existsSync('/abs-evil') || existsSync('/rel-evil') || existsSync('/up-evil'), false);
  });

  test('a symlink out of the root, then a write through it, stays inside the root', async () => {
    const { paths, blobs, outside } = fresh();
    const blob = writeLayer(blobs, tarBytes([symlink('esc', outside), file('esc/pwned', 'p'), symlink('up', '../../../../../../..'), file(`up${outside}/pwned2`, 'p')]));
    const { layer } = await unpackLayer(paths, blob.path, blob.diffId);
    assert.deepEqual(readdirSync(outside), [], 'the outside directory is untouched');
    assert.equal(readFileSync(join(layer.dir, outside, 'pwned'), 'utf8'), 'p', 'the absolute target resolved inside the root');
    assert.equal(readFileSync(join(layer.dir, outside, 'pwned2'), 'utf8'), 'p');
    assert.equal(readlinkSync(join(layer.dir, 'esc')), outside, 'the symlink itself is kept as written');
  });

  test('a symlink replaced by a directory along a path is removed, not followed', async () => {
    const { paths, blobs, outside } = fresh();
    const blob = writeLayer(blobs, tarBytes([symlink('a', outside), dir('a'), file('a/f', 'f'), symlink('b', outside), file('b', 'replaced')]));
    const { layer } = await unpackLayer(paths, blob.path, blob.diffId);
    assert.ok(lstatSync(join(layer.dir, 'a')).isDirectory());
    assert.equal(readFileSync(join(layer.dir, 'a/f'), 'utf8'), 'f');
    assert.ok(lstatSync(join(layer.dir, 'b')).isFile(), 'a file over a symlink replaces it (O_NOFOLLOW|O_EXCL)');
    assert.deepEqual(readdirSync(outside), []);
  });

  test('a hard link to a file outside the layer (/etc/passwd) is refused', async () => {
    const before = statSync('/etc/passwd').nlink;
    await refused([hardlink('passwd', '/etc/passwd')], UnsafeLayerError, /not in the layer/);
    await refused([hardlink('passwd', '../../../../../../etc/passwd')], UnsafeLayerError, /not in the layer/);
    assert.equal(statSync('/etc/passwd').nlink, before);
  });

  test('a hard link through a symlink out of the root stays inside the root', async () => {
    const { paths, blobs, outside } = fresh();
    writeFileSync(join(outside, 'secret'), 's');
    const blob = writeLayer(blobs, tarBytes([symlink('esc', outside), hardlink('stolen', 'esc/secret')]));
    await assert.rejects(unpackLayer(paths, blob.path, blob.diffId), UnsafeLayerError);
    assert.equal(statSync(join(outside, 'secret')).nlink, 1);
  });

  test('refused: symlink loops, a file used as a directory, a whiteout of ..', async () => {
    await refused([symlink('a', 'b'), symlink('b', 'a'), file('a/x', 'x')], UnsafeLayerError, /too many levels/);
    await refused([file('f', 'x'), file('f/x', 'x')], UnsafeLayerError, /not a directory/);
    await refused([file('d/.wh...', '')], UnsafeLayerError, /invalid whiteout/);
  });

  test('huge pax and GNU long-name records, and names beyond PATH_MAX, are refused', async () => {
    const huge = Buffer.concat([headerBlock({ name: 'PaxHeaders/x', flag: 'x', size: 8 * 1024 * 1024 }), Buffer.alloc(8 * 1024 * 1024, 0x31), Buffer.alloc(1024)]);
    await refused(huge, InvalidTarError, /exceeds/);
    const longLink = Buffer.concat([headerBlock({ name: '././@LongLink', flag: 'L', size: 2 * 1024 * 1024 }), Buffer.alloc(2 * 1024 * 1024, 0x61), Buffer.alloc(1024)]);
    await refused(longLink, InvalidTarError, /exceeds/);
    await refused([file('x', 'x', { pax: { path: 'a/'.repeat(3000) } })], InvalidTarError, /longer than 4096/);
  });

  test('truncated archives, bad checksums and sparse files are refused', async () => {
    const whole = tarBytes([file('a', Buffer.alloc(5000, 1)), file('b', 'b')]);
    await refused(whole.subarray(0, 512 + 2000), InvalidTarError, /truncated/);
    const bad = Buffer.from(whole);
    bad[10] = 0x41; // name changed, checksum not
    await refused(bad, InvalidTarError, /checksum/);
    await refused(tarBytes([{ name: 'sparse', flag: 'S' }]), InvalidTarError, /sparse/);
  });

  test('corrupt gzip and zstd streams are refused', async () => {
    for (const c of ['gzip', 'zstd'] as const) {
      const { paths, blobs } = fresh();
      const tar = tarBytes([file('a', Buffer.alloc(200_000, 3))]);
      const blob = writeLayer(blobs, tar, c);
      const bytes = readFileSync(blob.path);
      writeFileSync(blob.path, Buffer.concat([bytes.subarray(0, 20), Buffer.alloc(64, 0x55), bytes.subarray(84)]));
      await assert.rejects(unpackLayer(paths, blob.path, blob.diffId), (err: Error) => err instanceof InvalidTarError || err instanceof DiffIdMismatchError, c);
      assert.deepEqual(readdirSync(paths.tmp), [], c);
      assert.equal(existsSync(paths.entry(blob.diffId)), false, c);
    }
  });

  test('a diff_id mismatch leaves nothing in the cache', async () => {
    await refused([file('a', 'a')], DiffIdMismatchError, /does not match diff_id/, sha256(Buffer.from('something else')));
  });

  test('bytes after the end-of-archive blocks still count towards the diff_id', async () => {
    const tar = Buffer.concat([tarBytes([file('a', 'a')]), Buffer.alloc(10 * 1024)]);
    const { layer } = await unpack(tar);
    assert.equal(layer.diffId, sha256(tar));
  });

  test('two processes unpacking the same layer at once: one cache entry, no temporary trees', async () => {
    const { paths, blobs } = fresh();
    const blob = writeLayer(blobs, tarBytes(Array.from({ length: 300 }, (_, i) => file(`f${i}`, Buffer.alloc(20_000, i)))));
    const script = `import { LayerPaths, unpackLayer } from ${JSON.stringify(new URL('../src/index.js', import.meta.url).href)};
      const r = await unpackLayer(new LayerPaths(process.argv[1]), process.argv[2], process.argv[3]);
      console.log(JSON.stringify({ unpacked: r.unpacked, dir: r.layer.dir }));`;
    const runOne = () =>
      new Promise<{ unpacked: boolean; dir: string }>((resolve, reject) => {
        const child = spawn(process.execPath, ['--input-type=module', '-e', script, paths.root, blob.path, blob.diffId], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as { unpacked: boolean; dir: string }) : reject(new Error(`exit ${code}`))));
      });
    const results = await Promise.all([runOne(), runOne(), runOne()]);
    assert.equal(new Set(results.map((r) => r.dir)).size, 1);
    assert.ok(results.some((r) => r.unpacked));
    assert.deepEqual(readdirSync(paths.byDigest), [blob.diffId.slice(7)]);
    assert.deepEqual(readdirSync(paths.tmp), []);
    assert.equal(readdirSync(results[0]?.dir ?? '').length, 300);
  });

  test('crash safety: an entry of an earlier boot without its synced mark is unpacked again', async () => {
    const { paths, blob, layer } = await unpack([file('data', 'important')]);
    const entry = join(layer.dir, '..');
    for (let i = 0; i < 600 && !isSyncedLayer(entry); i++) await new Promise((r) => setTimeout(r, 50));
    assert.ok(isSyncedLayer(entry), 'the background syncfs marks the entry');
    assert.equal(statSync(join(entry, 'boot_id')).mode & 0o777, 0o444);
    // as after a crash before the data reached the disk, in an earlier boot
    rmSync(join(entry, 'boot_id'));
    writeFileSync(join(entry, 'boot_id'), '00000000-0000-0000-0000-000000000000\n');
    writeFileSync(join(layer.dir, 'data'), '');
    const again = await unpackLayer(paths, blob.path, blob.diffId);
    assert.equal(again.unpacked, true, 'unpacked again');
    assert.equal(readFileSync(join(again.layer.dir, 'data'), 'utf8'), 'important');
    assert.deepEqual(readdirSync(paths.tmp), []);
    // an entry of an earlier boot that was synced is trusted
    rmSync(join(entry, 'boot_id'));
    writeFileSync(join(entry, 'boot_id'), '00000000-0000-0000-0000-000000000000\n', { mode: 0o444 });
    assert.equal((await unpackLayer(paths, blob.path, blob.diffId)).unpacked, false);
  });

  test('GNU tar archives (gnu and pax formats, gzip and zstd) unpack to the tree they were made from', async () => {
    const src = join(tmp, 'gnu-src');
    mkdirSync(join(src, 'deep', 'x'.repeat(90), 'y'.repeat(90)), { recursive: true });
    writeFileSync(join(src, 'deep', 'x'.repeat(90), 'y'.repeat(90), 'z'.repeat(120)), 'long');
    writeFileSync(join(src, 'suid'), 'ELF', { mode: 0o755 });
    chmodSync(join(src, 'suid'), 0o4755);
    writeFileSync(join(src, 'bigid'), 'b');
    chownSync(join(src, 'bigid'), 3_000_000, 3_000_001); // beyond 7 octal digits: base-256 (gnu) or pax records
    linkSync(join(src, 'suid'), join(src, 'hard'));
    symlinkSync('x'.repeat(150), join(src, 'longlink'));
    spawnSync('mknod', [join(src, 'null'), 'c', '1', '3']);
    utimesSync(join(src, 'deep'), 1_500_000_000, 1_500_000_000);
    const want = treeOf(src);
    for (const [format, flag] of [['gnu', '-z'], ['pax', '--zstd']] as const) {
      const { paths, blobs } = fresh();
      const blobPath = join(blobs, `layer-${format}`);
      const made = spawnSync('tar', ['-C', src, `--format=${format}`, flag, '-cf', blobPath, '.'], { encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
      const plain = spawnSync('sh', ['-c', `${flag === '-z' ? 'gzip' : 'zstd'} -dc ${blobPath} | sha256sum`], { encoding: 'utf8' });
      const diffId = `sha256:${plain.stdout.split(' ')[0] ?? ''}`;
      const { layer } = await unpackLayer(paths, blobPath, diffId);
      assert.deepEqual(treeOf(layer.dir), want, format);
      assert.equal(lstatSync(join(layer.dir, 'deep')).mtimeMs, 1_500_000_000_000, format);
      assert.deepEqual([lstatSync(join(layer.dir, 'bigid')).uid, lstatSync(join(layer.dir, 'bigid')).gid], [3_000_000, 3_000_001], format);
    }
  });

  test('a cached layer is used for a new blob only after that blob hashes to its diff_id', async () => {
    const { paths, blobs } = fresh();
    const tar = tarBytes([file('a', 'honest')]);
    const gz = writeLayer(blobs, tar, 'gzip');
    const zst = writeLayer(blobs, tar, 'zstd');
    const other = writeLayer(blobs, tarBytes([file('a', 'evil')]), 'gzip');
    const digestOf = (p: string): string => sha256(readFileSync(p));
    assert.equal((await unpackLayer(paths, gz.path, gz.diffId, { blobDigest: digestOf(gz.path) })).unpacked, true);
    await assert.rejects(unpackLayer(paths, other.path, gz.diffId, { blobDigest: digestOf(other.path) }), DiffIdMismatchError);
    const again = await unpackLayer(paths, zst.path, gz.diffId, { blobDigest: digestOf(zst.path) });
    assert.equal(again.unpacked, false, 'the same content compressed otherwise: verified, not unpacked');
    const known = readFileSync(join(paths.entry(gz.diffId), 'blobs'), 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(known, [digestOf(gz.path), digestOf(zst.path)]);
    assert.equal(readFileSync(join(again.layer.dir, 'a'), 'utf8'), 'honest');
  });

  test('from a stream (a download teed into the unpacker): gzip, zstd, plain; a broken stream caches nothing', async () => {
    const tar = tarBytes([dir('etc'), file('etc/hostname', 'streamed\n'), file('big', Buffer.alloc(1_500_000, 9))]);
    for (const c of ['gzip', 'zstd', 'none'] as const) {
      const { paths, blobs } = fresh();
      const blob = writeLayer(blobs, tar, c);
      const bytes = readFileSync(blob.path);
      async function* download(upTo = bytes.length, fail = false): AsyncGenerator<Buffer> {
        for (let i = 0; i < upTo; i += 3000) {
          await new Promise((r) => setImmediate(r));
          yield bytes.subarray(i, Math.min(i + 3000, upTo));
        }
        if (fail) throw new Error('connection reset');
      }
      await assert.rejects(unpackLayerStream(paths, download(bytes.length >> 1, true), blob.diffId), c);
      assert.equal(existsSync(paths.entry(blob.diffId)), false, `${c}: nothing cached`);
      assert.deepEqual(readdirSync(paths.tmp), [], c);
      const r = await unpackLayerStream(paths, download(), blob.diffId, { blobDigest: sha256(bytes) });
      assert.equal(r.unpacked, true, c);
      assert.equal(readFileSync(join(r.layer.dir, 'etc/hostname'), 'utf8'), 'streamed\n', c);
      // cached: the stream is still read to its end
      let read = 0;
      async function* counting(): AsyncGenerator<Buffer> {
        for await (const chunk of download()) {
          read += chunk.length;
          yield chunk;
        }
      }
      assert.equal((await unpackLayerStream(paths, counting(), blob.diffId, { blobDigest: sha256(bytes) })).unpacked, false, c);
      assert.equal(read, bytes.length, `${c}: drained`);
    }
  });

  test('through a ChunkQueue (a download feeding it): nothing is cached before end(), nothing at all after fail()', async () => {
    const tar = tarBytes([dir('etc'), file('etc/hostname', 'queued\n'), file('big', Buffer.alloc(3_000_000, 7))]);
    const { paths, blobs } = fresh();
    const blob = writeLayer(blobs, tar, 'gzip');
    const bytes = readFileSync(blob.path);
    const feed = async (queue: ChunkQueue): Promise<void> => {
      for (let i = 0; i < bytes.length; i += 65536) {
        if (!queue.push(bytes.subarray(i, i + 65536))) await queue.drained();
      }
    };
    const failed = new ChunkQueue();
    const refused = unpackLayerStream(paths, failed, blob.diffId);
    await feed(failed);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(existsSync(paths.entry(blob.diffId)), false, 'every byte in, but no end(): not cached');
    failed.fail(new Error('blob digest mismatch'));
    await assert.rejects(refused, /blob digest mismatch/);
    assert.equal(existsSync(paths.entry(blob.diffId)), false);
    assert.deepEqual(readdirSync(paths.tmp), []);

    const good = new ChunkQueue();
    const unpacked = unpackLayerStream(paths, good, blob.diffId, { blobDigest: sha256(bytes) });
    await feed(good);
    good.end();
    const r = await unpacked;
    assert.equal(r.unpacked, true);
    assert.equal(readFileSync(join(r.layer.dir, 'etc/hostname'), 'utf8'), 'queued\n');

    // a consumer that gives up releases the producer: pushes never wait again
    const dropped = new ChunkQueue();
    dropped.drop();
    assert.equal(dropped.push(Buffer.alloc(8 * 1024 * 1024)), true);
    await dropped.drained();
  });
});
