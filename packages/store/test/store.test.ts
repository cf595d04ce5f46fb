import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { digestOf } from '@berth/oci';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { DigestMismatchError, LocalStore, defaultRoot } from '../src/index.js';

const blob = (text: string): { bytes: Buffer; digest: string } => {
  const bytes = Buffer.from(text);
  return { bytes, digest: digestOf(bytes) };
};

async function withStore(fn: (store: LocalStore, root: string) => Promise<void>): Promise<void> {
  const root = makeTempDir('store');
  const store = await LocalStore.open(root);
  try {
    await fn(store, root);
  } finally {
    store.close();
    removeTempDir(root);
  }
}

describe('local store', () => {
  test('BERTH_ROOT wins; otherwise /var/lib/berth for root, XDG data home for others', () => {
    assert.equal(defaultRoot({ BERTH_ROOT: '/srv/berth' }), '/srv/berth');
    const uid = process.getuid?.();
    assert.equal(defaultRoot({ XDG_DATA_HOME: '/x' }), uid === 0 ? '/var/lib/berth' : '/x/berth');
  });

  test('an ingest commits only verified content, under its digest', () =>
    withStore(async (store, root) => {
      const b = blob('layer bytes');
      const session = store.session();
      const w = await session.writer(b.digest, b.bytes.length);
      assert.ok(w);
      await w.append(Readable.from([b.bytes.subarray(0, 4)]));
      await w.append(Readable.from([b.bytes.subarray(4)]));
      await w.commit();
      assert.ok(existsSync(join(root, 'blobs', 'sha256', b.digest.slice(7))));
      assert.equal(await session.writer(b.digest, b.bytes.length), undefined, 'present: no second writer');
    }));

  test('a digest mismatch is refused naming the digest, and nothing stays', () =>
    withStore(async (store, root) => {
      const b = blob('expected');
      const w = await store.session().writer(b.digest, b.bytes.length);
      assert.ok(w);
      await w.append(Readable.from([Buffer.from('tampered')]));
      await assert.rejects(w.commit(), (err: unknown) => err instanceof DigestMismatchError && err.message.includes(b.digest));
      assert.deepEqual(readdirSync(join(root, 'ingest')), []);
      assert.equal(await store.hasBlob(b.digest), false);
    }));

  test('more bytes than the descriptor says are refused at once', () =>
    withStore(async (store) => {
      const b = blob('short');
      const w = await store.session().writer(b.digest, b.bytes.length);
      assert.ok(w);
      await assert.rejects(w.append(Readable.from([Buffer.from('much longer than promised')])), DigestMismatchError);
    }));

  test('an interrupted ingest resumes where the partial file ends', () =>
    withStore(async (store, root) => {
      const b = blob('resumable content');
      writeFileSync(join(root, 'ingest', `sha256-${b.digest.slice(7)}.partial`), b.bytes.subarray(0, 7));
      const w = await store.session().writer(b.digest, b.bytes.length);
      assert.ok(w);
      assert.equal(w.offset, 7);
      await w.append(Readable.from([b.bytes.subarray(7)]));
      await w.commit();
      assert.deepEqual(await store.readBlob(b.digest), b.bytes);
    }));

  test('an aborted session removes what it stored; rmi keeps blobs other images use', () =>
    withStore(async (store) => {
      const shared = blob('shared layer');
      const own = blob('own layer');
      const config = blob('{"config":1}');
      const manifest = blob('{"manifest":1}');
      const s1 = store.session();
      for (const b of [shared, own, config, manifest]) await s1.putBytes(b.digest, b.bytes);
      s1.record({ digest: manifest.digest, mediaType: 'm', configDigest: config.digest, size: 1, blobs: [shared, own, config, manifest].map((b) => b.digest) }, [
        { repository: 'example.com/a', tag: 'v1', imageDigest: manifest.digest, indexDigest: undefined },
      ]);
      const failed = store.session();
      const extra = blob('extra');
      await failed.putBytes(extra.digest, extra.bytes);
      await failed.present([shared.digest]);
      assert.deepEqual(failed.abort(), [extra.digest], 'only its own, unreferenced blob');
      const m2 = blob('{"manifest":2}');
      const s2 = store.session();
      await s2.present([shared.digest]);
      await s2.putBytes(m2.digest, m2.bytes);
      s2.record({ digest: m2.digest, mediaType: 'm', configDigest: config.digest, size: 1, blobs: [shared.digest, config.digest, m2.digest] }, [
        { repository: 'example.com/b', tag: 'v1', imageDigest: m2.digest, indexDigest: undefined },
      ]);
      const removed = store.remove([{ repository: 'example.com/a', tag: 'v1' }]);
      assert.deepEqual(removed.deleted, [manifest.digest]);
      assert.deepEqual(removed.blobs.sort(), [own.digest, manifest.digest].sort());
      assert.equal(await store.hasBlob(shared.digest), true);
      assert.equal(await store.hasBlob(config.digest), true);
    }));

  test('a blob leased by a running session is not collected by rmi', () =>
    withStore(async (store) => {
      const layer = blob('layer');
      const m = blob('{"m":1}');
      const s1 = store.session();
      await s1.putBytes(layer.digest, layer.bytes);
      await s1.putBytes(m.digest, m.bytes);
      s1.record({ digest: m.digest, mediaType: 'm', configDigest: layer.digest, size: 1, blobs: [layer.digest, m.digest] }, [
        { repository: 'example.com/a', tag: 'v1', imageDigest: m.digest, indexDigest: undefined },
      ]);
      const pulling = store.session();
      assert.deepEqual([...(await pulling.present([layer.digest]))], [layer.digest]);
      store.remove([{ repository: 'example.com/a', tag: 'v1' }]);
      assert.equal(await store.hasBlob(layer.digest), true, 'leased: kept');
      pulling.abort();
    }));

  test('a session records what it committed only at its end: others wait for it meanwhile', () =>
    withStore(async (store) => {
      const layer = blob('downloaded layer');
      const m = blob('{"m":"batched"}');
      const s1 = store.session();
      assert.deepEqual([...(await s1.present([layer.digest, m.digest]))], [], 'nothing stored yet');
      const w = await s1.writer(layer.digest, layer.bytes.length);
      assert.ok(w);
      await w.append(Readable.from([layer.bytes]));
      await w.commit();
      assert.equal(await store.hasBlob(layer.digest), false, 'committed, not recorded yet');
      // another session wants the blob: it waits for s1's lock until s1 records
      const s2 = store.session();
      const controller = new AbortController();
      const waiting = s2.writer(layer.digest, layer.bytes.length, controller.signal);
      let settled = false;
      void waiting.then(() => (settled = true), () => (settled = true));
      await new Promise((resolve) => setTimeout(resolve, 120));
      assert.equal(settled, false, 'the second writer waits');
      await s1.putBytes(m.digest, m.bytes);
      s1.record({ digest: m.digest, mediaType: 'm', configDigest: layer.digest, size: 1, blobs: [layer.digest, m.digest] }, [
        { repository: 'example.com/batched', tag: 'v1', imageDigest: m.digest, indexDigest: undefined },
      ]);
      assert.equal(await waiting, undefined, 'then finds it stored');
      assert.equal(await store.hasBlob(layer.digest), true);
      assert.equal(await store.hasBlob(m.digest), true);
      s2.abort();
    }));

  test('an aborted session records its committed blobs only to collect them, and releases its locks', () =>
    withStore(async (store, root) => {
      const layer = blob('aborted layer');
      const s1 = store.session();
      await s1.present([layer.digest]);
      const w = await s1.writer(layer.digest, layer.bytes.length);
      assert.ok(w);
      await w.append(Readable.from([layer.bytes]));
      await w.commit();
      assert.deepEqual(s1.abort(), [layer.digest]);
      assert.equal(existsSync(join(root, 'blobs', 'sha256', layer.digest.slice(7))), false);
      const w2 = await store.session().writer(layer.digest, layer.bytes.length);
      assert.ok(w2, 'the lock is free again');
      await w2.discard();
    }));
});
