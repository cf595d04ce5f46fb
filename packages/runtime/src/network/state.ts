import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { migrateSchema, openSqlite } from '@berth/store/sqlite';
import type { PortMapping, PortProtocol } from './ports.js';

/**
 * On-disk layout, in the state directory (default /run/berth/network, see DEFAULT_STATE_DIR):
 *
 *   <stateDir>/
 *     network.db     SQLite: bridge networks, one endpoint per container (its address
 *                    lease), its published ports
 *
 * The directory is host-wide, not per BERTH_ROOT, because what it accounts for is: bridges,
 * addresses on them, host ports and iptables rules are shared by every berth on the host.
 * It lives on /run (a tmpfs) because all of those vanish at reboot too, so no lease outlives
 * its kernel state (the stale-lease problem of CNI's host-local under /var/lib; podman's
 * netavark keeps its IPAM database under /run for the same reason). A crashed berth process
 * does not clear /run: releaseNetwork still finds everything.
 *
 * Kernel objects are named from the container id so they can be found again from this
 * state alone, after a crash: the namespace /run/netns/berth-<id>, the host end of the veth
 * bth<12 hex of sha256(id)>, DNAT rules recomputed from the ports rows.
 *
 * Schema (PRAGMA user_version = migrations applied):
 *   networks   bridge name -> subnet; last_ip is where the next allocation starts looking
 *   endpoints  container -> mode, namespace, bridge and address (UNIQUE per bridge: the lease)
 *   ports      published host ports (PRIMARY KEY: one owner per protocol, port and host ip;
 *              host_ip '' is every address)
 *   meta       boot_id: the boot the endpoints belong to. After a reboot every namespace,
 *              veth and rule is gone, so the endpoints are forgotten too (for a state
 *              directory that is not on a tmpfs).
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE networks (
    bridge TEXT PRIMARY KEY,
    subnet TEXT NOT NULL UNIQUE,
    last_ip INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE endpoints (
    container_id TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    netns TEXT,
    bridge TEXT REFERENCES networks(bridge),
    ip INTEGER,
    veth TEXT,
    created_at INTEGER NOT NULL,
    UNIQUE (bridge, ip)
  ) WITHOUT ROWID;
  CREATE TABLE ports (
    container_id TEXT NOT NULL REFERENCES endpoints(container_id) ON DELETE CASCADE,
    protocol TEXT NOT NULL,
    host_ip TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (protocol, host_port, host_ip)
  ) WITHOUT ROWID;
  CREATE INDEX ports_container ON ports(container_id);
  `,
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  `,
];

export interface NetworkRow {
  readonly bridge: string;
  readonly subnet: string;
  readonly lastIp: number;
}

export interface EndpointRow {
  readonly containerId: string;
  readonly mode: 'none' | 'host' | 'bridge';
  readonly netns: string | undefined;
  readonly bridge: string | undefined;
  readonly ip: number | undefined;
  readonly veth: string | undefined;
}

export interface PortRow extends PortMapping {
  readonly containerId: string;
}

type Row = Record<string, unknown>;

/** One open network.db; every method is a statement inside the caller's transaction (see withState). */
export class NetworkState {
  private constructor(private readonly db: Database.Database) {}

  static open(dir: string): NetworkState {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const db = openSqlite(join(dir, 'network.db'));
    migrateSchema(db, MIGRATIONS);
    return new NetworkState(db);
  }

  close(): void {
    this.db.close();
  }

  /** Takes the database write lock until commit or rollback: one berth process at a time past here. */
  begin(): void {
    this.db.exec('BEGIN IMMEDIATE');
  }

  /** Forgets every endpoint recorded under another boot of the host (see meta above). */
  forgetOtherBoots(bootId: string): void {
    const row = this.db.prepare("SELECT value FROM meta WHERE key = 'boot_id'").get() as Row | undefined;
    if (row?.['value'] === bootId) return;
    if (row !== undefined) this.db.exec('DELETE FROM endpoints');
    this.db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('boot_id', ?)").run(bootId);
  }

  commit(): void {
    this.db.exec('COMMIT');
  }

  rollback(): void {
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
  }

  network(bridge: string): NetworkRow | undefined {
    const row = this.db.prepare('SELECT bridge, subnet, last_ip FROM networks WHERE bridge = ?').get(bridge) as Row | undefined;
    return row === undefined ? undefined : { bridge: String(row['bridge']), subnet: String(row['subnet']), lastIp: Number(row['last_ip']) };
  }

  networks(): NetworkRow[] {
    return (this.db.prepare('SELECT bridge, subnet, last_ip FROM networks ORDER BY bridge').all() as Row[]).map((row) => ({
      bridge: String(row['bridge']),
      subnet: String(row['subnet']),
      lastIp: Number(row['last_ip']),
    }));
  }

