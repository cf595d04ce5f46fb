/**
 * The BlobStore contract (src/blob-store.ts) as one suite every driver runs:
 *
 *   blobStoreSuite('filesystem', async () => ({ store, cleanup }));
 *
 * Only behaviour the contract promises is asserted here; layout, temp files and other
 * driver details belong in the driver's own test file.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import type { BlobStore } from '../src/blob-store.js';
import { BlobNotFoundError, InvalidKeyError, UploadNotFoundError, UploadOffsetError } from '../src/errors.js';
import {
  abortingStream,
  collect,
  failingStream,
  hashStream,
  patternSlice,
  patternStream,
  sha256,
  sha512,
  sink,
  streamOf,
} from './helpers.js';

export interface OpenedStore {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const MiB = 1024 * 1024;
/** Inclusive ranges of a 20-byte blob: first byte, a prefix, the middle, last byte, all of it. */
const RANGES: readonly (readonly [number, number])[] = [
  [0, 0],
  [0, 9],
  [5, 14],
  [19, 19],
  [0, 19],
];

async function toArray(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const x of it) out.push(x);
  return out;
}

function isError(type: new (...args: never[]) => Error): (err: unknown) => boolean {
  return (err: unknown) => err instanceof type;
}

export function blobStoreSuite(name: string, open: () => Promise<OpenedStore>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let opened: OpenedStore;
    let store: BlobStore;

    before(async () => {
      opened = await open();
      store = opened.store;
    });
    after(async () => {
      await opened.cleanup();
    });

    /** Uploads `content` in one append and commits it; returns the digest. */
    async function putBlob(content: Buffer | string): Promise<string> {
      const data = typeof content === 'string' ? Buffer.from(content) : content;
      const id = randomUUID();
      const digest = sha256(data);
      await store.startUpload(id);
      assert.equal(await store.append(id, 0, streamOf(data)), data.length);
      await store.commit(id, digest);
      return digest;
    }

    /** A started upload holding `content`. */
    async function upload(content: string): Promise<string> {
      const id = randomUUID();
      await store.startUpload(id);
      if (content.length > 0) await store.append(id, 0, streamOf(content));
      return id;
    }

    test('has a driver name', () => {
      assert.equal(typeof store.driverName, 'string');
      assert.ok(store.driverName.length > 0);
    });

    describe('ingest', () => {
      test('a started upload is empty', async () => {
        const id = randomUUID();
        await store.startUpload(id);
        assert.equal(await store.uploadSize(id), 0);
        assert.deepEqual(await collect(await store.readUpload(id)), Buffer.alloc(0));
        await store.cancel(id);
      });

      test('appends accumulate at increasing offsets and return the new size', async () => {
        const id = randomUUID();
        await store.startUpload(id);
        assert.equal(await store.append(id, 0, streamOf('hello ')), 6);
        assert.equal(await store.uploadSize(id), 6);
        assert.equal(await store.append(id, 6, streamOf('wor', 'ld')), 11);
        assert.equal(await store.append(id, 11, streamOf('!')), 12);
        assert.equal(await store.uploadSize(id), 12);
        assert.equal((await collect(await store.readUpload(id))).toString(), 'hello world!');
        await store.cancel(id);
      });

      test('an empty append leaves the upload unchanged', async () => {
        const id = await upload('abc');
        assert.equal(await store.append(id, 3, Readable.from([])), 3);
        assert.equal((await collect(await store.readUpload(id))).toString(), 'abc');
        await store.cancel(id);
      });

      test('append to an unknown upload throws UploadNotFoundError', async () => {
        await assert.rejects(store.append(randomUUID(), 0, streamOf('x')), isError(UploadNotFoundError));
      });

      test('uploadSize of an unknown upload is undefined', async () => {
        assert.equal(await store.uploadSize(randomUUID()), undefined);
      });

      test('readUpload of an unknown upload throws UploadNotFoundError', async () => {
        await assert.rejects(store.readUpload(randomUUID()), isError(UploadNotFoundError));
      });

      test('append at an offset past the upload size is refused with UploadOffsetError (no zero-filled hole)', async () => {
        const id = await upload('abc');
        await assert.rejects(store.append(id, 10, streamOf('x')), (err: unknown) => {
          assert.ok(err instanceof UploadOffsetError, String(err));
          assert.equal(err.expected, 3);
          assert.equal(err.got, 10);
          return true;
        });
        assert.equal(await store.uploadSize(id), 3);
        assert.equal((await collect(await store.readUpload(id))).toString(), 'abc');
        await store.cancel(id);
      });

      test('append at an offset before the stored size discards the unrecorded tail first', async () => {
        // The caller's recorded size is the truth: bytes past it were never acknowledged.
        const id = await upload('abcdef');
        assert.equal(await store.append(id, 2, streamOf('XY')), 4);
        assert.equal(await store.uploadSize(id), 4);
        assert.equal((await collect(await store.readUpload(id))).toString(), 'abXY');
        await store.cancel(id);
      });

      test('an append whose source errors midway leaves the upload at its previous size', async () => {
        const id = await upload('kept');
        await assert.rejects(store.append(id, 4, failingStream(Buffer.alloc(300_000, 0x61))));
        assert.equal(await store.uploadSize(id), 4);
        assert.equal((await collect(await store.readUpload(id))).toString(), 'kept');
        // The upload is still usable at the old offset.
        assert.equal(await store.append(id, 4, streamOf('+more')), 9);
        assert.equal((await collect(await store.readUpload(id))).toString(), 'kept+more');
        await store.cancel(id);
      });

      test('an append whose source is destroyed midway (client gone) leaves the upload at its previous size', async () => {
        const id = await upload('kept');
        await assert.rejects(store.append(id, 4, failingStream(Buffer.alloc(300_000, 0x62), 'destroy')));
        assert.equal(await store.uploadSize(id), 4);
        assert.equal((await collect(await store.readUpload(id))).toString(), 'kept');
        await store.cancel(id);
      });

      test('an append aborted by its signal leaves the upload at its previous size', async () => {
        const id = await upload('kept');
        const controller = new AbortController();
        await assert.rejects(store.append(id, 4, abortingStream(Buffer.alloc(300_000, 0x63), controller), controller.signal));
        assert.equal(await store.uploadSize(id), 4);
        assert.equal((await collect(await store.readUpload(id))).toString(), 'kept');
        await store.cancel(id);
      });

      test('an append with an already aborted signal changes nothing', async () => {
        const id = await upload('kept');
        await assert.rejects(store.append(id, 4, streamOf('nope'), AbortSignal.abort()));
        assert.equal(await store.uploadSize(id), 4);
        await store.cancel(id);
      });
    });

    describe('commit', () => {
      test('makes the bytes readable under the digest and ends the upload', async () => {
        const content = 'committed content';
        const id = await upload(content);
        const digest = sha256(content);
        assert.equal(await store.stat(digest), undefined);
        await store.commit(id, digest);
        assert.deepEqual(await store.stat(digest), { size: content.length });
        assert.equal((await collect(await store.read(digest))).toString(), content);
        assert.equal(await store.uploadSize(id), undefined);
        await assert.rejects(store.append(id, content.length, streamOf('x')), isError(UploadNotFoundError));
        await assert.rejects(store.readUpload(id), isError(UploadNotFoundError));
      });

      test('an empty blob can be committed and read', async () => {
        const id = randomUUID();
        await store.startUpload(id);
        const digest = sha256('');
        await store.commit(id, digest);
        assert.deepEqual(await store.stat(digest), { size: 0 });
        assert.deepEqual(await collect(await store.read(digest)), Buffer.alloc(0));
      });

      test('a sha512 digest works like a sha256 one', async () => {
        const content = 'sha512 content';
        const id = await upload(content);
        const digest = sha512(content);
        await store.commit(id, digest);
        assert.deepEqual(await store.stat(digest), { size: content.length });
        assert.equal((await collect(await store.read(digest))).toString(), content);
        assert.ok((await toArray(store.list())).includes(digest));
        assert.equal(await store.delete(digest), true);
      });

      test('commit of an already existing digest succeeds and discards the upload', async () => {
        const content = `duplicate ${randomUUID()}`;
        const digest = await putBlob(content);
        const id = await upload(content);
        await store.commit(id, digest);
        assert.equal(await store.uploadSize(id), undefined);
        assert.deepEqual(await store.stat(digest), { size: content.length });
        assert.equal((await collect(await store.read(digest))).toString(), content);
        assert.equal((await toArray(store.list())).filter((d) => d === digest).length, 1);
      });

      test('commit of an unknown upload throws UploadNotFoundError', async () => {
        await assert.rejects(store.commit(randomUUID(), sha256('nothing')), isError(UploadNotFoundError));
        assert.equal(await store.stat(sha256('nothing')), undefined);
      });
    });

    describe('cancel', () => {
      test('removes the upload and is idempotent', async () => {
        const id = await upload('to be cancelled');
        await store.cancel(id);
        assert.equal(await store.uploadSize(id), undefined);
        await assert.rejects(store.append(id, 0, streamOf('x')), isError(UploadNotFoundError));
        await store.cancel(id);
        await store.cancel(randomUUID());
        assert.ok(!(await toArray(store.listUploads())).includes(id));
      });
    });

    describe('read', () => {
      const content = '0123456789abcdefghij';
      let digest: string;
      before(async () => {
        digest = await putBlob(content);
      });

      test('stat and read of an unknown blob', async () => {
        const missing = sha256(`missing ${randomUUID()}`);
        assert.equal(await store.stat(missing), undefined);
        await assert.rejects(store.read(missing), (err: unknown) => err instanceof BlobNotFoundError && err.digest === missing);
      });

      test('reads inclusive byte ranges', async () => {
        for (const [start, end] of RANGES) {
          const got = (await collect(await store.read(digest, { start, end }))).toString();
          assert.equal(got, content.slice(start, end + 1), `${start}-${end}`);
        }
      });

      test('concurrent reads of one blob are independent', async () => {
        const [a, b] = await Promise.all([store.read(digest), store.read(digest, { start: 10, end: 19 })]);
        assert.equal((await collect(a)).toString(), content);
        assert.equal((await collect(b)).toString(), content.slice(10));
      });
    });

    describe('writeTo', () => {
      const content = '0123456789abcdefghij';
      let digest: string;
      before(async () => {
        digest = await putBlob(content);
      });

      test('writes the blob or an inclusive range into the destination, without ending it', async () => {
        for (const [start, end] of RANGES) {
          const dest = sink();
          await store.writeTo(digest, { start, end }, content.length, dest);
          assert.equal(dest.bytes().toString(), content.slice(start, end + 1), `${start}-${end}`);
          assert.equal(dest.writableEnded, false);
        }
        const whole = sink();
        await store.writeTo(digest, undefined, content.length, whole);
        assert.equal(whole.bytes().toString(), content);
      });

      test('an unknown blob throws BlobNotFoundError before writing; an empty blob writes nothing', async () => {
        const missing = sha256(`missing ${randomUUID()}`);
        const dest = sink();
        await assert.rejects(store.writeTo(missing, undefined, 10, dest), (err: unknown) => err instanceof BlobNotFoundError && err.digest === missing);
        const empty = await putBlob('');
        await store.writeTo(empty, undefined, 0, dest);
        assert.equal(dest.bytes().length, 0);
      });

      test('a multi-MiB blob into a slow destination arrives intact; one closed midway rejects, and the store serves on', async () => {
        const size = 9 * MiB + 7;
        const hash = createHash('sha256');
        const id = randomUUID();
        await store.startUpload(id);
        await store.append(id, 0, patternStream(0, size, hash));
        const big = `sha256:${hash.digest('hex')}`;
        await store.commit(id, big);
        const slow = sink(1, 1024);
        await store.writeTo(big, undefined, size, slow);
        assert.equal(createHash('sha256').update(slow.bytes()).digest('hex'), big.slice(7));
        const gone = sink(2, 1024);
        setTimeout(() => gone.destroy(), 20);
        await assert.rejects(store.writeTo(big, undefined, size, gone));
        const range = sink();
        await store.writeTo(big, { start: 4 * MiB - 1, end: 5 * MiB }, size, range);
        assert.deepEqual(range.bytes(), patternSlice(4 * MiB - 1, 5 * MiB + 1));
        assert.equal(await store.delete(big), true);
      });
    });

    describe('delete and listing', () => {
      test('delete removes a blob and reports whether there was one', async () => {
        const digest = await putBlob(`deleted ${randomUUID()}`);
        assert.equal(await store.delete(digest), true);
        assert.equal(await store.stat(digest), undefined);
        await assert.rejects(store.read(digest), isError(BlobNotFoundError));
        assert.equal(await store.delete(digest), false);
        assert.equal(await store.delete(sha256(`never ${randomUUID()}`)), false);
      });

      test('list yields every committed digest and no deleted one', async () => {
        const kept = await putBlob(`listed ${randomUUID()}`);
        const gone = await putBlob(`unlisted ${randomUUID()}`);
        await store.delete(gone);
        const listed = await toArray(store.list());
        assert.ok(listed.includes(kept));
        assert.ok(!listed.includes(gone));
        assert.equal(new Set(listed).size, listed.length, 'no duplicates');
        for (const d of listed) assert.match(d, /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/);
      });

      test('an upload in progress is not a blob', async () => {
        const content = `in progress ${randomUUID()}`;
        const id = await upload(content);
        assert.equal(await store.stat(sha256(content)), undefined);
        assert.ok(!(await toArray(store.list())).includes(sha256(content)));
        await store.cancel(id);
      });

      test('listUploads yields uploads with data until they are committed or cancelled', async () => {
        const committed = await upload('listUploads commit');
        const cancelled = await upload('listUploads cancel');
        const uploads = await toArray(store.listUploads());
        assert.ok(uploads.includes(committed));
        assert.ok(uploads.includes(cancelled));
        await store.commit(committed, sha256('listUploads commit'));
        await store.cancel(cancelled);
        const after = await toArray(store.listUploads());
        assert.ok(!after.includes(committed));
        assert.ok(!after.includes(cancelled));
      });
    });

    describe('invalid keys', () => {
      const hex = 'a'.repeat(64);
      const badDigests = [
        '../etc/passwd',
        'sha256:../../x',
        `sha256:../../${hex.slice(6)}`,
        `sha256:${hex}/../../x`,
        `sha256:${hex.toUpperCase()}`,
        'sha256:abc',
        'md5:d41d8cd98f00b204e9800998ecf8427e',
        '',
        '/etc/passwd',
        `sha256:${hex}\u0000`,
      ];
      const badIds = [
        '../etc/passwd',
        '',
        '.',
        '..',
        'upload',
        '/tmp/x',
        randomUUID().toUpperCase(),
        `../${randomUUID()}`,
        `${randomUUID()}/../../x`,
        `${randomUUID()}\n`,
      ];

      test('digests that are not supported digests are refused with InvalidKeyError', async () => {
        const id = await upload('valid upload');
        for (const digest of badDigests) {
          const label = JSON.stringify(digest);
          await assert.rejects(store.stat(digest), isError(InvalidKeyError), `stat ${label}`);
          await assert.rejects(store.read(digest), isError(InvalidKeyError), `read ${label}`);
          await assert.rejects(store.read(digest, { start: 0, end: 0 }), isError(InvalidKeyError), `read range ${label}`);
          await assert.rejects(store.delete(digest), isError(InvalidKeyError), `delete ${label}`);
          await assert.rejects(store.commit(id, digest), isError(InvalidKeyError), `commit ${label}`);
        }
        // A refused commit does not consume the upload.
        assert.equal(await store.uploadSize(id), 'valid upload'.length);
        await store.cancel(id);
      });

      test('upload ids that are not UUIDs are refused with InvalidKeyError', async () => {
        const digest = sha256('never committed');
        for (const id of badIds) {
          const label = JSON.stringify(id);
          await assert.rejects(store.startUpload(id), isError(InvalidKeyError), `startUpload ${label}`);
          await assert.rejects(store.append(id, 0, streamOf('x')), isError(InvalidKeyError), `append ${label}`);
          await assert.rejects(store.uploadSize(id), isError(InvalidKeyError), `uploadSize ${label}`);
          await assert.rejects(store.readUpload(id), isError(InvalidKeyError), `readUpload ${label}`);
          await assert.rejects(store.commit(id, digest), isError(InvalidKeyError), `commit ${label}`);
          await assert.rejects(store.cancel(id), isError(InvalidKeyError), `cancel ${label}`);
        }
        assert.equal(await store.stat(digest), undefined);
      });
    });

    test('a multi-MiB upload streamed in several appends reads back intact', async () => {
      // Odd sizes so chunk boundaries never line up with the generator's blocks.
      const cuts = [0, 5 * MiB + 3, 10 * MiB + 3, 11 * MiB + 10];
      const total = cuts[cuts.length - 1] as number;
      const hash = createHash('sha256');
      const id = randomUUID();
      await store.startUpload(id);
      for (let i = 0; i + 1 < cuts.length; i++) {
        const from = cuts[i] as number;
        const to = cuts[i + 1] as number;
        assert.equal(await store.append(id, from, patternStream(from, to, hash)), to);
      }
      const digest = `sha256:${hash.digest('hex')}`;
      assert.equal(await store.uploadSize(id), total);
      assert.deepEqual(await hashStream(await store.readUpload(id)), { hex: digest.slice(7), size: total });

      await store.commit(id, digest);
      assert.deepEqual(await store.stat(digest), { size: total });
      assert.deepEqual(await hashStream(await store.read(digest)), { hex: digest.slice(7), size: total });
      const start = 5 * MiB - 100;
      const end = 5 * MiB + 200;
      assert.deepEqual(await collect(await store.read(digest, { start, end })), patternSlice(start, end + 1));
      const tail = await collect(await store.read(digest, { start: total - 10, end: total - 1 }));
      assert.deepEqual(tail, patternSlice(total - 10, total));
      assert.equal(await store.delete(digest), true);
    });
  });
}
