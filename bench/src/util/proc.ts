// Child-process helpers: run a command to completion (with wall time), and
// keep track of long-running children so they are always stopped on exit.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** wall time in milliseconds, spawn to exit */
  ms: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** keep at most this many characters of stdout/stderr (tail) */
  maxOutput?: number;
}

export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const max = opts.maxOutput ?? 1_000_000;
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => {
      stdout = (stdout + d).slice(-max);
    });
    child.stderr.on("data", (d: string) => {
      stderr = (stderr + d).slice(-max);
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs !== undefined) {
      timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs);
    }
    child.on("error", (err) => {
      if (timer) clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      resolve({ code, signal, stdout, stderr, ms });
    });
  });
}

export async function runOk(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(" ")} exited with ${r.code ?? r.signal}\n` +
        `stdout: ${r.stdout.slice(-2000)}\nstderr: ${r.stderr.slice(-2000)}`,
    );
  }
  return r;
}

const live = new Set<ChildProcess>();

/** Register a long-running child so stopAll()/process exit kills it (by its own PID). */
export function track(child: ChildProcess): void {
  live.add(child);
  child.on("exit", () => live.delete(child));
}

export function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** SIGTERM, then SIGKILL after graceMs. Only ever signals this child's PID. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  if (!(await waitExit(child, graceMs))) {
    child.kill("SIGKILL");
    await waitExit(child, 2000);
  }
}

export function killAllSync(): void {
  for (const c of live) {
    if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }
}