  addNetwork(bridge: string, subnet: string, lastIp: number): void {
    this.db.prepare('INSERT INTO networks (bridge, subnet, last_ip) VALUES (?, ?, ?)').run(bridge, subnet, lastIp);
  }

  removeNetwork(bridge: string): void {
    this.db.prepare('DELETE FROM networks WHERE bridge = ?').run(bridge);
  }

  setLastIp(bridge: string, ip: number): void {
    this.db.prepare('UPDATE networks SET last_ip = ? WHERE bridge = ?').run(ip, bridge);
  }

  usedIps(bridge: string): Set<number> {
    const rows = this.db.prepare('SELECT ip FROM endpoints WHERE bridge = ? AND ip IS NOT NULL').all(bridge) as Row[];
    return new Set(rows.map((r) => Number(r['ip'])));
  }

  endpointCount(bridge: string): number {
    const row = this.db.prepare('SELECT count(*) AS n FROM endpoints WHERE bridge = ?').get(bridge) as Row;
    return Number(row['n']);
  }

  endpoint(containerId: string): EndpointRow | undefined {
    const row = this.db
      .prepare('SELECT container_id, mode, netns, bridge, ip, veth FROM endpoints WHERE container_id = ?')
      .get(containerId) as Row | undefined;
    return row === undefined ? undefined : toEndpoint(row);
  }

  endpoints(): EndpointRow[] {
    const rows = this.db.prepare('SELECT container_id, mode, netns, bridge, ip, veth FROM endpoints ORDER BY container_id').all() as Row[];
    return rows.map(toEndpoint);
  }

  addEndpoint(e: EndpointRow): void {
    this.db
      .prepare('INSERT INTO endpoints (container_id, mode, netns, bridge, ip, veth, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
      .run(e.containerId, e.mode, e.netns ?? null, e.bridge ?? null, e.ip ?? null, e.veth ?? null, Date.now());
  }

  /** Forgets the endpoint, which releases its address and its ports. */
  removeEndpoint(containerId: string): void {
    this.db.prepare('DELETE FROM endpoints WHERE container_id = ?').run(containerId);
  }

  ports(containerId?: string): PortRow[] {
    const rows = (
      containerId === undefined
        ? this.db.prepare('SELECT * FROM ports').all()
        : this.db.prepare('SELECT * FROM ports WHERE container_id = ? ORDER BY protocol, host_port, host_ip').all(containerId)
    ) as Row[];
    return rows.map((r) => {
      const hostIp = String(r['host_ip']);
      const base = {
        containerId: String(r['container_id']),
        protocol: String(r['protocol']) as PortProtocol,
        hostPort: Number(r['host_port']),
        containerPort: Number(r['container_port']),
      };
      return hostIp === '' ? base : { ...base, hostIp };
    });
  }

  addPort(containerId: string, p: PortMapping): void {
    this.db
      .prepare('INSERT INTO ports (container_id, protocol, host_ip, host_port, container_port) VALUES (?, ?, ?, ?, ?)')
      .run(containerId, p.protocol, p.hostIp ?? '', p.hostPort, p.containerPort);
  }
}

function toEndpoint(row: Row): EndpointRow {
  const opt = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
  return {
    containerId: String(row['container_id']),
    mode: String(row['mode']) as EndpointRow['mode'],
    netns: opt(row['netns']),
    bridge: opt(row['bridge']),
    ip: row['ip'] === null ? undefined : Number(row['ip']),
    veth: opt(row['veth']),
  };
}

let cachedBootId: string | undefined;

/** This boot of the host (the kernel's random boot_id). */
function bootId(): string {
  cachedBootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return cachedBootId;
}

/** Where network state lives unless a caller (a test) names another directory. */
export const DEFAULT_STATE_DIR = '/run/berth/network';

/** Per-process queue per database: better-sqlite3 waits for a lock synchronously, so one process must never wait on itself. */
const queues = new Map<string, Promise<unknown>>();

/**
 * Runs fn with network.db open and its write lock held (BEGIN IMMEDIATE), serialised with
 * every other berth process and every other call in this one; commits when fn resolves,
 * rolls back when it throws. Keep fn short: other `berth run`s wait meanwhile.
 */
export function withState<T>(dir: string, fn: (state: NetworkState) => Promise<T>): Promise<T> {
  const key = dir;
  const previous = queues.get(key) ?? Promise.resolve();
  const run = previous.then(
    () => locked(dir, fn),
    () => locked(dir, fn),
  );
  const tail = run.catch(() => undefined);
  queues.set(key, tail);
  void tail.then(() => {
    if (queues.get(key) === tail) queues.delete(key);
  });
  return run;
}

async function locked<T>(dir: string, fn: (state: NetworkState) => Promise<T>): Promise<T> {
  const state = NetworkState.open(dir);
  try {
    state.begin();
    state.forgetOtherBoots(bootId());
    const result = await fn(state);
    state.commit();
    return result;
  } catch (error) {
    state.rollback();
    throw error;
  } finally {
    state.close();
  }
}
