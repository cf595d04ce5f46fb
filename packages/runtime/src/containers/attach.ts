/**
 * Talking to a running container with this process's stdio: attach (its log from an offset,
 * stdin through conmon's attach socket), exec (runc exec with a tty or our stdio).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ContainerStateError } from './errors.js';
import { readLog } from './logs.js';
import type { Containers } from './manager.js';
import { waitForwarding } from './signals.js';
import { resolveUser } from './user.js';

/** Size of the container's log now: where an attach starts reading. */
export async function logOffset(c: Containers, id: string): Promise<number> {
return stat(c.paths.log(id)).then((s) => s.size, () => 0);
}

/**
 * Streams a detached container's output from `offset` (default: now) until it ends and
 * resolves with its exit code; SIGINT and SIGTERM are passed on to it (docker's sig-proxy).
 */
export async function attach(c: Containers, id: string, o: { offset?: number; stdin?: boolean } = {}): Promise<number> {
  const rec = await c.find(id);
  const rt = c.runtime(rec.config.runtime);
  const offset = o.offset ?? (await logOffset(c, rec.id));
  const forward = (sig: NodeJS.Signals): void => {
    void rt.kill(rec.id, sig).catch(() => undefined);
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  const input = o.stdin === true && rec.config.interactive ? sendStdin(c, rec.id, rec.config.tty) : undefined;
  try {
    await readLog(c.paths.log(rec.id), { write: (r) => (r.stream === 'stderr' ? process.stderr : process.stdout).write(r.text) }, {
      offset,
      follow: true,
      ended: async () => (await c.find(rec.id).catch(() => undefined))?.status !== 'running',
    });
  } finally {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    input?.kill();
    if (rec.config.tty && process.stdin.isTTY) process.stdin.setRawMode(false);
  }
  return c.state.get(rec.id)?.exitCode ?? 0;
}

/**
 * This process's stdin to the container (-i): conmon takes input on its attach socket,
 * a SOCK_SEQPACKET socket that Node cannot open, so socat carries it. What conmon sends
 * back there is dropped (the output is read from the log instead).
 */
function sendStdin(c: Containers, id: string, tty: boolean): ChildProcess {
  if (tty && process.stdin.isTTY) process.stdin.setRawMode(true);
  const socket = join(c.paths.socketDir, id, 'attach');
  const child = spawn('socat', ['-b', '65536', '-', `UNIX-CONNECT:${socket},type=5`], { stdio: ['inherit', 'ignore', 'ignore'] });
  child.on('error', () => process.stderr.write('berth: attaching standard input needs socat (Debian package socat); showing output only\n'));
  return child;
}

/** Runs a command in a running container with this process's stdio; resolves with its exit code. */
export async function exec(c: Containers, ref: string, command: readonly string[], o: { interactive: boolean; tty: boolean; env: readonly string[]; user?: string; workdir?: string }): Promise<number> {
  const rec = await c.find(ref);
  if (rec.status !== 'running') throw new ContainerStateError(`container ${rec.name} is not running`);
  if (command.length === 0) throw new ContainerStateError('exec: no command given');
  const args = ['exec'];
  if (o.tty) args.push('--tty', '--env', 'TERM=xterm');
  for (const e of o.env) args.push('--env', e);
  if (o.workdir !== undefined) args.push('--cwd', o.workdir);
  if (o.user !== undefined) {
    const { openRootfs } = await import('../layers/rootfs.js');
    const u = resolveUser((await openRootfs(c.paths.bundle(rec.id))).view(), o.user);
    args.push('--user', `${u.uid}:${u.gid}`);
    for (const g of u.additionalGids ?? []) args.push('--additional-gids', String(g));
  }
  args.push(rec.id, ...command);
  const child = c.runtime(rec.config.runtime).spawn(args, [o.interactive || o.tty ? 'inherit' : 'ignore', 'inherit', 'inherit']);
  return waitForwarding(child, ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT']);
}
