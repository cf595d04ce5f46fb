import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { SqliteMetadataStore } from '../src/sqlite.js';

async function toArray(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('blob catalog (locations and upload states of the S3 driver)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-catalog-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('a location is recorded once and ends the upload state in the same transaction', async () => {
    const store = new SqliteMetadataStore(join(dir, `${randomUUID()}.db`));
    const c = store.blobCatalog();
    const id = randomUUID();
    const digest = `sha256:${'a'.repeat(64)}`;
    await c.saveUploadState(id, { multipartId: 'mp', sealed: 0, parts: [{ number: 1, etag: '"e"', size: 5 }], tail: 3, segment: 2 });
    assert.deepEqual(await c.uploadState(id), { multipartId: 'mp', sealed: 0, parts: [{ number: 1, etag: '"e"', size: 5 }], tail: 3, segment: 2 });
    assert.deepEqual(await toArray(c.uploadIds()), [id]);
    assert.equal(await c.addLocation(digest, { key: `uploads/${id}`, size: 8 }, id), true);
    assert.equal(await c.uploadState(id), undefined);
    assert.deepEqual(await c.location(digest), { key: `uploads/${id}`, size: 8 });
    // A second upload of the same digest: the first location stays, the upload ends.
    const other = randomUUID();
    await c.saveUploadState(other, { sealed: 0, parts: [], tail: 8, segment: 0 });
    assert.equal(await c.addLocation(digest, { key: `uploads/${other}`, size: 8 }, other), false);
    assert.equal(await c.uploadState(other), undefined);
    assert.deepEqual(await c.location(digest), { key: `uploads/${id}`, size: 8 });
    assert.deepEqual(await c.removeLocation(digest), { key: `uploads/${id}`, size: 8 });
    assert.equal(await c.removeLocation(digest), undefined);
    await store.close();
  });

  test('states and locations survive reopening; listing pages through many', async () => {
    const path = join(dir, `${randomUUID()}.db`);
    let store = new SqliteMetadataStore(path);
    const digests: string[] = [];
    for (let i = 0; i < 1200; i++) {
      const d = `sha256:${i.toString(16).padStart(64, '0')}`;
      digests.push(d);
      await store.blobCatalog().addLocation(d, { key: `k${i}`, size: i });
    }
    const id = randomUUID();
    await store.blobCatalog().saveUploadState(id, { sealed: 10, parts: [], tail: 0, segment: 1 });
    await store.close();
    store = new SqliteMetadataStore(path);
    assert.deepEqual((await toArray(store.blobCatalog().digests())).sort(), digests.sort());
    assert.deepEqual(await store.blobCatalog().uploadState(id), { sealed: 10, parts: [], tail: 0, segment: 1 });
    await store.close();
  });
});
