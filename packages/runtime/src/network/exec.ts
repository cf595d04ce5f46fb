import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { NetworkError } from './errors.js';

/** Which Debian package provides each tool, for the "not installed" message. */
const PACKAGES: Readonly<Record<string, string>> = { ip: 'iproute2', iptables: 'iptables' };

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

const resolved = new Map<string, string>();

/** The tool's path: PATH first, then the sbin directories a non-login PATH often lacks. */
function toolPath(cmd: string): string {
  const known = resolved.get(cmd);
  if (known !== undefined) return known;
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/sbin', '/usr/bin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      resolved.set(cmd, join(dir, cmd));
      return join(dir, cmd);
    } catch {
      // not here
    }
  }
  return cmd;
}

/**
 * Runs a tool (never through a shell) and resolves with its exit code and output; rejects only
 * when it cannot be started (NetworkError 'unavailable') or runs longer than 30 s.
 */
export function runTool(cmd: string, args: readonly string[], input?: string): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      toolPath(cmd),
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
    // A tool that exits before reading its input closes the pipe: its exit status tells.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

/** Runs a tool and rejects with its first stderr line when it exits non-zero. */
export async function mustRun(cmd: string, args: readonly string[], input?: string): Promise<string> {
  const result = await runTool(cmd, args, input);
  if (result.code !== 0) {
    const why = result.stderr.trim().split('\n')[0] ?? '';
    throw new NetworkError('failed', `${cmd} ${args.join(' ')}: ${why === '' ? `exit status ${result.code}` : why}`);
  }
  return result.stdout;
}

/**
 * Runs several `ip` commands in one process (`ip -batch`), inside a namespace when netns is
 * given; stops at the first failure, whose message is the first stderr line.
 */
export async function ipBatch(netns: string | undefined, commands: readonly (readonly string[])[]): Promise<void> {
  const prefix = netns === undefined ? [] : ['-n', netns];
  const result = await runTool('ip', [...prefix, '-batch', '-'], commands.map((c) => `${c.join(' ')}\n`).join(''));
  if (result.code === 0) return;
  // ip prints the error, then "Command failed -:<line>".
  const lines = result.stderr.trim().split('\n');
  const line = Number(/Command failed -:(\d+)/.exec(result.stderr)?.[1] ?? '0');
  const failed = commands[line - 1] ?? ['-batch'];
  const why = lines.find((l) => !l.startsWith('Command failed')) ?? `exit status ${result.code}`;
  throw new NetworkError('failed', `ip ${[...prefix, ...failed].join(' ')}: ${why}`);
}

/** Bridge and none networks change the host's network stack: only root may. */
export function requireRoot(mode: string): void {
  if (process.getuid?.() !== 0) {
    throw new NetworkError('permission', `--network ${mode} needs root (network namespaces, veth, iptables); run berth as root or use --network host`);
  }
}
