/**
 * `berth run`: find (or pull) the image, unpack its layers once into the cache, create the
 * container (overlay rootfs, network, config.json) and run it in the foreground with this
 * process's stdio, or detached under conmon. Heavy modules are imported only here, so
 * other commands do not pay for them.
 */
import { availableParallelism } from 'node:os';
import type { LocalStore } from '@berth/store';
import { collect, envFile, envFlag, FlagError, parseCpus, parseMemory, parseNetwork, parsePidsLimit, parseVolume } from './container-options.js';
import type { Io } from './commands.js';

export interface RunFlags {
  readonly detach?: boolean;
  readonly rm?: boolean;
  readonly interactive?: boolean;
  readonly tty?: boolean;
  readonly name?: string;
  readonly env?: string[];
  readonly envFile?: string[];
  readonly volume?: string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly entrypoint?: string;
  readonly hostname?: string;
  readonly init?: boolean;
  readonly readOnly?: boolean;
  readonly capAdd?: string[];
  readonly capDrop?: string[];
  readonly network?: string;
  readonly publish?: string[];
  readonly memory?: string;
  readonly cpus?: string;
  readonly pidsLimit?: string;
  readonly runtime?: string;
  readonly pull?: string;
}

export { collect };

/** Finds the image locally, pulling it (progress on stderr) when it is not there. */
async function localImage(store: LocalStore, image: string, flags: RunFlags): Promise<{ image: import('@berth/store').ImageRow }> {
  const { findLocal } = await import('./local.js');
  const { ImageNotFoundError } = await import('@berth/store');
  try {
    if (flags.pull !== 'always') return findLocal(store, image);
  } catch (err) {
    if (!(err instanceof ImageNotFoundError) || flags.pull === 'never') throw err;
    process.stderr.write(`Unable to find image '${image}' locally\n`);
  }
  const { pull } = await import('./commands.js');
  // layers are unpacked into the cache while they download
  await pull(store, { out: (s) => process.stderr.write(s) }, image, { unpack: true });
  return findLocal(store, image);
}

export async function run(store: LocalStore, root: string, io: Io, image: string, command: string[], flags: RunFlags, env: NodeJS.ProcessEnv): Promise<number> {
  // every flag is checked before anything is pulled or created
  const memory = flags.memory !== undefined ? parseMemory(flags.memory) : undefined;
  const cpus = flags.cpus !== undefined ? parseCpus(flags.cpus, availableParallelism()) : undefined;
  const pidsLimit = flags.pidsLimit !== undefined ? parsePidsLimit(flags.pidsLimit) : undefined;
  const network = parseNetwork(flags.network ?? 'bridge');
  const volumes = (flags.volume ?? []).map(parseVolume);
  const envs: string[] = [];
  for (const f of flags.envFile ?? []) envs.push(...(await envFile(f, env)));
  for (const e of flags.env ?? []) {
    const v = envFlag(e, env);
    if (v !== undefined) envs.push(v);
  }
  if (flags.detach === true && flags.tty === true && flags.interactive === true) {
    // fine: conmon keeps the terminal; `berth attach` shows its output
  }
  if (flags.tty === true && flags.detach !== true && !process.stdin.isTTY) throw new FlagError('the input device is not a TTY: drop -t, or run from a terminal');
  const runtimeName = flags.runtime ?? env['BERTH_RUNTIME'] ?? 'runc';
  const rt = await import('@berth/runtime/containers');
  const { ensureLayers, createRootfs, parsePortMappings } = rt;
  const ports = parsePortMappings(flags.publish ?? []);
  const { capabilitySet } = rt;
  capabilitySet(flags.capAdd ?? [], flags.capDrop ?? []);

  const { image: row } = await localImage(store, image, flags);
  const config = JSON.parse((await store.readBlob(row.configDigest)).toString('utf8')) as { config?: import('@berth/runtime/containers').ImageRunConfig };
  const layers = await ensureLayers(store, row);
  const containers = await rt.Containers.open({ root });
  try {
    containers.runtime(runtimeName);
    const id = await containers.create({
      image: { name: image, id: row.configDigest, digest: row.digest, config: config.config ?? {} },
      // writable even with --read-only: runc makes its mount points, then remounts the root
      // read-only; runc mounts it inside the container (nothing to unmount here afterwards;
      // crun cannot mount "/" so, it gets a host mount), and an --rm container's writes are
      // never synced (overlay's volatile)
      rootfs: (_target, bundle) => createRootfs(layers, bundle, { inRuntime: runtimeName === 'runc', volatile: flags.rm === true }),
      ...(flags.name !== undefined ? { name: flags.name } : {}),
      command,
      ...(flags.entrypoint !== undefined ? { entrypoint: flags.entrypoint } : {}),
      env: envs,
      ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
      ...(flags.user !== undefined ? { user: flags.user } : {}),
      ...(flags.hostname !== undefined ? { hostname: flags.hostname } : {}),
      tty: flags.tty === true,
      interactive: flags.interactive === true,
      autoRemove: flags.rm === true,
      readOnly: flags.readOnly === true,
      init: flags.init === true,
      capAdd: flags.capAdd ?? [],
      capDrop: flags.capDrop ?? [],
      volumes,
      ...(memory !== undefined ? { memory } : {}),
      ...(cpus !== undefined ? { cpus } : {}),
      ...(pidsLimit !== undefined ? { pidsLimit } : {}),
      network,
      ports,
      runtime: runtimeName,
    });
    if (flags.detach === true) {
      try {
        await containers.start(id);
      } catch (err) {
        // a container that could not start is not kept
        const rec = containers.state.get(id);
        if (rec !== undefined) await containers.removeNow(rec);
        throw err;
      }
      io.out(`${id}\n`);
      return 0;
    }
    let code = 255;
    try {
      code = await containers.runForeground(id, flags.interactive === true);
    } finally {
      await containers.finishForeground(id, code);
    }
    return code;
  } finally {
    containers.close();
  }
}
