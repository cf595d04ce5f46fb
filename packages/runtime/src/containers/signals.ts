import type { ChildProcess } from 'node:child_process';
import { ContainerStateError } from './errors.js';

export const SIGNALS: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

/** "TERM", "SIGTERM" or "15" -> "SIGTERM"; anything else is refused. */
export function parseSignal(input: string): string {
  const upper = input.trim().toUpperCase();
  if (/^\d{1,2}$/.test(upper)) {
    const n = Number(upper);
    const name = Object.entries(SIGNALS).find(([, v]) => v === n)?.[0];
    if (name !== undefined) return name;
  }
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  if (SIGNALS[name] === undefined) throw new ContainerStateError(`invalid signal "${input.slice(0, 32)}"`);
  return name;
}

/**
 * Resolves with a runtime child's exit code (128 + n when a signal ended it), passing the
 * given signals this process receives on to it meanwhile.
 */
export function waitForwarding(child: ChildProcess, signals: readonly NodeJS.Signals[]): Promise<number> {
  const forward = (sig: NodeJS.Signals): void => {
    child.kill(sig);
  };
  for (const s of signals) process.on(s, forward);
  return new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve(code ?? 128 + (signal !== null ? (SIGNALS[signal] ?? 0) : 0)));
  }).finally(() => {
    for (const s of signals) process.off(s, forward);
  });
}
