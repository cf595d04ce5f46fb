import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import request from 'supertest';
import { SqliteMetadataStore } from '@berth/metadata';
import type { TestS3Server } from '@berth/storage/test-s3-server';
import { listAll, openHarness, pushBlob, pushImage, sha256, testS3Server, type Harness } from './harness.js';
import { raw } from './raw.js';
import { loadConfig } from '../src/config/index.js';
import { openBlobStore } from '../src/storage.js';

const MAIN = fileURLToPath(new URL('../src/main.js', import.meta.url));
const MiB = 1024 * 1024;

function migrate(from: string, to: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, 'migrate', '--from', from, '--to', to, '--concurrency', '2'], { env: { ...process.env, BERTH_STORAGE_DRIVER: 'nonsense' } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
      resolve({ code, stdout, stderr });
    });
  });
}

function s3Yaml(s3: TestS3Server, dataDir: string, prefix: string): string {
  return [
    `data:\n  dir: ${dataDir}`,
    'storage:',
    '  driver: s3',
    `  bucket: ${s3.bucket}`,
    `  region: ${s3.region}`,
    `  endpoint: ${s3.endpoint}`,
    '  pathstyle: true',
    `  accesskey: ${s3.accessKeyId}`,
    `  secretkey: ${s3.secretAccessKey}`,
    `  rootprefix: ${prefix}`,
    '  partsize: 5MiB',
    '',
  ].join('\n');
}

/** Env that points a harness at the same storage as s3Yaml. */
function s3HarnessEnv(s3: TestS3Server, prefix: string): Record<string, string> {
  return {
    BERTH_STORAGE_DRIVER: 's3',
    BERTH_STORAGE_BUCKET: s3.bucket,
    BERTH_STORAGE_ENDPOINT: s3.endpoint,
    BERTH_STORAGE_PATHSTYLE: 'true',
    BERTH_STORAGE_ACCESSKEY: s3.accessKeyId,
    BERTH_STORAGE_SECRETKEY: s3.secretAccessKey,
    BERTH_STORAGE_ROOTPREFIX: prefix,
  };
}

