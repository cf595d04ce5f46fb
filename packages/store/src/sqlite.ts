import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import Database from 'better-sqlite3';

/**
 * Where the CLI's bundle was built, the addon's absolute path (scripts/bundle-cli.mjs
 * defines it); undefined in unbundled code.
 */
declare const __BERTH_SQLITE_ADDON__: string | undefined;

/**
 * The addon's path where an npm install puts it, so better-sqlite3 skips the `bindings`
 * package's search through a dozen candidate paths on every CLI start (and so a bundled
 * CLI, whose better-sqlite3 code no longer sits next to its addon, still finds it);
 * undefined (the search) when it is elsewhere. The bundle's build-time path is tried
 * first (one stat instead of a module resolution), then Node's resolution from here.
 */
function addonPath(): string | undefined {
  const built = typeof __BERTH_SQLITE_ADDON__ === 'string' ? __BERTH_SQLITE_ADDON__ : undefined;
  if (built !== undefined && existsSync(built)) return built;
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
  // (the busy timeout as an option: set natively, no statement to compile)
  const db = new Database(path, { timeout: BUSY_TIMEOUT_MS, ...(nativeBinding !== undefined ? { nativeBinding } : {}) });
  enableWal(db);
  db.exec('PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON');
  return db;
}

/**
 * Brings a database's schema to `migrations.length` (PRAGMA user_version counts those
 * applied). Up to date, it is one read and no lock; otherwise the rest run in one
 * BEGIN IMMEDIATE transaction that reads the version again, so processes that open a new
 * file at once apply each migration exactly once.
 */
export function migrateSchema(db: Database.Database, migrations: readonly string[]): void {
  if ((db.pragma('user_version', { simple: true }) as number) >= migrations.length) return;
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    for (let i = version; i < migrations.length; i++) db.exec(migrations[i] as string);
    if (version < migrations.length) db.pragma(`user_version = ${migrations.length}`);
  }).immediate();
}

/**
 * Statements by name, each prepared on first use: a command that opens a database for one
 * query does not compile the other twenty.
 */
export function lazyStatements<K extends string>(db: Database.Database, sql: Readonly<Record<K, string>>): Readonly<Record<K, Database.Statement>> {
  const out = {} as Record<K, Database.Statement>;
  for (const key of Object.keys(sql) as K[]) {
    Object.defineProperty(out, key, {
      configurable: true,
      enumerable: true,
      get: () => {
        const statement = db.prepare(sql[key]);
        Object.defineProperty(out, key, { value: statement, enumerable: true });
        return statement;
      },
    });
  }
  return out;
}
