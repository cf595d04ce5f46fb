import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Credentials } from './auth.js';

/**
 * Registry credentials kept in files, in the format docker and podman share:
 *   { "auths": { "<registry host>": { "auth": base64("user:password") } } }
 * Berth's own file (written by `berth login`, mode 0600) is read first, then podman's
 * auth.json, then docker's config.json. Credential helpers (`credsStore`) are not run.
 */
export function berthAuthFile(env: NodeJS.ProcessEnv = process.env): string {
  if (env['BERTH_AUTH_FILE'] !== undefined && env['BERTH_AUTH_FILE'] !== '') return env['BERTH_AUTH_FILE'];
  const config = env['XDG_CONFIG_HOME'] !== undefined && env['XDG_CONFIG_HOME'] !== '' ? env['XDG_CONFIG_HOME'] : join(env['HOME'] ?? homedir(), '.config');
  return join(config, 'berth', 'auth.json');
}

/** The files looked in, in order. */
export function credentialFiles(env: NodeJS.ProcessEnv = process.env): string[] {
  const files = [berthAuthFile(env)];
  if (env['REGISTRY_AUTH_FILE'] !== undefined && env['REGISTRY_AUTH_FILE'] !== '') files.push(env['REGISTRY_AUTH_FILE']);
  else if (env['XDG_RUNTIME_DIR'] !== undefined && env['XDG_RUNTIME_DIR'] !== '') files.push(join(env['XDG_RUNTIME_DIR'], 'containers', 'auth.json'));
  const docker = env['DOCKER_CONFIG'] !== undefined && env['DOCKER_CONFIG'] !== '' ? env['DOCKER_CONFIG'] : join(env['HOME'] ?? homedir(), '.docker');
  files.push(join(docker, 'config.json'));
  return files;
}

type Auths = Record<string, { auth?: unknown; username?: unknown; password?: unknown }>;

const MAX_FILE = 1024 * 1024;

async function readAuths(path: string): Promise<Auths> {
  let text: string;
  try {
    const buf = await readFile(path);
    if (buf.length > MAX_FILE) return {};
    text = buf.toString('utf8');
  } catch {
    return {};
  }
  try {
    const json = JSON.parse(text) as { auths?: unknown };
    return typeof json.auths === 'object' && json.auths !== null && !Array.isArray(json.auths) ? (json.auths as Auths) : {};
  } catch {
    return {};
  }
}

/** The keys a registry may be stored under (docker writes Docker Hub's as a v1 URL). */
function keysFor(registry: string): string[] {
  const keys = [registry, `https://${registry}`, `http://${registry}`, `https://${registry}/v1/`, `https://${registry}/v2/`];
  if (registry === 'docker.io') keys.push('https://index.docker.io/v1/', 'index.docker.io', 'registry-1.docker.io');
  return keys;
}

function decode(entry: Auths[string]): Credentials | undefined {
  if (typeof entry.auth === 'string' && entry.auth !== '') {
    const text = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon > 0) return { username: text.slice(0, colon), password: text.slice(colon + 1) };
  }
  if (typeof entry.username === 'string' && typeof entry.password === 'string') return { username: entry.username, password: entry.password };
  return undefined;
}

/** Credentials stored for a registry host, from the first file that has them. */
export async function findCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<Credentials | undefined> {
  for (const file of credentialFiles(env)) {
    const auths = await readAuths(file);
    for (const key of keysFor(registry)) {
      const entry = auths[key];
      const creds = entry !== undefined ? decode(entry) : undefined;
      if (creds !== undefined) return creds;
    }
  }
  return undefined;
}

/** Writes the whole file anew (temp, fsync, rename), readable by its owner only. */
async function writeAuths(path: string, auths: Auths): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  const fh = await open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(`${JSON.stringify({ auths }, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await chmod(tmp, 0o600);
  await rename(tmp, path).catch(async (err: unknown) => {
    await rm(tmp, { force: true });
    throw err;
  });
}

export async function saveCredentials(registry: string, creds: Credentials, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const path = berthAuthFile(env);
  const auths = await readAuths(path);
  auths[registry] = { auth: Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64') };
  await writeAuths(path, auths);
  return path;
}

/** Removes Berth's stored credentials for a registry; false when there were none. */
/** The registries Berth's own auth file holds credentials for (what `berth login` stored). */
export async function loggedInRegistries(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  return Object.keys(await readAuths(berthAuthFile(env))).sort();
}

export async function removeCredentials(registry: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const path = berthAuthFile(env);
  const auths = await readAuths(path);
  if (auths[registry] === undefined) return false;
  delete auths[registry];
  await writeAuths(path, auths);
  return true;
}
