import { execFile } from 'node:child_process';
import { NetworkError } from './errors.js';

/** Which Debian package provides each tool, for the "not installed" message. */
const PACKAGES: Readonly<Record<string, string>> = { ip: 'iproute2', iptables: 'iptables' };

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs a tool (never through a shell) and resolves with its exit code and output; rejects only
 * when it cannot be started (NetworkError 'unavailable') or runs longer than 30 s.
 */
export function runTool(cmd: string, args: readonly string[]): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: 30_000, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, LC_ALL: 'C' } },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, stdout, stderr });
        } else if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
          reject(new NetworkError('unavailable', `${cmd} not found: install the Debian package ${PACKAGES[cmd] ?? cmd}`));
        } else if (typeof error.code === 'number') {
          resolve({ code: error.code, stdout, stderr });
        } else {
          reject(new NetworkError('failed', `${cmd} ${args.join(' ')}: ${error.message}`, { cause: error }));
        }
      },
    );
  });
}

/** Runs a tool and rejects with its first stderr line when it exits non-zero. */
export async function mustRun(cmd: string, args: readonly string[]): Promise<string> {
  const result = await runTool(cmd, args);
  if (result.code !== 0) {
    const why = result.stderr.trim().split('\n')[0] ?? '';
    throw new NetworkError('failed', `${cmd} ${args.join(' ')}: ${why === '' ? `exit status ${result.code}` : why}`);
  }
  return result.stdout;
}

/** Bridge and none networks change the host's network stack: only root may. */
export function requireRoot(mode: string): void {
  if (process.getuid?.() !== 0) {
    throw new NetworkError('permission', `--network ${mode} needs root (network namespaces, veth, iptables); run berth as root or use --network host`);
  }
}
