import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, dataPaths, loadConfig } from '../src/config/index.js';

describe('configuration', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function file(text: string): Promise<string> {
    const path = join(dir, `c${Math.random().toString(36).slice(2)}.yml`);
    await writeFile(path, text);
    return path;
  }

  function problems(fn: () => unknown): readonly string[] {
    try {
      fn();
    } catch (err) {
      if (err instanceof ConfigError) return err.problems;
      throw err;
    }
    assert.fail('expected a ConfigError');
  }

  test('defaults need no file: 0.0.0.0:5000, ./data, deletes on, 4 MiB manifests, S3 blob GETs redirected', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.storage.redirect, true);
    assert.equal(c.http.addr, '0.0.0.0:5000');
    assert.equal(c.data.dir, './data');
    assert.equal(c.delete.enabled, true);
    assert.equal(c.limits.manifestsize, 4 * 1024 * 1024);
    assert.equal(c.uploads.expiry, 24 * 3600 * 1000);
    assert.deepEqual(dataPaths(c), { blobs: join('data', 'blobs'), database: join('data', 'metadata.db'), spool: join('data', 'spool') });
  });

  test('a YAML file sets keys, and BERTH_<SECTION>_<KEY> overrides it', async () => {
    const path = await file('http:\n  addr: 127.0.0.1:6000\ndelete:\n  enabled: false\nlimits:\n  manifestsize: 1MiB\nuploads:\n  expiry: 90m\n');
    const c = loadConfig({ env: { BERTH_CONFIG: path, BERTH_HTTP_ADDR: '127.0.0.1:7000' } });
    assert.equal(c.http.addr, '127.0.0.1:7000');
    assert.equal(c.delete.enabled, false);
    assert.equal(c.limits.manifestsize, 1024 * 1024);
    assert.equal(c.uploads.expiry, 90 * 60 * 1000);
  });

  test('storage and database paths can be set apart from the data dir', () => {
    const c = loadConfig({ env: { BERTH_STORAGE_ROOTDIRECTORY: '/srv/blobs', BERTH_DATABASE_PATH: '/srv/db.sqlite', BERTH_STORAGE_SPOOLDIRECTORY: '/srv/spool' } });
    assert.deepEqual(dataPaths(c), { blobs: '/srv/blobs', database: '/srv/db.sqlite', spool: '/srv/spool' });
  });

  test('the s3 driver: keys from YAML and BERTH_STORAGE_*, checked together', async () => {
    const path = await file('storage:\n  driver: s3\n  bucket: images\n  region: eu-west-1\n  pathstyle: true\n  rootprefix: berth\n  partsize: 32MiB\n');
    const c = loadConfig({ env: { BERTH_CONFIG: path, BERTH_STORAGE_ENDPOINT: 'http://minio:9000', BERTH_STORAGE_REDIRECT: 'false' } });
    assert.equal(c.storage.driver, 's3');
    assert.equal(c.storage.bucket, 'images');
    assert.equal(c.storage.region, 'eu-west-1');
    assert.equal(c.storage.pathstyle, true);
    assert.equal(c.storage.rootprefix, 'berth');
    assert.equal(c.storage.partsize, 32 * 1024 * 1024);
    assert.equal(c.storage.endpoint, 'http://minio:9000');
    assert.equal(c.storage.redirect, false);
    assert.equal(c.storage.encryption, 'none');
    assert.throws(
      () => loadConfig({ env: { BERTH_STORAGE_DRIVER: 's3', BERTH_STORAGE_PARTSIZE: '1MiB', BERTH_STORAGE_ACCESSKEY: 'a' } }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.deepEqual(err.problems, [
          'storage.bucket: required when storage.driver is s3',
          'storage.accesskey and storage.secretkey must be set together',
          'storage.partsize: at least 5MiB, got 1048576 bytes',
        ]);
        return true;
      },
    );
    assert.throws(() => loadConfig({ env: { BERTH_STORAGE_DRIVER: 'gcs' } }), /storage\.driver: expected one of filesystem, s3/);
  });

  test('one line per bad key, naming the key and where the value came from', async () => {
    const path = await file('http:\n  adr: x\n  idletimeout: soon\nbogus:\n  a: 1\nlimits:\n  pagesize: 0\n');
    const p = problems(() => loadConfig({ env: { BERTH_CONFIG: path, BERTH_DELETE_ENABLED: 'maybe' } }));
    assert.equal(p.length, 5, p.join('\n'));
    assert.ok(p.some((l) => l.startsWith('http.adr: unknown key')));
    assert.ok(p.some((l) => l.startsWith('bogus: unknown section')));
    assert.ok(p.some((l) => l.startsWith('http.idletimeout: expected a duration')));
    assert.ok(p.some((l) => l.startsWith('limits.pagesize: expected an integer from 1')));
    assert.ok(p.some((l) => l.includes('delete.enabled') && l.includes('(from BERTH_DELETE_ENABLED)')));
  });

  test('a listen address must be host:port', () => {
    for (const bad of ['5000', 'host:', 'a:b:c', 'h:99999']) {
      assert.ok(problems(() => loadConfig({ env: { BERTH_HTTP_ADDR: bad } }))[0]?.startsWith('http.addr:'), bad);
    }
    assert.equal(loadConfig({ env: { BERTH_HTTP_ADDR: ':5001' } }).http.addr, ':5001');
    assert.equal(loadConfig({ env: { BERTH_HTTP_ADDR: '[::1]:5001' } }).http.addr, '[::1]:5001');
  });

  test('TLS needs both the certificate and the key', () => {
    assert.match(problems(() => loadConfig({ env: { BERTH_HTTP_TLSCERT: '/c.pem' } }))[0] ?? '', /together/);
  });

  test('unparsable YAML is one clear line', async () => {
    const path = await file('http: [unclosed\n');
    const p = problems(() => loadConfig({ env: { BERTH_CONFIG: path } }));
    assert.equal(p.length, 1);
    assert.ok(p[0]?.startsWith(path));
  });

  test('BERTH_ variables of other tools are ignored', () => {
    assert.doesNotThrow(() => loadConfig({ env: { BERTH_ROOT: '/var/lib/berth', BERTH_SOMETHING_ELSE: 'x' } }));
  });
});
