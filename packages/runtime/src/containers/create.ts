/**
 * Creating a container: reserve its name and id in containers.db, then build the bundle
 * (rootfs, /etc files, config.json). Any failure undoes all of it, so a bad flag or an
 * unknown user leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { access, mkdir, rm, stat } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { isAbsolute, join } from 'node:path';
import type { Rootfs } from '../layers/types.js';
import { writeNetworkFiles } from '../network/files.js';
import type { ContainerConfig, PortMapping } from './config.js';
import { checkName, newId, randomName } from './names.js';
import type { ContainerPaths } from './paths.js';
import { containerRlimits } from './rlimits.js';
import { buildSpec, processArgs, type ImageRunConfig, type VolumeMount } from './spec.js';
import type { ContainerState } from './state.js';
import { resolveUser } from './user.js';
import { kernelHasX32 } from './x32.js';

/**
 * Makes the container's root file system at `target` (an empty directory) inside `bundle`,
 * or has the runtime make it there (Rootfs.specMount).
 */
export type RootfsSource = (target: string, bundle: string) => Promise<Rootfs>;

export interface CreateRequest {
  readonly image: { readonly name: string; readonly id: string; readonly digest: string; readonly config: ImageRunConfig };
  readonly rootfs: RootfsSource;
  readonly name?: string;
  readonly command: readonly string[];
  readonly entrypoint?: string;
  readonly env: readonly string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly hostname?: string;
  readonly tty: boolean;
  readonly interactive: boolean;
  readonly autoRemove: boolean;
  readonly readOnly: boolean;
  readonly init: boolean;
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly volumes: readonly VolumeMount[];
  readonly memory?: number;
  readonly cpus?: number;
  readonly pidsLimit?: number;
  readonly network: 'none' | 'host' | 'bridge';
  readonly ports: readonly PortMapping[];
  readonly runtime?: string;
}

export const CATATONIT = '/usr/bin/catatonit';

export class InvalidRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidRequestError';
  }
}

/** Trash entries one detached `rm` is given at most (the rest wait for the next removal). */
const MAX_TRASH_ARGS = 256;

/**
 * Removes a bundle: its rootfs is unmounted first (lazily, so a busy mount cannot block),
 * then the directory leaves containers/ at once, renamed into containers/.trash (as docker
 * renames a container's directory before deleting it), and its files are deleted there:
 * by a detached `rm -rf` of everything in the trash (`detached`: this bundle, and what
 * earlier removals left there), so the caller does not wait for a writable layer of any
 * size, or else by the next emptyTrash(), which a foreground run does while its container
 * runs.
 */
export async function removeBundle(paths: ContainerPaths, id: string, unmount: (target: string) => Promise<void>, detached = true): Promise<void> {
  await unmount(paths.rootfs(id)).catch(() => undefined);
  const trashed = join(paths.trash, `${id}.${process.pid}.${Date.now()}`);
  try {
    mkdirSync(paths.trash, { recursive: true, mode: 0o700 });
    renameSync(paths.bundle(id), trashed);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // nothing to remove (or no trash: removed below)
    rmSync(paths.bundle(id), { recursive: true, force: true, maxRetries: 3 });
    return;
  }
  if (detached) {
    const entries = readdirSync(paths.trash).slice(0, MAX_TRASH_ARGS).map((name) => join(paths.trash, name));
    const rm = spawn('rm', ['-rf', '--', ...entries], { detached: true, stdio: 'ignore' });
    rm.on('error', () => undefined); // no rm(1): the next emptyTrash() deletes it
    rm.unref();
  }
}

/**
 * Deletes everything in the trash (on libuv's threads, so it can overlap a running
 * container); entries another process deletes at the same time are no error.
 */
export async function emptyTrash(paths: ContainerPaths): Promise<void> {
  let names: string[];
  try {
    names = readdirSync(paths.trash);
  } catch {
    return;
  }
  await Promise.all(names.map((name) => rm(join(paths.trash, name), { recursive: true, force: true, maxRetries: 3 }).catch(() => undefined)));
}

