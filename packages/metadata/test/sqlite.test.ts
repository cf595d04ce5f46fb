import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { MediaType, digestOf } from '@berth/oci';
import { SqliteMetadataStore } from '../src/sqlite.js';
import { MIGRATIONS } from '../src/migrations.js';
import { ManifestReferenceError, type NewManifest } from '../src/types.js';

const d = (s: string): string => digestOf(Buffer.from(s));

let dir: string;
const opened: SqliteMetadataStore[] = [];

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-metadata-test-'));
});
after(async () => {
  for (const s of opened) await s.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

/** A store on a new database file (or on `path`, to reopen one). */
function openStore(path = join(dir, `${randomUUID()}.db`)): { store: SqliteMetadataStore; path: string } {
  const store = new SqliteMetadataStore(path);
  opened.push(store);
  return { store, path };
}

/** A manifest whose content is `body`, referencing the given blobs/children. */
function manifest(body: string, extra: Partial<NewManifest> = {}): NewManifest {
  const content = Buffer.from(body);
  return { digest: digestOf(content), mediaType: MediaType.ociManifest, content, blobs: [], manifests: [], ...extra };
}

/** Links `names` as blobs of `repository` with their content length as size. */
async function linkAll(store: SqliteMetadataStore, repository: string, ...names: string[]): Promise<{ digest: string; size: number }[]> {
  const out = [];
  for (const n of names) {
    await store.linkBlob(repository, d(n), n.length);
    out.push({ digest: d(n), size: n.length });
  }
  return out;
}

describe('repositories and catalog', () => {
  test('an empty store has no repositories', async () => {
    const { store } = openStore();
    assert.deepEqual(await store.listRepositories(10), { items: [], more: false });
    assert.equal(await store.repositoryExists('library/ubuntu'), false);
  });

  test('linking a blob creates the repository', async () => {
    const { store } = openStore();
    await store.linkBlob('library/ubuntu', d('x'), 1);
    assert.equal(await store.repositoryExists('library/ubuntu'), true);
    assert.equal(await store.repositoryExists('library'), false);
  });

  test('catalog pages in lexical order with limit, last and more', async () => {
    const { store } = openStore();
    for (const name of ['d', 'b/c', 'a', 'c', 'b']) await store.linkBlob(name, d('x'), 1);
    assert.deepEqual(await store.listRepositories(10), { items: ['a', 'b', 'b/c', 'c', 'd'], more: false });
    assert.deepEqual(await store.listRepositories(2), { items: ['a', 'b'], more: true });
    assert.deepEqual(await store.listRepositories(2, 'b'), { items: ['b/c', 'c'], more: true });
    assert.deepEqual(await store.listRepositories(2, 'c'), { items: ['d'], more: false });
    // A page that ends exactly at the last repository has no more.
    assert.deepEqual(await store.listRepositories(2, 'b/c'), { items: ['c', 'd'], more: false });
    assert.deepEqual(await store.listRepositories(5), { items: ['a', 'b', 'b/c', 'c', 'd'], more: false });
    assert.deepEqual(await store.listRepositories(10, 'd'), { items: [], more: false });
    // `last` need not be an existing name.
    assert.deepEqual(await store.listRepositories(10, 'bb'), { items: ['c', 'd'], more: false });
  });
});

describe('blobs', () => {
  test('link, get and getAny', async () => {
    const { store } = openStore();
    await store.linkBlob('one', d('blob'), 4);
    assert.deepEqual(await store.getBlob('one', d('blob')), { size: 4 });
    assert.equal(await store.getBlob('two', d('blob')), undefined);
    assert.equal(await store.getBlob('one', d('other')), undefined);
    assert.deepEqual(await store.getAnyBlob(d('blob')), { size: 4 });
    assert.equal(await store.getAnyBlob(d('other')), undefined);
  });

  test('linking twice is harmless', async () => {
    const { store } = openStore();
    await store.linkBlob('one', d('blob'), 4);
    await store.linkBlob('one', d('blob'), 4);
    assert.deepEqual(await store.getBlob('one', d('blob')), { size: 4 });
  });

  test('unlink removes the link only', async () => {
    const { store } = openStore();
    await store.linkBlob('one', d('blob'), 4);
    await store.linkBlob('two', d('blob'), 4);
    assert.equal(await store.unlinkBlob('one', d('blob')), true);
    assert.equal(await store.unlinkBlob('one', d('blob')), false);
    assert.equal(await store.unlinkBlob('nowhere', d('blob')), false);
    assert.equal(await store.getBlob('one', d('blob')), undefined);
    assert.deepEqual(await store.getBlob('two', d('blob')), { size: 4 });
    assert.deepEqual(await store.getAnyBlob(d('blob')), { size: 4 });
  });

  test('mount links a blob of the source repository into the target', async () => {
    const { store } = openStore();
    await store.linkBlob('source', d('blob'), 4);
    assert.deepEqual(await store.mountBlob('target', 'source', d('blob')), { size: 4 });
    assert.deepEqual(await store.getBlob('target', d('blob')), { size: 4 });
    assert.equal(await store.repositoryExists('target'), true);
  });

  test('mount only from a repository that has the blob', async () => {
    const { store } = openStore();
    await store.linkBlob('holder', d('blob'), 4);
    await store.linkBlob('other', d('unrelated'), 9);
    // The blob exists in the registry, but not in `other`.
    assert.equal(await store.mountBlob('target', 'other', d('blob')), undefined);
    assert.equal(await store.mountBlob('target', 'missing-repo', d('blob')), undefined);
    assert.equal(await store.getBlob('target', d('blob')), undefined);
    assert.equal(await store.repositoryExists('target'), false);
    // Nor from a repository whose link was removed.
    await store.unlinkBlob('holder', d('blob'));
    assert.equal(await store.mountBlob('target', 'holder', d('blob')), undefined);
  });
});

describe('manifests', () => {
  test('put by tag, then get and head by tag and by digest', async () => {
    const { store } = openStore();
    const blobs = await linkAll(store, 'app', 'config', 'layer');
    const m = manifest('{"manifest":1}', { blobs, tag: 'latest' });
    await store.putManifest('app', m);

    for (const ref of [{ tag: 'latest' }, { digest: m.digest }]) {
      const got = await store.getManifest('app', ref);
      assert.ok(got !== undefined);
      assert.equal(got.digest, m.digest);
      assert.equal(got.mediaType, MediaType.ociManifest);
      assert.equal(got.size, m.content.length);
      assert.ok(Buffer.isBuffer(got.content));
      assert.deepEqual(got.content, m.content);
      assert.deepEqual(await store.headManifest('app', ref), { digest: m.digest, mediaType: MediaType.ociManifest, size: m.content.length });
    }
    assert.equal(await store.getManifest('app', { tag: 'other' }), undefined);
    assert.equal(await store.getManifest('app', { digest: d('nope') }), undefined);
    assert.equal(await store.getManifest('elsewhere', { tag: 'latest' }), undefined);
    assert.equal(await store.headManifest('elsewhere', { digest: m.digest }), undefined);
  });

  test('a manifest without blobs creates its repository', async () => {
    const { store } = openStore();
    await store.putManifest('fresh', manifest('{}'));
    assert.equal(await store.repositoryExists('fresh'), true);
  });

  test('the stored bytes are exactly the pushed bytes', async () => {
    const { store } = openStore();
    const content = Buffer.from([0x7b, 0x0a, 0x20, 0x00, 0xff, 0x7d]);
    const m = { ...manifest(''), content, digest: digestOf(content) };
    await store.putManifest('bytes', m);
    assert.deepEqual((await store.getManifest('bytes', { digest: m.digest }))?.content, content);
  });

  test('an index may reference manifests already in the repository', async () => {
    const { store } = openStore();
    const child = manifest('{"child":1}');
    await store.putManifest('multi', child);
    const index = manifest('{"index":1}', {
      mediaType: MediaType.ociIndex,
      manifests: [{ digest: child.digest, size: child.content.length }],
      tag: 'v1',
    });
    await store.putManifest('multi', index);
    assert.equal((await store.headManifest('multi', { tag: 'v1' }))?.mediaType, MediaType.ociIndex);
  });

  describe('putManifest refuses bad references and stores nothing', () => {
    /** A repository with a tagged manifest `old` and the blob `config` (6 bytes). */
    async function seeded(): Promise<{ store: SqliteMetadataStore; old: NewManifest }> {
      const { store } = openStore();
      const blobs = await linkAll(store, 'repo', 'config');
      const old = manifest('{"old":1}', { blobs, tag: 'latest' });
      await store.putManifest('repo', old);
      await store.linkBlob('other-repo', d('elsewhere'), 9);
      return { store, old };
    }

    async function assertNothingStored(store: SqliteMetadataStore, m: NewManifest, old: NewManifest): Promise<void> {
      assert.equal(await store.getManifest('repo', { digest: m.digest }), undefined);
      assert.equal((await store.headManifest('repo', { tag: 'latest' }))?.digest, old.digest, 'tag not moved');
      assert.deepEqual(await store.listTags('repo', 10), { items: ['latest'], more: false });
    }

    const cases: [string, (old: NewManifest) => Partial<NewManifest>, string, ManifestReferenceError['reason']][] = [
      ['a blob not linked anywhere', () => ({ blobs: [{ digest: d('missing'), size: 7 }] }), d('missing'), 'blob-unknown'],
      ['a blob linked only to another repository', () => ({ blobs: [{ digest: d('elsewhere'), size: 9 }] }), d('elsewhere'), 'blob-unknown'],
      [
        'a missing blob after a present one',
        () => ({ blobs: [{ digest: d('config'), size: 6 }, { digest: d('missing'), size: 7 }] }),
        d('missing'),
        'blob-unknown',
      ],
      ['a blob size mismatch', () => ({ blobs: [{ digest: d('config'), size: 7 }] }), d('config'), 'size-mismatch'],
      ['a missing child manifest', () => ({ manifests: [{ digest: d('no child'), size: 3 }] }), d('no child'), 'manifest-unknown'],
      [
        'a child manifest size mismatch',
        (old) => ({ manifests: [{ digest: old.digest, size: old.content.length + 1 }] }),
        '',
        'size-mismatch',
      ],
    ];
    for (const [name, extra, digest, reason] of cases) {
      test(`${name} → ManifestReferenceError(${reason}), tag not moved`, async () => {
        const { store, old } = await seeded();
        const m = manifest(`{"new":"${name}"}`, { ...extra(old), tag: 'latest' });
        await assert.rejects(async () => store.putManifest('repo', m), (err: unknown) => {
          assert.ok(err instanceof ManifestReferenceError, String(err));
          assert.equal(err.name, 'ManifestReferenceError');
          assert.equal(err.reason, reason);
          assert.equal(err.digest, digest === '' ? old.digest : digest);
          return true;
        });
        await assertNothingStored(store, m, old);
      });
    }

    test('a refused manifest in a new repository does not create the repository', async () => {
      const { store } = await seeded();
      const m = manifest('{"x":1}', { blobs: [{ digest: d('missing'), size: 1 }], tag: 'latest' });
      await assert.rejects(async () => store.putManifest('brand-new', m), ManifestReferenceError);
      assert.equal(await store.repositoryExists('brand-new'), false);
      assert.equal(await store.listTags('brand-new', 10), undefined);
      assert.deepEqual((await store.listRepositories(10)).items, ['other-repo', 'repo']);
    });
  });

  test('pushing a tag again moves it; the old manifest stays by digest', async () => {
    const { store } = openStore();
    const m1 = manifest('{"v":1}', { tag: 'latest' });
    const m2 = manifest('{"v":2}', { tag: 'latest' });
    await store.putManifest('app', m1);
    await store.putManifest('app', m2);
    assert.equal((await store.headManifest('app', { tag: 'latest' }))?.digest, m2.digest);
    assert.equal((await store.headManifest('app', { digest: m1.digest }))?.digest, m1.digest);
    assert.deepEqual(await store.listTags('app', 10), { items: ['latest'], more: false });
  });

  test('pushing the same manifest again is idempotent and can add a tag', async () => {
    const { store } = openStore();
    const m = manifest('{"same":1}', { tag: 'a' });
    await store.putManifest('app', m);
    await store.putManifest('app', m);
    await store.putManifest('app', { ...m, tag: 'b' });
    assert.deepEqual(await store.listTags('app', 10), { items: ['a', 'b'], more: false });
    assert.equal((await store.headManifest('app', { tag: 'b' }))?.digest, m.digest);
  });

  test('deleteManifest removes the manifest and every tag pointing at it', async () => {
    const { store } = openStore();
    const m = manifest('{"del":1}', { tag: 'one' });
    const keep = manifest('{"keep":1}', { tag: 'kept' });
    await store.putManifest('app', m);
    await store.putManifest('app', { ...m, tag: 'two' });
    await store.putManifest('app', keep);
    assert.equal(await store.deleteManifest('app', m.digest), true);
    assert.equal(await store.getManifest('app', { digest: m.digest }), undefined);
    assert.equal(await store.getManifest('app', { tag: 'one' }), undefined);
    assert.deepEqual(await store.listTags('app', 10), { items: ['kept'], more: false });
    assert.equal(await store.deleteManifest('app', m.digest), false);
    assert.equal(await store.deleteManifest('nowhere', keep.digest), false);
    // It can be pushed again afterwards.
    await store.putManifest('app', m);
    assert.ok(await store.headManifest('app', { digest: m.digest }));
  });

  test('deleteManifest only affects its repository', async () => {
    const { store } = openStore();
    const m = manifest('{"shared":1}', { tag: 'latest' });
    await store.putManifest('a', m);
    await store.putManifest('b', m);
    await store.deleteManifest('a', m.digest);
    assert.equal((await store.headManifest('b', { tag: 'latest' }))?.digest, m.digest);
  });

  test('deleteTag removes the tag but not the manifest', async () => {
    const { store } = openStore();
    const m = manifest('{"t":1}', { tag: 'latest' });
    await store.putManifest('app', m);
    assert.equal(await store.deleteTag('app', 'latest'), true);
    assert.equal(await store.deleteTag('app', 'latest'), false);
    assert.equal(await store.deleteTag('nowhere', 'latest'), false);
    assert.equal(await store.getManifest('app', { tag: 'latest' }), undefined);
    assert.ok(await store.getManifest('app', { digest: m.digest }));
    assert.deepEqual(await store.listTags('app', 10), { items: [], more: false });
  });
});

describe('listTags', () => {
  test('pages in lexical order with limit, last and more', async () => {
    const { store } = openStore();
    const m = manifest('{}');
    for (const tag of ['v2', 'latest', 'v1', 'V3', '1.0']) await store.putManifest('app', { ...m, tag });
    // Byte order: digits, then upper case, then lower case.
    assert.deepEqual(await store.listTags('app', 10), { items: ['1.0', 'V3', 'latest', 'v1', 'v2'], more: false });
    assert.deepEqual(await store.listTags('app', 2), { items: ['1.0', 'V3'], more: true });
    assert.deepEqual(await store.listTags('app', 2, 'V3'), { items: ['latest', 'v1'], more: true });
    assert.deepEqual(await store.listTags('app', 2, 'v1'), { items: ['v2'], more: false });
    assert.deepEqual(await store.listTags('app', 2, 'latest'), { items: ['v1', 'v2'], more: false });
    assert.deepEqual(await store.listTags('app', 10, 'v2'), { items: [], more: false });
  });

  test('is undefined for an unknown repository and empty for one without tags', async () => {
    const { store } = openStore();
    assert.equal(await store.listTags('unknown', 10), undefined);
    await store.linkBlob('blobs-only', d('x'), 1);
    assert.deepEqual(await store.listTags('blobs-only', 10), { items: [], more: false });
  });

  test('tags of other repositories are not listed', async () => {
    const { store } = openStore();
    await store.putManifest('a', manifest('{}', { tag: 'in-a' }));
    await store.putManifest('b', manifest('{}', { tag: 'in-b' }));
    assert.deepEqual(await store.listTags('a', 10), { items: ['in-a'], more: false });
  });
});

describe('referrers', () => {
  const subject = d('subject manifest');
  const SBOM = 'application/vnd.example.sbom';
  const SIG = 'application/vnd.example.signature';
  let store: SqliteMetadataStore;
  let refs: NewManifest[];

  before(async () => {
    store = openStore().store;
    refs = [
      manifest('{"sbom":1}', { subject, artifactType: SBOM, annotations: { 'org.example.n': '1' } }),
      manifest('{"sbom":2}', { subject, artifactType: SBOM }),
      manifest('{"sig":1}', { subject, artifactType: SIG }),
      manifest('{"untyped":1}', { subject }),
    ];
    for (const r of refs) await store.putManifest('app', r);
    await store.putManifest('app', manifest('{"other subject":1}', { subject: d('other'), artifactType: SBOM }));
    await store.putManifest('app', manifest('{"no subject":1}', { artifactType: SBOM }));
    await store.putManifest('elsewhere', manifest('{"other repo":1}', { subject, artifactType: SBOM }));
  });

  const byDigest = (ms: NewManifest[]): string[] => ms.map((m) => m.digest).sort();

  test('lists every manifest with the subject as descriptors, by digest', async () => {
    const page = await store.listReferrers('app', subject, undefined, 10);
    assert.equal(page.more, false);
    assert.deepEqual(page.items.map((r) => r.digest), byDigest(refs));
    const first = refs[0] as NewManifest;
    const sbom1 = page.items.find((r) => r.digest === first.digest);
    assert.deepEqual(sbom1, {
      mediaType: MediaType.ociManifest,
      digest: first.digest,
      size: first.content.length,
      artifactType: SBOM,
      annotations: { 'org.example.n': '1' },
    });
    const untyped = page.items.find((r) => r.digest === refs[3]?.digest);
    assert.ok(untyped !== undefined);
    assert.equal('artifactType' in untyped, false);
    assert.equal('annotations' in untyped, false);
  });

  test('filters by artifactType', async () => {
    const sboms = await store.listReferrers('app', subject, SBOM, 10);
    assert.deepEqual(sboms.items.map((r) => r.digest), byDigest(refs.slice(0, 2)));
    const sigs = await store.listReferrers('app', subject, SIG, 10);
    assert.deepEqual(sigs.items.map((r) => r.digest), [refs[2]?.digest]);
    assert.deepEqual(await store.listReferrers('app', subject, 'application/none', 10), { items: [], more: false });
  });

  test('pages with limit, last and more', async () => {
    const all = byDigest(refs);
    const seen: string[] = [];
    let last: string | undefined;
    for (;;) {
      const page = await store.listReferrers('app', subject, undefined, 1, last);
      assert.equal(page.items.length, 1);
      seen.push(page.items[0]?.digest as string);
      if (!page.more) break;
      last = page.items[0]?.digest;
    }
    assert.deepEqual(seen, all);
    const filtered = await store.listReferrers('app', subject, SBOM, 1);
    assert.equal(filtered.more, true);
    const rest = await store.listReferrers('app', subject, SBOM, 1, filtered.items[0]?.digest);
    assert.equal(rest.more, false);
    assert.equal(rest.items.length, 1);
  });

  test('is empty for an unknown subject or repository', async () => {
    assert.deepEqual(await store.listReferrers('app', d('nobody'), undefined, 10), { items: [], more: false });
    assert.deepEqual(await store.listReferrers('unknown', subject, undefined, 10), { items: [], more: false });
  });

  test('a deleted referrer is no longer listed', async () => {
    const { store: s } = openStore();
    const r = manifest('{"r":1}', { subject, artifactType: SIG });
    await s.putManifest('app', r);
    assert.equal((await s.listReferrers('app', subject, undefined, 10)).items.length, 1);
    await s.deleteManifest('app', r.digest);
    assert.deepEqual(await s.listReferrers('app', subject, undefined, 10), { items: [], more: false });
  });
});

describe('uploads', () => {
  test('create, get, setUploadSize, delete', async () => {
    const { store } = openStore();
    const id = randomUUID();
    await store.createUpload(id, 'app', 1000);
    assert.deepEqual(await store.getUpload(id), { id, repository: 'app', size: 0, createdAt: 1000, updatedAt: 1000 });
    await store.setUploadSize(id, 4096, 2000);
    assert.deepEqual(await store.getUpload(id), { id, repository: 'app', size: 4096, createdAt: 1000, updatedAt: 2000 });
    assert.equal(await store.getUpload(randomUUID()), undefined);
    assert.equal(await store.deleteUpload(id), true);
    assert.equal(await store.deleteUpload(id), false);
    assert.equal(await store.getUpload(id), undefined);
  });

  test('createUpload refuses a duplicate id', async () => {
    const { store } = openStore();
    const id = randomUUID();
    await store.createUpload(id, 'app', 1);
    await assert.rejects(async () => store.createUpload(id, 'app', 2));
    assert.equal((await store.getUpload(id))?.createdAt, 1);
  });

  test('countUploads', async () => {
    const { store } = openStore();
    assert.equal(await store.countUploads(), 0);
    const ids = [randomUUID(), randomUUID(), randomUUID()];
    for (const id of ids) await store.createUpload(id, 'app', 1);
    assert.equal(await store.countUploads(), 3);
    await store.deleteUpload(ids[0] as string);
    assert.equal(await store.countUploads(), 2);
  });

  test('listStaleUploads returns uploads untouched since `before`, oldest first, up to limit', async () => {
    const { store } = openStore();
    const [a, b, c, e] = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    await store.createUpload(a, 'app', 300);
    await store.createUpload(b, 'app', 100);
    await store.createUpload(c, 'app', 200);
    await store.createUpload(e, 'app', 500);
    // Touching an upload makes it fresh again.
    await store.setUploadSize(b, 10, 400);
    assert.deepEqual(await store.listStaleUploads(400, 10), [c, a]);
    assert.deepEqual(await store.listStaleUploads(401, 10), [c, a, b]);
    assert.deepEqual(await store.listStaleUploads(401, 2), [c, a]);
    assert.deepEqual(await store.listStaleUploads(100, 10), []);
  });

  test('completeUpload ends the upload and links its blob', async () => {
    const { store } = openStore();
    const id = randomUUID();
    await store.createUpload(id, 'new-repo', 1);
    await store.setUploadSize(id, 5, 2);
    await store.completeUpload(id, 'new-repo', d('hello'), 5);
    assert.equal(await store.getUpload(id), undefined);
    assert.equal(await store.countUploads(), 0);
    assert.deepEqual(await store.getBlob('new-repo', d('hello')), { size: 5 });
    assert.equal(await store.repositoryExists('new-repo'), true);
  });
});

describe('persistence', () => {
  test('reopening the same file keeps everything; migrations run once', async () => {
    const { store, path } = openStore();
    const blobs = await linkAll(store, 'app', 'config');
    const m = manifest('{"persist":1}', { blobs, tag: 'latest', subject: d('s'), artifactType: 'a/b' });
    await store.putManifest('app', m);
    const id = randomUUID();
    await store.createUpload(id, 'app', 42);
    await store.close();

    for (let i = 0; i < 2; i++) {
      const reopened = new SqliteMetadataStore(path, i === 0 ? 'normal' : 'full');
      opened.push(reopened);
      assert.deepEqual(await reopened.listRepositories(10), { items: ['app'], more: false });
      assert.deepEqual(await reopened.getBlob('app', d('config')), { size: 6 });
      assert.deepEqual((await reopened.getManifest('app', { tag: 'latest' }))?.content, m.content);
      assert.equal((await reopened.listReferrers('app', d('s'), 'a/b', 10)).items[0]?.digest, m.digest);
      assert.equal((await reopened.getUpload(id))?.createdAt, 42);
      await reopened.close();
    }

    const raw = new Database(path, { readonly: true });
    try {
      assert.equal(raw.pragma('user_version', { simple: true }), MIGRATIONS.length);
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      raw.close();
    }
  });
});

describe('names that look like SQL are stored literally', () => {
  const evilRepo = "x'); DROP TABLE repositories; --";
  const evilTag = "t' OR '1'='1";

  test('repository, tag and upload values round-trip and nothing else matches', async () => {
    const { store, path } = openStore();
    await store.putManifest('safe', manifest('{"safe":1}', { tag: 'latest' }));
    const m = manifest('{"evil":1}', { tag: evilTag });
    await store.putManifest(evilRepo, m);
    await store.linkBlob(evilRepo, d('b'), 1);

    assert.deepEqual((await store.listRepositories(10)).items, ['safe', evilRepo].sort());
    assert.equal(await store.repositoryExists(evilRepo), true);
    assert.equal(await store.repositoryExists("' OR 1=1 --"), false);
    assert.equal((await store.headManifest(evilRepo, { tag: evilTag }))?.digest, m.digest);
    assert.equal(await store.headManifest(evilRepo, { tag: 'latest' }), undefined);
    assert.equal(await store.headManifest('safe', { tag: "latest' OR '1'='1" }), undefined);
    assert.equal(await store.getBlob("' OR 1=1 --", d('b')), undefined);
    assert.deepEqual(await store.listTags(evilRepo, 10), { items: [evilTag], more: false });
    assert.deepEqual(await store.listTags('safe', 10, "' OR 1=1 --"), { items: ['latest'], more: false });
    assert.equal(await store.deleteTag('safe', "' OR 1=1 --"), false);
    assert.equal(await store.deleteManifest('safe', "' OR 1=1 --"), false);

    const id = "u'; DELETE FROM uploads; --";
    await store.createUpload(id, evilRepo, 1);
    await store.createUpload(randomUUID(), 'safe', 1);
    assert.equal((await store.getUpload(id))?.repository, evilRepo);
    assert.equal(await store.deleteUpload("' OR 1=1 --"), false);
    assert.equal(await store.countUploads(), 2);
    await store.close();

    const raw = new Database(path, { readonly: true });
    try {
      const tables = (raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name);
      assert.deepEqual(tables, ['blob_locations', 'blobs', 'manifest_references', 'manifests', 'repositories', 'repository_blobs', 'tags', 'upload_states', 'uploads']);
    } finally {
      raw.close();
    }
  });
});
