import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { lazyStatements, migrateSchema, openSqlite } from '../src/sqlite.js';

const SQLITE_MODULE = fileURLToPath(new URL('../src/sqlite.js', import.meta.url));

/** One process that opens `path` with openSqlite, writes a row in a 10 ms transaction (as a store migration does) and exits 0, or prints why not. */
function opener(path: string): Promise<{ code: number | null; stderr: string }> {
  const script = `
    const { openSqlite } = await import(${JSON.stringify(SQLITE_MODULE)});
    const db = openSqlite(${JSON.stringify(path)});
    db.exec('BEGIN IMMEDIATE');
    db.exec('CREATE TABLE IF NOT EXISTS t (x INTEGER)');
    db.prepare('INSERT INTO t VALUES (1)').run();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    db.exec('COMMIT');
    if (db.pragma('journal_mode', { simple: true }) !== 'wal') throw new Error('not in WAL mode');
    db.close();`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('openSqlite', () => {
  test('a new file is in WAL mode, synchronous=NORMAL, with foreign keys on and a 30 s busy timeout', () => {
    const dir = makeTempDir('sqlite');
    try {
      const db = openSqlite(join(dir, 'a.db'));
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.equal(db.pragma('foreign_keys', { simple: true }), 1);
      assert.equal(db.pragma('synchronous', { simple: true }), 1);
      assert.equal(db.pragma('busy_timeout', { simple: true }), 30_000);
      db.close();
    } finally {
      removeTempDir(dir);
    }
  });

  test('migrateSchema applies what is missing once; statements are prepared on first use', () => {
    const dir = makeTempDir('sqlite');
    try {
      const db = openSqlite(join(dir, 'm.db'));
      const migrations = ['CREATE TABLE a (x INTEGER)', 'CREATE TABLE b (y INTEGER)'];
      migrateSchema(db, migrations.slice(0, 1));
      assert.equal(db.pragma('user_version', { simple: true }), 1);
      migrateSchema(db, migrations);
      migrateSchema(db, migrations); // up to date: nothing runs (a second CREATE TABLE b would throw)
      assert.equal(db.pragma('user_version', { simple: true }), 2);
      const s = lazyStatements(db, { addA: 'INSERT INTO a VALUES (?)', countA: 'SELECT count(*) AS n FROM a', broken: 'SELECT * FROM nowhere' });
      s.addA.run(1);
      assert.equal(s.addA, s.addA, 'prepared once');
      assert.deepEqual(s.countA.get(), { n: 1 });
      assert.throws(() => s.broken.get(), /no such table/, 'a bad statement fails where it is used');
      db.close();
    } finally {
      removeTempDir(dir);
    }
  });

  // SQLite answers SQLITE_BUSY to the WAL switch of a new file without waiting while
  // another process holds a lock on it: two `berth pull`s into a new store used to
  // fail with "database is locked" about one time in thirty.
  test('processes creating the same database at once all open it', async () => {
    const dir = makeTempDir('sqlite');
    try {
      for (let round = 0; round < 40; round++) {
        const sub = join(dir, String(round));
        mkdirSync(sub);
        const results = await Promise.all([1, 2, 3, 4].map(() => opener(join(sub, 'store.db'))));
        for (const r of results) assert.equal(r.code, 0, `round ${round}: ${r.stderr}`);
        const db = openSqlite(join(sub, 'store.db'));
        assert.deepEqual(db.prepare('SELECT count(*) AS n FROM t').get(), { n: 4 });
        db.close();
      }
    } finally {
      removeTempDir(dir);
    }
  });
});
