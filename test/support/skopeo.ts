import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type RunResult } from './exec.js';

/** Runs skopeo with an empty auth file of our own, so no user credentials are read. */
export function skopeoRunner(dir: string): (args: readonly string[], allowFailure?: boolean) => Promise<RunResult> {
  const authFile = join(dir, 'auth.json');
  writeFileSync(authFile, '{"auths":{}}');
  const env = { ...process.env, REGISTRY_AUTH_FILE: authFile };
  return (args, allowFailure = false) => run('skopeo', args, { env, allowFailure, timeoutMs: 90_000 });
}
