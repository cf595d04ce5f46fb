import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request, type RequestOptions } from './http.js';

/**
 * Starting and stopping the real registry process (`node services/registry/dist/src/main.js
 * serve`) for end-to-end tests. Every process started here is tracked and can be killed
 * with `killAll()` from an after-hook; a process 'exit' hook kills leftovers as a last resort.
 */

/** The repository root (test/dist/e2e/support → four levels up). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const MAIN_JS = join(REPO_ROOT, 'services', 'registry', 'dist', 'src', 'main.js');

const live = new Set<RegistryProcess>();
/** Temp data dirs made by startRegistry() itself; removed when the test process exits. */
const ownDirs: Array<() => void> = [];
process.on('exit', () => {
  for (const p of live) p.forceKill();
  for (const cleanup of ownDirs) cleanup();
});

/** An environment without any BERTH_* variable of the caller, plus `extra`. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('BERTH_')) env[k] = v;
  return { ...env, ...extra };
}

/** A free TCP port on 127.0.0.1 (closed again before returning; a small race is possible). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

/** A temp dir removed by `cleanup()`. */
export function tempDir(prefix = 'berth-e2e-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  /** BERTH_* and other variables; the caller's BERTH_* variables are never inherited. */
  readonly env?: Record<string, string>;
  /** Arguments after `serve` (default none). */
  readonly args?: readonly string[];
  readonly cwd?: string;
  /** Run this command instead of `node main.js serve ...` (e.g. ['npm', 'start']). */
  readonly command?: readonly [string, ...string[]];
}

/** One started process, with its output collected as it comes. */
export class RegistryProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  exit: Exit | undefined;
  /** Spawned in its own process group (for commands like npm that start children). */
  private readonly group: boolean;
  private readonly watchers: Array<() => void> = [];

  constructor(options: SpawnOptions = {}) {
    const [cmd, ...cmdArgs] = options.command ?? [process.execPath, MAIN_JS, 'serve', ...(options.args ?? [])];
    this.group = options.command !== undefined;
    this.child = spawn(cmd, cmdArgs, {
      cwd: options.cwd ?? REPO_ROOT,
      env: cleanEnv(options.env),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.group,
    });
    if (this.child.pid === undefined) throw new Error(`cannot spawn ${cmd}`);
    this.pid = this.child.pid;
    live.add(this);
    this.child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      this.stdout += s;
      this.notify();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (s: string) => {
      this.stderr += s;
      this.notify();
    });
    this.exited = new Promise((resolveExit) => {
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        resolveExit(this.exit);
        this.notify();
      });
    });
  }

  private notify(): void {
    for (const w of this.watchers.splice(0)) w();
  }

  /** Resolves once `pred` holds (checked on every output and at exit), or rejects after `ms`. */
  async waitFor(pred: () => boolean, ms: number, what: string): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (this.exit !== undefined) {
        throw new Error(`process exited (${JSON.stringify(this.exit)}) while waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}\nstdout:\n${this.stdout}\nstderr:\n${this.stderr}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.min(left, 100));
        this.watchers.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  /** Stdout parsed as JSON lines (throws on a line that is not JSON). */
  logLines(): Array<Record<string, unknown>> {
    return this.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => {
        try {
          return JSON.parse(l) as Record<string, unknown>;
        } catch {
          throw new Error(`stdout line is not JSON: ${l}`);
        }
      });
  }

  signal(sig: NodeJS.Signals): void {
    if (this.exit !== undefined) return;
    try {
      process.kill(this.group ? -this.pid : this.pid, sig);
    } catch {
      // already gone
    }
  }

  /** SIGKILL without waiting (used by the exit hook). */
  forceKill(): void {
    this.signal('SIGKILL');
  }

  /** kill -9 and wait until it is gone. */
  async kill9(): Promise<Exit> {
    this.signal('SIGKILL');
    return this.exited;
  }

  /** SIGTERM, then SIGKILL if it has not exited within `ms`. */
  async stop(ms = 5000): Promise<Exit> {
    if (this.exit !== undefined) return this.exit;
    this.signal('SIGTERM');
    const t = setTimeout(() => this.signal('SIGKILL'), ms);
    try {
      return await this.exited;
    } finally {
      clearTimeout(t);
    }
  }
}

/** Kills (SIGKILL) every process still running; for after-hooks. */
export async function killAll(): Promise<void> {
  const all = [...live];
  await Promise.all(all.map((p) => p.kill9()));
}

export interface Registry {
  readonly proc: RegistryProcess;
  readonly port: number;
  readonly url: string;
  readonly dataDir: string;
  readonly tls: boolean;
  /** Options to pass to request() for this registry (the CA when TLS). */
  readonly requestOptions: RequestOptions;
  /** Milliseconds from spawn until /healthz answered 200. */
  readonly startMs: number;
}

export interface StartOptions extends SpawnOptions {
  /** Data dir (BERTH_DATA_DIR); a new temp dir's `data` when omitted. */
  readonly dataDir?: string;
  readonly port?: number;
  /** CA certificate (PEM) when the server serves TLS. */
  readonly ca?: string;
  readonly timeoutMs?: number;
}

/**
 * Starts the registry on 127.0.0.1:<free port> and waits for the `listening` log line and
 * a 200 from /healthz. Retries once on another port if the port was taken meanwhile.
 */
export async function startRegistry(options: StartOptions = {}): Promise<Registry> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (attempt < 2 && options.port === undefined && err instanceof Error && /EADDRINUSE/.test(err.message)) continue;
      throw err;
    }
  }
}

async function startOnce(options: StartOptions): Promise<Registry> {
  const port = options.port ?? (await freePort());
  let dataDir = options.dataDir;
  if (dataDir === undefined) {
    const tmp = tempDir();
    ownDirs.push(tmp.cleanup);
    dataDir = join(tmp.path, 'data');
  }
  const t0 = Date.now();
  const proc = new RegistryProcess({
    ...options,
    env: { BERTH_HTTP_ADDR: `127.0.0.1:${port}`, BERTH_DATA_DIR: dataDir, ...options.env },
  });
  const tls = options.ca !== undefined;
  const url = `${tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const requestOptions: RequestOptions = tls ? { ca: options.ca } : {};
  const timeoutMs = options.timeoutMs ?? 10_000;
  try {
    await proc.waitFor(() => proc.stdout.includes('"msg":"listening"'), timeoutMs, 'the listening log line');
    for (;;) {
      try {
        const res = await request('GET', `${url}/healthz`, requestOptions);
        if (res.status === 200) break;
      } catch {
        // not yet
      }
      if (Date.now() - t0 > timeoutMs) throw new Error('timed out waiting for /healthz');
      await new Promise((r) => setTimeout(r, 20));
    }
  } catch (err) {
    await proc.kill9();
    throw err;
  }
  return { proc, port, url, dataDir, tls, requestOptions, startMs: Date.now() - t0 };
}
