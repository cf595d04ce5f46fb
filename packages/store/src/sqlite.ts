import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';

/**
 * The addon's path where an npm install puts it, so better-sqlite3 skips the `bindings`
 * package's search through a dozen candidate paths on every CLI start (and so a bundled
 * CLI, whose better-sqlite3 code no longer sits next to its addon, still finds it);
 * undefined (the search) when it is elsewhere.
 */
function addonPath(): string | undefined {
  try {
    const path = createRequire(import.meta.url).resolve('better-sqlite3/build/Release/better_sqlite3.node');
    return existsSync(path) ? path : undefined;
  } catch {
    return undefined;
  }
}

/** How long a berth process waits for another one's lock before it gives up. */
const BUSY_TIMEOUT_MS = 30_000;

/**
 * Switches a connection to WAL. Turning a new file to WAL takes an exclusive lock and
 * SQLite answers SQLITE_BUSY at once, without its busy handler, while another process
 * holds any lock on it (two berth commands creating the same store at once), so this
 * retries every few milliseconds, bounded by the same busy timeout. Once the file is in
 * WAL mode the pragma takes no lock.
 */
function enableWal(db: Database.Database): void {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  const pause = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      db.pragma('journal_mode = WAL');
      return;
    } catch (error) {
      if (!(error instanceof Database.SqliteError) || !error.code.startsWith('SQLITE_BUSY') || Date.now() >= deadline) throw error;
      Atomics.wait(pause, 0, 0, 5);
    }
  }
}

/** Looked up once per process: a command opens store.db, containers.db and network.db. */
let addon: { path: string | undefined } | undefined;

/**
 * Opens (creating) a SQLite file the way every berth database is used: WAL, so readers
 * never block the writer; a 30 s busy timeout, so several berth processes share it;
 * synchronous=NORMAL (a WAL commit survives a process kill, and a power loss loses at
 * most the last transactions, never consistency); foreign keys enforced.
 */
export function openSqlite(path: string): Database.Database {
  addon ??= { path: addonPath() };
  const nativeBinding = addon.path;
  const db = new Database(path, nativeBinding !== undefined ? { nativeBinding } : {});
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  enableWal(db);
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  return db;
}
