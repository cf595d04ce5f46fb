/**
 * containers.db: one row per container. A row is inserted once the bundle is complete
 * (create), moves created -> running -> exited (and back to running on start), and is
 * deleted with the container. The process that will learn the exit code is recorded as
 * `monitor` (the foreground `berth run`, or conmon for a detached one), so a reader can
 * tell a container whose monitor died from a running one.
 */
import type Database from 'better-sqlite3';
import { migrateSchema, openSqlite } from '@berth/store/sqlite';
import type { ContainerConfig } from './config.js';

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerRecord {
  readonly id: string;
  readonly name: string;
  readonly status: ContainerStatus;
  readonly config: ContainerConfig;
  readonly createdAt: number;
  readonly startedAt: number | undefined;
  readonly finishedAt: number | undefined;
  readonly pid: number | undefined;
  readonly monitor: number | undefined;
  readonly exitCode: number | undefined;
}

const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER,
    pid INTEGER,
    monitor INTEGER,
    exit_code INTEGER
  ) WITHOUT ROWID;
  `,
];

export class NameInUseError extends Error {
  constructor(readonly containerName: string) {
    super(`the container name "${containerName}" is already in use`);
    this.name = 'NameInUseError';
  }
}

type Row = {
  id: string;
  name: string;
  status: string;
  config: string;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  pid: number | null;
  monitor: number | null;
  exit_code: number | null;
};

function toRecord(r: Row): ContainerRecord {
  return {
    id: r.id,
    name: r.name,
    status: r.status as ContainerStatus,
    config: JSON.parse(r.config) as ContainerConfig,
    createdAt: r.created_at,
    startedAt: r.started_at ?? undefined,
    finishedAt: r.finished_at ?? undefined,
    pid: r.pid ?? undefined,
    monitor: r.monitor ?? undefined,
    exitCode: r.exit_code ?? undefined,
  };
}

export class ContainerState {
  private readonly db: Database.Database;

  constructor(path: string) {
    this.db = openSqlite(path);
    migrateSchema(this.db, MIGRATIONS);
  }

  close(): void {
    this.db.close();
  }

  insert(id: string, name: string, config: ContainerConfig): void {
    try {
      this.db
        .prepare('INSERT INTO containers (id, name, status, config, created_at) VALUES (?, ?, ?, ?, ?)')
        .run(id, name, 'created', JSON.stringify(config), Date.now());
    } catch (err) {
      if (err instanceof Error && /UNIQUE constraint failed: containers.name/.test(err.message)) throw new NameInUseError(name);
      throw err;
    }
  }

  get(id: string): ContainerRecord | undefined {
    const row = this.db.prepare('SELECT * FROM containers WHERE id = ?').get(id) as Row | undefined;
    return row !== undefined ? toRecord(row) : undefined;
  }

  byName(name: string): ContainerRecord | undefined {
    const row = this.db.prepare('SELECT * FROM containers WHERE name = ?').get(name) as Row | undefined;
    return row !== undefined ? toRecord(row) : undefined;
  }

  /** Ids starting with `prefix` (at most a few: a prefix that matches many is ambiguous anyway). */
  byIdPrefix(prefix: string): ContainerRecord[] {
    const rows = this.db.prepare("SELECT * FROM containers WHERE id >= ? AND id < ? || 'g' LIMIT 3").all(prefix, prefix) as Row[];
    return rows.map(toRecord);
  }

  list(): ContainerRecord[] {
    return (this.db.prepare('SELECT * FROM containers ORDER BY created_at DESC').all() as Row[]).map(toRecord);
  }

  update(id: string, config: ContainerConfig): void {
    this.db.prepare('UPDATE containers SET config = ? WHERE id = ?').run(JSON.stringify(config), id);
  }

  started(id: string, pid: number, monitor: number): void {
    this.db
      .prepare("UPDATE containers SET status = 'running', pid = ?, monitor = ?, started_at = ?, finished_at = NULL, exit_code = NULL WHERE id = ?")
      .run(pid, monitor, Date.now(), id);
  }

  /** Records the end once: a later call (a second reader noticing the same exit) changes nothing. */
  exited(id: string, exitCode: number, finishedAt = Date.now()): void {
    this.db
      .prepare("UPDATE containers SET status = 'exited', exit_code = ?, finished_at = ?, pid = NULL, monitor = NULL WHERE id = ? AND status != 'exited'")
      .run(exitCode, finishedAt, id);
  }

  remove(id: string): void {
    this.db.prepare('DELETE FROM containers WHERE id = ?').run(id);
  }
}
