import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { NetworkError } from './errors.js';
import { parseIPv4 } from './ipv4.js';
import type { NetworkMode } from './setup.js';

export interface NetworkFilesOptions {
  readonly mode: NetworkMode;
  /** The container's hostname; host mode defaults to the host's. */
  readonly hostname?: string;
  /** bridge: the container's address, named after its hostname in /etc/hosts. */
  readonly ip?: string;
  /** `--add-host name:ip` entries. */
  readonly extraHosts?: readonly { name: string; ip: string }[];
  /**
   * Each file written to a temporary name, synced, then renamed (the default), so it
   * survives a crash whole; false: written in place, unsynced (a fresh bundle nobody
   * reads before the container starts, which a crash makes useless anyway).
   */
  readonly durable?: boolean;
  /** Host files to derive from (tests point these elsewhere). */
  readonly hostResolvConf?: string;
  readonly hostHosts?: string;
}

export interface NetworkFiles {
  readonly hosts: string;
  readonly hostname: string;
  readonly resolvConf: string;
}

/** Google's public resolvers: what docker falls back to when the host has only loopback ones. */
const FALLBACK_NAMESERVERS = ['8.8.8.8', '8.8.4.4'];

/** RFC 1123 host names (labels of 1-63, at most 253 in all). */
export function checkHostname(name: string): void {
  const labels = name.split('.');
  if (name.length > 253 || !labels.every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l))) {
    throw new NetworkError('invalid', `invalid hostname "${name}": letters, digits and '-', labels of at most 63 characters`);
  }
}

/**
 * Writes hosts, hostname and resolv.conf into dir (0644, each atomically) for the container
 * to bind-mount over /etc/hosts, /etc/hostname and /etc/resolv.conf.
 *
 *   hosts        host mode: the host's /etc/hosts; otherwise localhost entries, the hostname
 *                on the container's address (bridge) or 127.0.1.1 (none), then extraHosts
 *   hostname     the hostname and a newline
 *   resolv.conf  the host's (systemd-resolved's upstream file when the host points at its
 *                127.0.0.53 stub). bridge: loopback and IPv6 nameservers dropped (the
 *                container's loopback is its own, and it has no IPv6); with none left,
 *                8.8.8.8 and 8.8.4.4 as docker does. host and none: unchanged.
 */
export async function writeNetworkFiles(dir: string, options: NetworkFilesOptions): Promise<NetworkFiles> {
  const name = options.hostname ?? (options.mode === 'host' ? osHostname() : undefined);
  if (name === undefined) throw new NetworkError('invalid', `a hostname is needed for --network ${options.mode}`);
  checkHostname(name);
  for (const h of options.extraHosts ?? []) {
    checkHostname(h.name);
    if (parseIPv4(h.ip) === undefined) throw new NetworkError('invalid', `invalid --add-host ${h.name}:${h.ip}: not an IPv4 address`);
  }
  const files = { hosts: join(dir, 'hosts'), hostname: join(dir, 'hostname'), resolvConf: join(dir, 'resolv.conf') };
  const write = options.durable === false ? writeQuick : writeAtomic;
  await write(files.hostname, `${name}\n`);
  await write(files.hosts, await hostsContent(options, name));
  await write(files.resolvConf, await resolvContent(options));
  return files;
}

async function hostsContent(options: NetworkFilesOptions, name: string): Promise<string> {
  const extra = (options.extraHosts ?? []).map((h) => `${h.ip}\t${h.name}\n`).join('');
  if (options.mode === 'host') {
    const host = readTextOr(options.hostHosts ?? '/etc/hosts', '127.0.0.1\tlocalhost\n');
    return `${host}${host.endsWith('\n') || host === '' ? '' : '\n'}${extra}`;
  }
  const short = name.split('.')[0] ?? name;
  const self = `${options.mode === 'bridge' && options.ip !== undefined ? options.ip : '127.0.1.1'}\t${name}${short !== name ? ` ${short}` : ''}\n`;
  return [
    '127.0.0.1\tlocalhost\n',
    '::1\tlocalhost ip6-localhost ip6-loopback\n',
    'fe00::0\tip6-localnet\n',
    'ff00::0\tip6-mcastprefix\n',
    'ff02::1\tip6-allnodes\n',
    'ff02::2\tip6-allrouters\n',
    self,
    extra,
  ].join('');
}

/** A small host file's text (read synchronously: no thread-pool round trip), or `otherwise`. */
function readTextOr<T>(path: string, otherwise: T): string | T {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return otherwise;
  }
}

/** The host's resolver configuration, following systemd-resolved's stub to its upstream list. */
async function hostResolv(path: string | undefined): Promise<string> {
  const text = readTextOr(path ?? '/etc/resolv.conf', '');
  if (path === undefined && /^\s*nameserver\s+127\.0\.0\.53\s*$/m.test(text)) {
    const upstream = readTextOr('/run/systemd/resolve/resolv.conf', undefined);
    if (upstream !== undefined) return upstream;
  }
  return text;
}

export function filterResolvConf(text: string): string {
  const lines = text.split('\n');
  const kept = lines.filter((line) => {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (m?.[1] === undefined) return true;
    const ip = parseIPv4(m[1]);
    return ip !== undefined && ip >>> 24 !== 127;
  });
  const body = kept.join('\n').replace(/\n*$/, '\n');
  if (kept.some((l) => /^\s*nameserver\s/.test(l))) return body;
  return `${body === '\n' ? '' : body}${FALLBACK_NAMESERVERS.map((ns) => `nameserver ${ns}\n`).join('')}`;
}

async function resolvContent(options: NetworkFilesOptions): Promise<string> {
  const text = await hostResolv(options.hostResolvConf);
  return options.mode === 'bridge' ? filterResolvConf(text) : text;
}

async function writeQuick(path: string, content: string): Promise<void> {
  writeFileSync(path, content, { mode: 0o644, flag: 'wx' });
  chmodSync(path, 0o644); // whatever the umask
}

async function writeAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`; // the bundle is this process's alone while it is made
  const handle = await open(tmp, 'wx', 0o644);
  try {
    await handle.writeFile(content);
    await handle.chmod(0o644);
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(tmp).catch(() => undefined);
    throw error;
  }
  await handle.close();
  await rename(tmp, path);
}