describe('berth-registry migrate: filesystem <-> S3', () => {
  let s3: TestS3Server;
  let dir: string;
  let h: Harness;
  let blobs: { digest: string; data: Buffer }[];
  let image: { digest: string };
  const fsYaml = (): string => join(dir, 'fs.yml');
  before(async () => {
    s3 = await testS3Server();
    dir = await mkdtemp(join(tmpdir(), 'berth-migrate-'));
    await mkdir(join(dir, 'data'));
    h = await openHarness({ BERTH_STORAGE_DRIVER: 'filesystem' }, join(dir, 'data'));
    blobs = [];
    for (const [seed, n] of [['small', 100], ['big', 11 * MiB + 3], ['empty', 0]] as const) {
      const data = Buffer.alloc(n, seed);
      blobs.push({ digest: await pushBlob(h.app, 'mig/rate', data), data });
    }
    image = await pushImage(h.app, 'mig/rate', 'v1');
    await h.close();
    await writeFile(fsYaml(), `data:\n  dir: ${join(dir, 'data')}\n`);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('copies every blob to S3, verified; the registry then serves them from S3; a second run skips them all', async () => {
    await writeFile(join(dir, 's3.yml'), s3Yaml(s3, join(dir, 'data'), 'mig1'));
    const run = await migrate(fsYaml(), join(dir, 's3.yml'));
    assert.equal(run.code, 0, run.stderr);
    const total = blobs.length + 2; // + the image's config and layer
    assert.match(run.stdout, new RegExp(`migrated ${total} blobs from filesystem to s3: ${total} copied .*0 already there, 0 failed`));
    assert.equal(run.stderr.split('\n').filter((l) => / copied sha256:/.test(l)).length, total);
    const s = await openHarness(s3HarnessEnv(s3, 'mig1'), join(dir, 'data'));
    try {
      assert.equal(s.blobs.driverName, 's3');
      for (const b of blobs) {
        // The S3 driver's default: a 307 to the object itself.
        const res = await request(s.app).get(`/v2/mig/rate/blobs/${b.digest}`).expect(307);
        const got = Buffer.from(await (await fetch(res.headers['location'] as string)).arrayBuffer());
        assert.equal(sha256(got), b.digest);
      }
      await request(s.app).get(`/v2/mig/rate/manifests/v1`).expect(200);
      assert.equal((await listAll(s.blobs.list())).length, total);
    } finally {
      await s.close();
    }
    const again = await migrate(fsYaml(), join(dir, 's3.yml'));
    assert.equal(again.code, 0);
    assert.match(again.stdout, new RegExp(`0 copied .*${total} already there, 0 failed`));
  });

  test('resumes an interrupted run: the half-copied blob left in the target is removed first, its multipart upload aborted', async () => {
    const yml = join(dir, 's3r.yml');
    await writeFile(yml, `${s3Yaml(s3, join(dir, 'data'), 'mig3')}database:\n  path: ${join(dir, 'resume.db')}\n`);
    // What a run killed mid-copy leaves: an upload in the target with a part in S3 and no session.
    const config = loadConfig({ file: yml, env: {} });
    const metadata = new SqliteMetadataStore(join(dir, 'resume.db'));
    const target = await openBlobStore(config, metadata);
    const id = randomUUID();
    await target.blobs.startUpload(id);
    await target.blobs.append(id, 0, Readable.from([Buffer.alloc(6 * MiB, 'half')]));
    target.close();
    await metadata.close();
    const open = await s3.openMultipartUploads();
    const run = await migrate(fsYaml(), yml);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /5 copied/);
    assert.equal(await s3.openMultipartUploads(), open - 1, 'the interrupted copy was aborted');
    const after = new SqliteMetadataStore(join(dir, 'resume.db'));
    try {
      assert.equal(await after.blobCatalog().uploadState(id), undefined);
    } finally {
      await after.close();
    }
  });

  test('copies back from S3 to another filesystem root', async () => {
    await writeFile(join(dir, 's3b.yml'), s3Yaml(s3, join(dir, 'data'), 'mig1'));
    await writeFile(join(dir, 'fs2.yml'), `data:\n  dir: ${join(dir, 'data')}\nstorage:\n  rootdirectory: ${join(dir, 'fs2')}\n`);
    const run = await migrate(join(dir, 's3b.yml'), join(dir, 'fs2.yml'));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /from s3 to filesystem: 5 copied/);
    const f = await openHarness({ BERTH_STORAGE_DRIVER: 'filesystem', BERTH_STORAGE_ROOTDIRECTORY: join(dir, 'fs2') }, join(dir, 'data'));
    try {
      for (const b of blobs) {
        const got = await raw(request(f.app).get(`/v2/mig/rate/blobs/${b.digest}`)).expect(200);
        assert.deepEqual(got.body, b.data);
      }
      await request(f.app).get(`/v2/mig/rate/manifests/${image.digest}`).expect(200);
    } finally {
      await f.close();
    }
  });

  test('a blob whose bytes do not match its digest is reported and not copied; the rest is; exit 1', async () => {
    const victim = blobs[0] as { digest: string; data: Buffer };
    const hex = victim.digest.slice(7);
    const path = join(dir, 'data', 'blobs', 'blobs', 'sha256', hex.slice(0, 2), hex);
    const original = await readFile(path);
    await writeFile(path, Buffer.from('tampered!'));
    try {
      await writeFile(join(dir, 's3c.yml'), s3Yaml(s3, join(dir, 'data'), 'mig2'));
      // The same database: drop what the first test recorded for S3 by using a fresh one.
      await writeFile(join(dir, 's3c.yml'), `${s3Yaml(s3, join(dir, 'data'), 'mig2')}database:\n  path: ${join(dir, 'other.db')}\n`);
      const run = await migrate(fsYaml(), join(dir, 's3c.yml'));
      assert.equal(run.code, 1);
      assert.match(run.stderr, new RegExp(`failed ${victim.digest} .*(size|digest) mismatch`));
      assert.match(run.stdout, /4 copied .*1 failed/);
    } finally {
      await writeFile(path, original);
    }
  });
});