export async function createContainer(
  paths: ContainerPaths,
  state: ContainerState,
  req: CreateRequest,
  networkStateDir: string | undefined,
  unmount: (target: string) => Promise<void>,
): Promise<string> {
  const id = newId();
  const name = req.name !== undefined ? checkName(req.name) : randomName();
  const hostname = req.hostname ?? (req.network === 'host' ? osHostname() : id.slice(0, 12));
  if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(hostname)) throw new InvalidRequestError(`invalid hostname "${hostname.slice(0, 80)}"`);
  for (const v of req.volumes) {
    if (!isAbsolute(v.source) || !isAbsolute(v.destination)) throw new InvalidRequestError(`invalid volume ${v.source}:${v.destination}: both paths must be absolute`);
  }
  if (req.init) await access(CATATONIT).catch(() => {
    throw new InvalidRequestError(`--init needs ${CATATONIT} (Debian package catatonit)`);
  });
  const entrypoint = req.entrypoint !== undefined ? (req.entrypoint === '' ? [] : [req.entrypoint]) : [...(req.image.config.Entrypoint ?? [])];
  const cmd = req.command.length > 0 ? [...req.command] : req.entrypoint !== undefined ? [] : [...(req.image.config.Cmd ?? [])];
  const args = processArgs(req.image.config, req.command, req.entrypoint);
  const config: ContainerConfig = {
    image: req.image.name,
    imageId: req.image.id,
    imageDigest: req.image.digest,
    entrypoint,
    cmd,
    args,
    env: [],
    workdir: req.workdir ?? (req.image.config.WorkingDir !== undefined && req.image.config.WorkingDir !== '' ? req.image.config.WorkingDir : '/'),
    user: req.user ?? req.image.config.User ?? '',
    hostname,
    tty: req.tty,
    interactive: req.interactive,
    autoRemove: req.autoRemove,
    network: req.network,
    ports: req.ports,
    exposedPorts: Object.keys(req.image.config.ExposedPorts ?? {}),
    volumes: req.volumes,
    readOnly: req.readOnly,
    init: req.init,
    capAdd: req.capAdd,
    capDrop: req.capDrop,
    ...(req.memory !== undefined ? { memory: req.memory } : {}),
    ...(req.cpus !== undefined ? { cpus: req.cpus } : {}),
    ...(req.pidsLimit !== undefined ? { pidsLimit: req.pidsLimit } : {}),
    stopSignal: req.image.config.StopSignal ?? 'SIGTERM',
    runtime: req.runtime ?? 'runc',
  };
  // the name is taken (or refused) before anything is written
  state.insert(id, name, config);
  const bundle = paths.bundle(id);
  try {
    if (req.network !== 'bridge' && req.ports.length > 0) throw new InvalidRequestError(`published ports (-p) need --network bridge, not ${req.network}`);
    mkdirSync(paths.rootfs(id), { recursive: true });
    // the root file system and the network do not depend on each other: both at once
    const rootfs = (async () => {
      const made = await req.rootfs(paths.rootfs(id), bundle);
      return { user: resolveUser(made.view(), config.user), mount: made.specMount };
    })();
    const network = (async () => {
      // none: runc's own fresh namespace (loopback only, nothing to set up or release)
      const made = req.network === 'bridge' ? await (await import('../network/setup.js')).setupNetwork(id, { mode: 'bridge', ports: req.ports, ...(networkStateDir !== undefined ? { stateDir: networkStateDir } : {}) }) : undefined;
      // an --rm container's files are not synced: it is gone after a crash anyway
      const written = await writeNetworkFiles(bundle, { mode: req.network, hostname, durable: !req.autoRemove, ...(made?.ip !== undefined ? { ip: made.ip } : {}) });
      return { net: made, files: written };
    })();
    // both settle before a failure is handled, so the cleanup below never races either
    const [u, n] = await Promise.allSettled([rootfs, network]);
    if (u.status === 'rejected') throw u.reason;
    if (n.status === 'rejected') throw n.reason;
    const { user, mount } = u.value;
    const { net, files } = n.value;
    const etc = { hostname: files.hostname, hosts: files.hosts, 'resolv.conf': files.resolvConf };
    const namespace = req.network === 'host' ? 'host' : net?.netnsPath !== undefined ? { path: net.netnsPath } : 'new';
    // a missing host directory is made, as docker does; an existing file is bound as it is
    for (const v of req.volumes) if (!(await stat(v.source).then(() => true, () => false))) await mkdir(v.source, { recursive: true });
    const spec = buildSpec({
      image: req.image.config,
      command: req.command,
      ...(req.entrypoint !== undefined ? { entrypoint: req.entrypoint } : {}),
      env: req.env,
      ...(req.workdir !== undefined ? { workdir: req.workdir } : {}),
      user,
      hostname,
      tty: req.tty,
      readOnly: req.readOnly,
      ...(req.init ? { init: CATATONIT } : {}),
      capAdd: req.capAdd,
      capDrop: req.capDrop,
      volumes: req.volumes,
      etcFiles: etc,
      ...(req.memory !== undefined ? { memory: req.memory } : {}),
      ...(req.cpus !== undefined ? { cpus: req.cpus } : {}),
      ...(req.pidsLimit !== undefined ? { pidsLimit: req.pidsLimit } : {}),
      network: namespace,
      cgroupsPath: `/berth/${id}`,
      ...(mount !== undefined ? { rootMount: mount } : {}),
      rlimits: containerRlimits(),
      ...(process.arch === 'x64' ? { x32: kernelHasX32(paths.run) } : {}),
    });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    state.update(id, { ...config, env: spec.process.env, args: spec.process.args, ...(net?.ip !== undefined ? { ip: net.ip, gateway: net.gateway } : {}) });
    return id;
  } catch (err) {
    if (req.network === 'bridge') await (await import('../network/setup.js')).releaseNetwork(id, networkStateDir !== undefined ? { stateDir: networkStateDir } : {}).catch(() => undefined);
    await removeBundle(paths, id, unmount).catch(() => undefined);
    state.remove(id);
    throw err;
  }
}
