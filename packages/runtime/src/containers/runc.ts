/**
 * The OCI runtime binary (runc, or crun), always with Berth's own state root.
 * crun refuses a cgroup v1/v2 hybrid host unless the v2 mount is hidden, so it runs in a
 * private mount namespace with /sys/fs/cgroup/unified unmounted.
 */
import { execFile, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** crun in its own mount namespace without the cgroup v2 mount (a hybrid host makes it refuse otherwise). */
const HIDE_V2 = 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"';

export class RuntimeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RuntimeError';
  }
}

export interface ProcessStatus {
  readonly status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  readonly pid: number;
}

/** runc's "level=error msg=..." lines (or crun's plain ones), as one readable line. */
export function runtimeMessage(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.trim() !== '');
  const msgs = lines.map((l) => /msg="((?:[^"\\]|\\.)*)"/.exec(l)?.[1]?.replace(/\\"/g, '"') ?? l.trim());
  return msgs[msgs.length - 1] ?? 'unknown error';
}

export class OciRuntime {
  constructor(
    readonly name: string,
    readonly binary: string,
    readonly stateRoot: string,
  ) {}

  /** The command line that runs the runtime with `args` (crun wrapped to hide the cgroup v2 mount). */
  command(args: readonly string[]): { file: string; args: string[] } {
    const full = ['--root', this.stateRoot, ...args];
    if (this.name !== 'crun') return { file: this.binary, args: full };
    return {
      file: 'unshare',
      args: ['-m', '--propagation', 'private', 'sh', '-c', HIDE_V2, this.binary, ...full],
    };
  }

  /**
   * The executable conmon runs as the runtime: runc itself, or for crun a small script
   * (written once next to the state root) that does what command() does.
   */
  async executable(): Promise<string> {
    if (this.name !== 'crun') return this.binary;
    const wrapper = join(dirname(this.stateRoot), 'crun-hybrid');
    const script = `#!/bin/sh\nexec unshare -m --propagation private sh -c '${HIDE_V2}' ${this.binary} "$@"\n`;
    await mkdir(dirname(wrapper), { recursive: true });
    const tmp = `${wrapper}.${process.pid}.tmp`;
    await writeFile(tmp, script);
    await chmod(tmp, 0o755);
    await rename(tmp, wrapper);
    return wrapper;
  }

  spawn(args: readonly string[], stdio: StdioOptions, env?: NodeJS.ProcessEnv): ChildProcess {
    const c = this.command(args);
    return spawn(c.file, c.args, { stdio, ...(env !== undefined ? { env } : {}) });
  }

  /** Runs a short runtime command; a failure becomes a RuntimeError with the runtime's message. */
  call(args: readonly string[], timeoutMs = 30_000): Promise<string> {
    const c = this.command(args);
    return new Promise((resolve, reject) => {
      execFile(c.file, c.args, { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 }, (err, stdout, stderr) => {
        if (err !== null) reject(new RuntimeError(`${this.name} ${args[0] ?? ''}: ${runtimeMessage(stderr || err.message)}`));
        else resolve(stdout);
      });
    });
  }

  async state(id: string): Promise<ProcessStatus | undefined> {
    try {
      const out = JSON.parse(await this.call(['state', id])) as { status?: ProcessStatus['status']; pid?: number };
      return { status: out.status ?? 'stopped', pid: out.pid ?? 0 };
    } catch {
      return undefined;
    }
  }

  kill(id: string, signal: string, all = false): Promise<string> {
    return this.call(['kill', ...(all ? ['--all'] : []), id, signal]);
  }

  /** Forgets the container (force: kills it first); absent already is fine. */
  async delete(id: string, force = true): Promise<void> {
    try {
      await this.call(['delete', ...(force ? ['--force'] : []), id]);
    } catch (err) {
      if (!(err instanceof RuntimeError) || !/does not exist|not exist|No such/i.test(err.message)) throw err;
    }
  }
}
