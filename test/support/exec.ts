import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** command -> Debian package that provides it: the table CI's installer uses (scripts/test-tools.json). */
const PACKAGES = JSON.parse(readFileSync(new URL('../../../scripts/test-tools.json', import.meta.url), 'utf8')) as Readonly<Record<string, string>>;

/** Absolute path of `cmd` on PATH, or undefined. */
export function which(cmd: string): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, cmd);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Throws a clear error (never skips) when a tool the test drives is not installed. */
export function requireTools(...cmds: string[]): void {
  const missing = cmds.filter((c) => which(c) === undefined);
  if (missing.length === 0) return;
  const pkgs = [...new Set(missing.map((c) => PACKAGES[c] ?? c))];
  throw new Error(
    `interop test needs ${missing.join(', ')} on PATH; install with: apt-get install -y ${pkgs.join(' ')}`,
  );
}

export interface RunOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  readonly input?: string;
  /** Resolve with the result instead of throwing when the exit code is not 0. */
  readonly allowFailure?: boolean;
  readonly timeoutMs?: number;
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly result: RunResult,
  ) {
    super(
      `command failed (exit ${result.code}): ${command}\n--- stderr (tail) ---\n${tail(result.stderr, 40)}` +
        (result.stdout.trim() !== '' ? `\n--- stdout (tail) ---\n${tail(result.stdout, 15)}` : ''),
    );
  }
}

export function tail(text: string, lines: number): string {
  const all = text.trimEnd().split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}

export function quote(args: readonly string[]): string {
  return args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** Runs a command to completion, collecting its (small) output. */
export function run(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const command = quote([cmd, ...args]);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: options.env ?? process.env,
      cwd: options.cwd,
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (b: Buffer) => out.push(b));
    child.stderr?.on('data', (b: Buffer) => err.push(b));
    if (options.input !== undefined) child.stdin?.end(options.input);
    const timeoutMs = options.timeoutMs ?? 120_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${command}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: RunResult = {
        code: code ?? 128,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr:
          Buffer.concat(err).toString('utf8') +
          (timedOut ? `\n[killed after ${timeoutMs} ms timeout]` : signal !== null ? `\n[killed by ${signal}]` : ''),
      };
      if (result.code !== 0 && options.allowFailure !== true) reject(new CommandError(command, result));
      else resolve(result);
    });
  });
}

/** Asserts that a command exited 0 (naming `what`, with its stderr, when it did not) and hands its result on. */
export function expectOk(r: RunResult, what: string): RunResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r;
}
