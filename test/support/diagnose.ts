import type { TestContext } from 'node:test';
import type { Registry } from './registry.js';

/** Something whose log is worth seeing when a test fails. */
export interface LogSource {
  readonly name: string;
  logTail(lines?: number): string;
}

/**
 * Wraps a test body: when it throws, the tails of the given logs (registry JSON lines,
 * daemon output) are attached to the test as diagnostics, then the error is rethrown.
 */
export function withLogs(
  sources: () => readonly (LogSource | undefined)[],
  fn: (t: TestContext) => Promise<void>,
): (t: TestContext) => Promise<void> {
  return async (t) => {
    try {
      await fn(t);
    } catch (err) {
      for (const s of sources()) {
        if (s === undefined) continue;
        const lines = s
          .logTail(15)
          .split('\n')
          .map((l) => (l.length > 500 ? `${l.slice(0, 500)}...` : l));
        t.diagnostic(`--- ${s.name} log (tail) ---`);
        for (const l of lines) t.diagnostic(l);
      }
      throw err;
    }
  };
}

export function registryLog(r: Registry | undefined): LogSource | undefined {
  return r === undefined ? undefined : { name: `${r.kind} registry`, logTail: (n) => r.logTail(n) };
}
