import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { tail } from './exec.js';

/** A long-running process we started, in its own process group. */
export interface Daemon {
  readonly pid: number;
  readonly logFile: string;
  /** Exit code (or signal name) once it has exited, undefined while running. */
  exitStatus(): string | undefined;
  /** Last lines of its combined stdout/stderr. */
  logTail(lines?: number): string;
  /** SIGTERM to its process group, SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort if the test process dies without running its after hooks.
  process.on('exit', () => {
    for (const pid of live) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export function startDaemon(
  cmd: string,
  args: readonly string[],
  options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): Daemon {
  installExitHook();
  const fd = openSync(options.logFile, 'a');
  const child = spawn(cmd, args, {
    env: options.env ?? process.env,
    cwd: options.cwd,
    stdio: ['ignore', fd, fd],
    detached: true, // own process group: stop() also reaches the children it spawns
  });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`cannot start ${cmd}`);
  live.add(pid);
  let status: string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('exit', (code, signal) => {
      status = code !== null ? `exit code ${code}` : `signal ${signal ?? '?'}`;
      live.delete(pid);
      resolve();
    });
  });
  child.on('error', (e) => {
    status = `spawn error: ${e.message}`;
  });
  const killGroup = (sig: NodeJS.Signals): void => {
    try {
      process.kill(-pid, sig);
    } catch {
      // group already gone
    }
  };
  return {
    pid,
    logFile: options.logFile,
    exitStatus: () => status,
    logTail: (lines = 40) => {
      try {
        return tail(readFileSync(options.logFile, 'utf8'), lines);
      } catch {
        return '';
      }
    },
    async stop(graceMs = 10_000) {
      if (status === undefined) {
        killGroup('SIGTERM');
        const t = setTimeout(() => killGroup('SIGKILL'), graceMs);
        await exited;
        clearTimeout(t);
      }
      // children of the daemon (e.g. containerd under dockerd) may outlive it briefly
      killGroup('SIGTERM');
      await sleep(100);
      killGroup('SIGKILL');
    },
  };
}

/** Polls `check` until it returns true; fails with the daemon's log if it exits or time runs out. */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
  daemon: Daemon,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = daemon.exitStatus();
    if (status !== undefined) throw new Error(`${what}: process exited (${status}) before ready\n${daemon.logTail()}`);
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what}: not ready after ${timeoutMs} ms\n${daemon.logTail()}`);
    await sleep(100);
  }
}
