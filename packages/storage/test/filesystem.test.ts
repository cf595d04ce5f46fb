import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { FilesystemBlobStore } from '../src/filesystem.js';
import { InvalidKeyError } from '../src/errors.js';
import { blobStoreSuite } from './driver-suite.js';
import { collect, sha256, sha512, streamOf } from './helpers.js';

async function tempRoot(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'berth-fs-test-'));
}

/** Every file (not directory) under `dir`, relative to it. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(relative(dir, join(entry.parentPath, entry.name)));
  }
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

blobStoreSuite('filesystem', async () => {
  const root = await tempRoot();
  const store = await FilesystemBlobStore.open(root);
  return { store, cleanup: () => rm(root, { recursive: true, force: true }) };
});

describe('FilesystemBlobStore specifics', () => {
  let base: string;
  before(async () => {
    base = await tempRoot();
  });
  after(async () => {
    await rm(base, { recursive: true, force: true });
  });

  /** A fresh store in its own directory under `base`. */
  async function fresh(): Promise<{ root: string; store: FilesystemBlobStore }> {
    const root = join(base, randomUUID());
    return { root, store: await FilesystemBlobStore.open(root) };
  }

  test('open creates the blobs and uploads directories, and is repeatable', async () => {
    const { root } = await fresh();
    assert.deepEqual((await readdir(root)).sort(), ['blobs', 'uploads']);
    await FilesystemBlobStore.open(root);
    assert.deepEqual((await readdir(root)).sort(), ['blobs', 'uploads']);
  });

  test('a committed blob lives at blobs/<algorithm>/<first two hex>/<hex>', async () => {
    const { root, store } = await fresh();
    const content = 'layout';
    const digest = sha256(content);
    const hex = digest.slice('sha256:'.length);
    const id = randomUUID();
    await store.startUpload(id);
    await store.append(id, 0, streamOf(content));
    await store.commit(id, digest);
    const path = join(root, 'blobs', 'sha256', hex.slice(0, 2), hex);
    assert.equal(await readFile(path, 'utf8'), content);

    const d512 = sha512(content);
    const id2 = randomUUID();
    await store.startUpload(id2);
    await store.append(id2, 0, streamOf(content));
    await store.commit(id2, d512);
    const hex512 = d512.slice('sha512:'.length);
    assert.equal(await readFile(join(root, 'blobs', 'sha512', hex512.slice(0, 2), hex512), 'utf8'), content);
  });

  test('nothing is written under blobs/ before commit', async () => {
    const { root, store } = await fresh();
    const id = randomUUID();
    await store.startUpload(id);
    await store.append(id, 0, streamOf('not yet'));
    assert.deepEqual(await files(join(root, 'blobs')), []);
    assert.deepEqual(await files(join(root, 'uploads')), [id]);
  });

  test('no upload or temp file is left after commit or cancel', async () => {
    const { root, store } = await fresh();
    const committed = randomUUID();
    await store.startUpload(committed);
    await store.append(committed, 0, streamOf('one'));
    await store.commit(committed, sha256('one'));
    const cancelled = randomUUID();
    await store.startUpload(cancelled);
    await store.append(cancelled, 0, streamOf('two'));
    await store.cancel(cancelled);
    // Committing the same digest again replaces nothing and leaves nothing behind.
    const again = randomUUID();
    await store.startUpload(again);
    await store.append(again, 0, streamOf('one'));
    await store.commit(again, sha256('one'));

    const hex = sha256('one').slice(7);
    assert.deepEqual(await files(root), [join('blobs', 'sha256', hex.slice(0, 2), hex)]);
    assert.deepEqual(await readdir(join(root, 'uploads')), []);
  });

  test('a reopened store sees committed blobs and uploads in progress', async () => {
    const { root, store } = await fresh();
    const digest = sha256('durable');
    const done = randomUUID();
    await store.startUpload(done);
    await store.append(done, 0, streamOf('durable'));
    await store.commit(done, digest);
    const pending = randomUUID();
    await store.startUpload(pending);
    await store.append(pending, 0, streamOf('half'));

    const reopened = await FilesystemBlobStore.open(root);
    assert.deepEqual(await reopened.stat(digest), { size: 7 });
    assert.equal(await reopened.uploadSize(pending), 4);
    assert.equal(await reopened.append(pending, 4, streamOf('-done')), 9);
    assert.equal((await collect(await reopened.readUpload(pending))).toString(), 'half-done');
  });

  test('list and listUploads skip stray files', async () => {
    const { root, store } = await fresh();
    const digest = sha256('real');
    const id = randomUUID();
    await store.startUpload(id);
    await store.append(id, 0, streamOf('real'));
    await store.commit(id, digest);
    await mkdir(join(root, 'blobs', 'sha256', 'zz'), { recursive: true });
    await writeFile(join(root, 'blobs', 'sha256', 'zz', 'not-a-digest'), 'x');
    await mkdir(join(root, 'blobs', 'md5', 'd4'), { recursive: true });
    await writeFile(join(root, 'blobs', 'md5', 'd4', 'd41d8cd98f00b204e9800998ecf8427e'), 'x');
    await writeFile(join(root, 'uploads', 'junk.tmp'), 'x');
    const pending = randomUUID();
    await store.startUpload(pending);

    const listed: string[] = [];
    for await (const d of store.list()) listed.push(d);
    assert.deepEqual(listed, [digest]);
    const uploads: string[] = [];
    for await (const u of store.listUploads()) uploads.push(u);
    assert.deepEqual(uploads, [pending]);
  });

  test('invalid keys are refused before touching the disk', async () => {
    const { root, store } = await fresh();
    const before = await files(base);
    await assert.rejects(store.startUpload('../escaped'), InvalidKeyError);
    await assert.rejects(store.startUpload(`../${randomUUID()}`), InvalidKeyError);
    await assert.rejects(store.append('../../escaped', 0, streamOf('x')), InvalidKeyError);
    const id = randomUUID();
    await store.startUpload(id);
    await store.append(id, 0, streamOf('payload'));
    await assert.rejects(store.commit(id, 'sha256:../../../escaped'), InvalidKeyError);
    await assert.rejects(store.commit(id, `sha256:../../${'a'.repeat(58)}`), InvalidKeyError);
    assert.equal(await exists(join(root, 'escaped')), false);
    assert.equal(await exists(join(base, 'escaped')), false);
    assert.deepEqual(await files(join(root, 'blobs')), []);
    assert.deepEqual(await files(base), [...before, relative(base, join(root, 'uploads', id))].sort());
    assert.equal((await readFile(join(root, 'uploads', id), 'utf8')), 'payload');
  });
});
