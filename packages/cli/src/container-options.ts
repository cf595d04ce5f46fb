/** Parsing `berth run` flag values: each bad value is one clear error naming the flag. */
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

const UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** docker's memory sizes: 512m, 1g, 1048576 (bytes); at least 6 MiB as Docker requires. */
export function parseMemory(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)i?b?$/i.exec(v.trim());
  const n = m !== null ? Math.floor(Number(m[1]) * (UNITS[(m[2] ?? '').toLowerCase()] ?? Number.NaN)) : Number.NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw new FlagError(`invalid --memory "${v.slice(0, 40)}": use a size such as 64m or 1g`);
  if (n < 6 * 1024 * 1024) throw new FlagError(`invalid --memory "${v.slice(0, 40)}": the minimum is 6m`);
  return n;
}

export function parseCpus(v: string, hostCpus: number): number {
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !Number.isFinite(n) || n <= 0) throw new FlagError(`invalid --cpus "${v.slice(0, 40)}": use a positive number such as 0.5`);
  if (n > hostCpus) throw new FlagError(`invalid --cpus ${v}: this machine has ${hostCpus} CPUs`);
  if (n < 0.01) throw new FlagError(`invalid --cpus ${v}: the minimum is 0.01`);
  return n;
}

/** --pids-limit N; 0 or -1 mean unlimited (undefined). */
export function parsePidsLimit(v: string): number | undefined {
  if (!/^-?\d{1,10}$/.test(v.trim())) throw new FlagError(`invalid --pids-limit "${v.slice(0, 40)}": use a whole number`);
  const n = Number(v);
  if (n === 0 || n === -1) return undefined;
  if (n < 0) throw new FlagError(`invalid --pids-limit ${v}`);
  return n;
}

export function parseNetwork(v: string): 'none' | 'host' | 'bridge' {
  if (v === 'none' || v === 'host' || v === 'bridge') return v;
  if (v === 'default') return 'bridge';
  throw new FlagError(`invalid --network "${v.slice(0, 40)}": use none, host or bridge`);
}

const ENV_NAME = /^[^=\s]+$/;

/** -e KEY=VALUE, or -e KEY (taken from this process's environment; absent: skipped, as Docker does). */
export function envFlag(v: string, env: NodeJS.ProcessEnv): string | undefined {
  const eq = v.indexOf('=');
  const key = eq === -1 ? v : v.slice(0, eq);
  if (!ENV_NAME.test(key)) throw new FlagError(`invalid environment variable "${v.slice(0, 60)}"`);
  if (eq !== -1) return v;
  const value = env[key];
  return value !== undefined ? `${key}=${value}` : undefined;
}

/** --env-file: KEY=VALUE lines, # comments and blank lines skipped (bounded: 1 MiB). */
export async function envFile(path: string, env: NodeJS.ProcessEnv): Promise<string[]> {
  let text: string;
  try {
    if ((await stat(path)).size > 1024 * 1024) throw new FlagError(`--env-file ${path}: larger than 1 MiB`);
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (err instanceof FlagError) throw err;
    throw new FlagError(`--env-file ${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const out: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimStart();
    if (line === '' || line.startsWith('#')) continue;
    const e = envFlag(line, env);
    if (e !== undefined) out.push(e);
  }
  return out;
}

/** -v /host:/ctr[:ro|rw]; the host path is made absolute against the working directory. */
export function parseVolume(v: string): { source: string; destination: string; readonly: boolean } {
  const parts = v.split(':');
  const [source, destination, mode] = parts;
  if (parts.length < 2 || parts.length > 3 || source === undefined || source === '' || destination === undefined || destination === '') {
    throw new FlagError(`invalid volume "${v.slice(0, 100)}": use /host/path:/container/path[:ro]`);
  }
  if (!source.startsWith('/') && !source.startsWith('.')) throw new FlagError(`invalid volume "${v.slice(0, 100)}": named volumes are not supported, give a host path`);
  if (!destination.startsWith('/')) throw new FlagError(`invalid volume "${v.slice(0, 100)}": the container path must be absolute`);
  if (mode !== undefined && mode !== 'ro' && mode !== 'rw') throw new FlagError(`invalid volume mode "${mode.slice(0, 20)}": use ro or rw`);
  if (destination === '/' || destination.split('/').includes('..')) throw new FlagError(`invalid volume destination "${destination.slice(0, 100)}"`);
  return { source: resolve(source), destination, readonly: mode === 'ro' };
}

export function parseStopTimeout(v: string): number {
  if (!/^-?\d{1,6}$/.test(v.trim())) throw new FlagError(`invalid time "${v.slice(0, 20)}": use whole seconds`);
  const n = Number(v);
  return n < 0 ? 365 * 24 * 3600 : n;
}

export function parseTail(v: string): number | undefined {
  if (v === 'all') return undefined;
  if (!/^\d{1,9}$/.test(v.trim())) throw new FlagError(`invalid --tail "${v.slice(0, 20)}": a number of lines or "all"`);
  return Number(v);
}
