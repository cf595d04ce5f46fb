/**
 * Detached containers are held by conmon: it runs `runc create` (with a console socket when
 * the container has a tty), owns the container's stdio, writes its output to a log file,
 * writes the exit code to a file and runs an exit command when the container ends. It
 * outlives `berth`. We chose conmon over a Node supervisor because a tty needs the pty
 * master fd passed over a unix socket (SCM_RIGHTS), which Node cannot receive, and because
 * a resident Node process per container would cost ~40 MB each.
 *
 * The sync pipe (fd 3, _OCI_SYNCPIPE) tells us when `create` is done: conmon writes
 * {"data": <pid>} there, or {"data": -1, "message": ...} when the runtime failed.
 */
import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { RuntimeError, type OciRuntime } from './runc.js';

export interface ConmonOptions {
  readonly conmon: string;
  readonly runtime: OciRuntime;
  readonly id: string;
  readonly name: string;
  readonly bundle: string;
  readonly logPath: string;
  readonly exitDir: string;
  readonly socketDir: string;
  readonly tty: boolean;
  readonly stdin: boolean;
  /** Run when the container ends (records the exit, removes an --rm container). */
  readonly exitCommand: readonly string[];
  readonly timeoutMs?: number;
}

/** Starts conmon, which creates the container; resolves with the container's pid once created. */
export async function conmonCreate(o: ConmonOptions): Promise<number> {
  const [exitFile, ...exitArgs] = o.exitCommand;
  const args = [
    '--api-version', '1',
    '-c', o.id,
    '-u', o.id,
    '-n', o.name,
    '-r', await o.runtime.executable(),
    '--runtime-arg', '--root',
    '--runtime-arg', o.runtime.stateRoot,
    '-b', o.bundle,
    '-p', `${o.bundle}/pidfile`,
    '-P', `${o.bundle}/conmon.pid`,
    '-l', `k8s-file:${o.logPath}`,
    '--exit-dir', o.exitDir,
    '--socket-dir-path', o.socketDir,
    '--log-level', 'error',
    ...(o.tty ? ['-t'] : []),
    ...(o.stdin ? ['-i', '--leave-stdin-open'] : []),
    ...(exitFile !== undefined ? ['--exit-command', exitFile, ...exitArgs.flatMap((a) => ['--exit-command-arg', a])] : []),
  ];
  const child = spawn(o.conmon, args, {
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    detached: true,
    env: { ...process.env, _OCI_SYNCPIPE: '3' },
  });
  const sync = child.stdio[3] as Readable;
  const stderr = child.stderr as Readable;
  let errText = '';
  stderr.setEncoding('utf8');
  stderr.on('data', (s: string) => {
    if (errText.length < 4096) errText += s;
  });
  try {
    return await new Promise<number>((resolve, reject) => {
      let buf = '';
      const timer = setTimeout(() => reject(new RuntimeError('conmon: no answer from the runtime within the time limit')), o.timeoutMs ?? 30_000);
      const done = (fn: () => void): void => {
        clearTimeout(timer);
        fn();
      };
      sync.setEncoding('utf8');
      sync.on('data', (s: string) => {
        buf += s;
        const nl = buf.indexOf('\n');
        const text = nl === -1 ? buf : buf.slice(0, nl);
        let msg: { data?: number; message?: string };
        try {
          msg = JSON.parse(text) as { data?: number; message?: string };
        } catch {
          return; // not complete yet
        }
        if (typeof msg.data === 'number' && msg.data > 0) done(() => resolve(msg.data as number));
        else done(() => reject(new RuntimeError(cleanMessage(msg.message ?? (errText || 'the runtime failed to create the container')))));
      });
      sync.on('error', (err) => done(() => reject(err)));
      sync.on('end', () => done(() => reject(new RuntimeError(cleanMessage(errText || 'conmon exited before the container was created')))));
      child.on('error', (err) => done(() => reject(new RuntimeError(`cannot start conmon: ${err.message}`))));
    });
  } finally {
    sync.destroy();
    stderr.destroy();
    child.unref();
  }
}

/** conmon wraps runc's stderr ("... msg=\"...\""): keep the innermost message. */
function cleanMessage(text: string): string {
  const m = /msg="((?:[^"\\]|\\.)*)"/.exec(text);
  return (m?.[1] ?? text).replace(/\\"/g, '"').split('\n')[0]?.trim() ?? text;
}
