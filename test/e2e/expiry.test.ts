import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { patternBuffer } from './support/data.js';
import { request } from './support/http.js';
import { errorCodes, patchChunk, startUpload, uploadId } from './support/oci.js';
import { killAll, startRegistry, tempDir } from './support/registry.js';

describe('upload expiry', () => {
  const tmp = tempDir();
  after(async () => {
    await killAll();
    tmp.cleanup();
  });

  test('with expiry 1s and purge interval 1s an abandoned upload disappears with its temp file', async () => {
    const dataDir = join(tmp.path, 'data');
    const reg = await startRegistry({ dataDir, env: { BERTH_UPLOADS_EXPIRY: '1s', BERTH_UPLOADS_PURGEINTERVAL: '1s' } });
    const repo = 'e2e/expiry';
    const withData = await startUpload(reg, repo);
    await patchChunk(reg, withData, 0, 64 * 1024, patternBuffer('expiry', 0, 64 * 1024));
    const empty = await startUpload(reg, repo);
    const files = [withData, empty].map((u) => join(dataDir, 'blobs', 'uploads', uploadId(u)));
    for (const f of files) assert.ok(existsSync(f), `temp file ${f} exists while the upload is live`);

    const t0 = Date.now();
    for (const url of [withData, empty]) {
      for (;;) {
        const res = await request('GET', url);
        if (res.status === 404) {
          assert.deepEqual(errorCodes(res), ['BLOB_UPLOAD_UNKNOWN'], res.body.toString());
          break;
        }
        assert.equal(res.status, 204, `upload status while not yet expired: ${res.status}`);
        assert.ok(Date.now() - t0 < 6000, 'upload still there 6 s after it was abandoned (expiry 1s, purge every 1s)');
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    for (const f of files) assert.ok(!existsSync(f), `temp file ${f} removed`);
    assert.deepEqual(readdirSync(join(dataDir, 'blobs', 'uploads')), []);

    // An expired session cannot be written to or completed either.
    const patch = await request('PATCH', withData, {
      headers: { 'Content-Length': 4, 'Content-Range': `${64 * 1024}-${64 * 1024 + 3}` },
      body: Buffer.from('more'),
    });
    assert.equal(patch.status, 404);
    assert.deepEqual(errorCodes(patch), ['BLOB_UPLOAD_UNKNOWN']);

    const logs = reg.proc.logLines();
    assert.ok(logs.some((l) => l['msg'] === 'expired upload sessions cancelled'), 'the purge is logged');
    assert.deepEqual(await reg.proc.stop(), { code: 0, signal: null });
  });

  test('at start-up, upload data without a session (left by a crash) is removed', async () => {
    const dataDir = join(tmp.path, 'data-orphans');
    const uploads = join(dataDir, 'blobs', 'uploads');
    mkdirSync(uploads, { recursive: true });
    const stray = join(uploads, randomUUID());
    writeFileSync(stray, 'half an upload');
    const reg = await startRegistry({ dataDir });
    assert.ok(!existsSync(stray), 'the stray upload file is removed at start');
    assert.ok(reg.proc.logLines().some((l) => l['msg'] === 'removed upload data without a session' && l['count'] === 1));
    assert.deepEqual(await reg.proc.stop(), { code: 0, signal: null });
  });
});
