import { spawnSync } from 'node:child_process';

/**
 * Node has no mknod(2): device nodes, fifos and overlay whiteouts (char 0/0) are made by
 * coreutils' mknod, one short process each (whiteouts are hard links to one such node, so a
 * layer pays for one process however many whiteouts it has).
 */
export function mknod(path: string, type: 'c' | 'b' | 'p', major = 0, minor = 0): void {
  const args = type === 'p' ? ['-m', '600', path, 'p'] : ['-m', '600', path, type, String(major), String(minor)];
  runSync('mknod', args);
}

export function runSync(cmd: string, args: readonly string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(cwd !== undefined ? { cwd } : {}), stdio: ['ignore', 'pipe', 'pipe'], timeout: 120_000 });
  if (r.error !== undefined) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ').slice(0, 300)}: ${(r.stderr || `exit ${r.status ?? r.signal}`).trim().slice(0, 500)}`);
  return r.stdout;
}
