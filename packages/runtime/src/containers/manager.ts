/**
 * The container lifecycle over containers.db, runc and conmon:
 *
 *   create -> (run in the foreground | start detached under conmon) -> running -> exited
 *   exited -> start again (same rootfs, same config.json) | rm
 *
 * A foreground `berth run` is the monitor of its container: it runs `runc run` with its
 * own stdio (one process, no supervisor: the fast path) and records the exit code. A
 * detached container's monitor is conmon; its exit command (exit-main.ts) records the
 * code and removes an --rm container. Readers reconcile: a "running" row whose exit file
 * exists, or whose monitor is gone, is exited.
 */
import { spawn, type StdioOptions } from 'node:child_process';
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { isMountPoint } from '../layers/overlay.js';
import { conmonCreate } from './conmon.js';
import { createContainer, emptyTrash, removeBundle, type CreateRequest } from './create.js';
import { ContainerPaths } from './paths.js';
import { OciRuntime } from './runc.js';
import { ContainerNotFoundError, ContainerStateError } from './errors.js';
import { parseSignal, waitForwarding } from './signals.js';
import { ContainerState, type ContainerRecord } from './state.js';

export interface ManagerOptions {
  readonly root: string;
  readonly runDir?: string;
  readonly runtimes?: Readonly<Record<string, string>>;
  readonly conmon?: string;
  /** Where the network module keeps its leases (default /run/berth/network). */
  readonly networkStateDir?: string;
  /** Unmounts a container's rootfs (default: umount(8), ignoring "not mounted"). */
  readonly unmount?: (target: string) => Promise<void>;
}

// beside this module: exit-main.js in dist/src, exit-main.cjs in the CLI's bundle
const EXIT_MAIN = fileURLToPath(new URL(import.meta.url.endsWith('.cjs') ? './exit-main.cjs' : './exit-main.js', import.meta.url));

function alive(pid: number | undefined): boolean {
  if (pid === undefined || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function defaultUnmount(target: string): Promise<void> {
  // a rootfs the runtime mounted (inside the container's namespace) is not mounted here
  if (!isMountPoint(target)) return;
  await new Promise<void>((resolve) => {
    // lazy: an overlay's unmount syncs its upper file system, which the container's removal does not need
    const c = spawn('umount', ['-l', target], { stdio: 'ignore' });
    c.on('error', () => resolve());
    c.on('exit', () => resolve());
  });
}

/**
 * Docker's codes for a container that never ran its command: 127 when the command was not
 * found, 126 when it could not be executed, 125 for any other runtime failure; undefined
 * when the runtime logged no error (the command itself exited non-zero).
 */
async function startFailureCode(log: string): Promise<number | undefined> {
  const text = await readFile(log, 'utf8').catch(() => '');
  const errors = text.split('\n').filter((l) => /"level":"(error|fatal)"/.test(l));
  if (errors.length === 0) return undefined;
  const msg = errors.join(' ');
  if (/executable file not found|no such file or directory/i.test(msg)) return 127;
  if (/permission denied|exec format error/i.test(msg)) return 126;
  return 125;
}

export class Containers {
  readonly paths: ContainerPaths;
  readonly state: ContainerState;
  private readonly runtimes: Readonly<Record<string, string>>;
  private readonly conmon: string;
  private readonly unmountFn: (target: string) => Promise<void>;

  private constructor(private readonly o: ManagerOptions) {
    this.paths = new ContainerPaths(o.root, o.runDir);
    this.state = new ContainerState(this.paths.db);
    this.runtimes = o.runtimes ?? { runc: '/usr/sbin/runc', crun: '/usr/bin/crun' };
    this.conmon = o.conmon ?? '/usr/bin/conmon';
    this.unmountFn = o.unmount ?? defaultUnmount;
  }

  static async open(o: ManagerOptions): Promise<Containers> {
    const paths = new ContainerPaths(o.root, o.runDir);
    mkdirSync(paths.containers, { recursive: true });
    return new Containers(o);
  }

  close(): void {
    this.state.close();
  }

  runtime(name: string): OciRuntime {
    const binary = this.runtimes[name];
    if (binary === undefined) throw new ContainerStateError(`unknown OCI runtime "${name.slice(0, 40)}" (runc or crun)`);
    return new OciRuntime(name, binary, this.paths.runcRoot);
  }

  async create(req: CreateRequest): Promise<string> {
    return createContainer(this.paths, this.state, req, this.o.networkStateDir, this.unmountFn);
  }

  /** By full id, name, or a unique id prefix; the row is reconciled with reality first. */
  async find(ref: string): Promise<ContainerRecord> {
    let rec = /^[a-f0-9]{64}$/.test(ref) ? this.state.get(ref) : undefined;
    rec ??= this.state.byName(ref.startsWith('/') ? ref.slice(1) : ref);
    if (rec === undefined && /^[a-f0-9]{1,63}$/.test(ref)) {
      const m = this.state.byIdPrefix(ref);
      if (m.length > 1) throw new ContainerStateError(`container id prefix "${ref}" is ambiguous`);
      rec = m[0];
    }
    if (rec === undefined) throw new ContainerNotFoundError(ref);
    return this.reconcile(rec);
  }

  async list(): Promise<ContainerRecord[]> {
    return Promise.all(this.state.list().map((r) => this.reconcile(r)));
  }

  /** Manifest digests of the images existing containers were made from (what rmi should refuse, as docker does). */
  imagesInUse(): Set<string> {
    return new Set(this.state.list().map((r) => r.config.imageDigest));
  }

  /** The diff_ids of the layers the existing containers are made of: what pruneLayers must keep. */
  async layersInUse(): Promise<Set<string>> {
    const { openRootfs } = await import('../layers/rootfs.js');
    const out = new Set<string>();
    for (const r of this.state.list()) {
      const rootfs = await openRootfs(this.paths.bundle(r.id)).catch(() => undefined); // none yet, or gone
      for (const d of rootfs?.layers ?? []) out.add(d);
    }
    return out;
  }

  /** A "running" row is exited when its exit file exists or its monitor is gone. */
  async reconcile(rec: ContainerRecord): Promise<ContainerRecord> {
    if (rec.status !== 'running') return rec;
    const code = await this.exitCode(rec.id);
    if (code !== undefined) {
      this.state.exited(rec.id, code.code, code.at);
      return this.state.get(rec.id) ?? rec;
    }
    if (!alive(rec.monitor)) {
      // the monitor died without recording the end: ask the runtime
      const st = await this.runtime(rec.config.runtime).state(rec.id);
      if (st !== undefined && st.status === 'running' && alive(st.pid)) return rec;
      this.state.exited(rec.id, 255);
      return this.state.get(rec.id) ?? rec;
    }
    return rec;
  }

  private async exitCode(id: string): Promise<{ code: number; at: number } | undefined> {
    try {
      const file = this.paths.exitFile(id);
      const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
      const code = Number(text.trim());
      return Number.isInteger(code) ? { code, at: st.mtimeMs } : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Runs a created container in the foreground with this process's stdio (stdin only
   * with `interactive`) and resolves with its exit code. Signals this process gets are
   * passed on to the container. With a tty, runc itself relays the terminal.
   */
  async runForeground(id: string, interactive: boolean): Promise<number> {
    const rec = await this.find(id);
    const rt = this.runtime(rec.config.runtime);
    const stdio: StdioOptions = [interactive || rec.config.tty ? 'inherit' : 'ignore', 'inherit', 'inherit'];
    // the runtime's own messages go to a file: stderr belongs to the container
    const log = join(this.paths.bundle(id), 'runtime.log');
    const child = rt.spawn([`--log=${log}`, '--log-format=json', 'run', '--bundle', this.paths.bundle(id), id], stdio);
    const done = waitForwarding(child, ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2']);
    this.state.started(id, child.pid ?? 0, process.pid);
    // while the container runs: the files of containers removed earlier (a foreground --rm
    // leaves its own there, see finishForeground), on libuv's threads
    const trash = emptyTrash(this.paths);
    const code = await done;
    await trash;
    return code === 0 ? 0 : ((await startFailureCode(log)) ?? code);
  }

  /** Records the end of a foreground run (and removes the container with --rm). */
  async finishForeground(id: string, code: number): Promise<void> {
    this.state.exited(id, code);
    const rec = this.state.get(id);
    // `runc run` has already deleted its own state; the bundle goes to the trash, emptied by
    // the next foreground run or `berth rm` (no process spawned on this path)
    if (rec?.config.autoRemove === true) await this.removeNow(rec, false, false);
  }

  /** Starts a created or exited container detached, under conmon; resolves once it runs. */
  async start(id: string): Promise<ContainerRecord> {
    const rec = await this.find(id);
    if (rec.status === 'running') return rec;
    const rt = this.runtime(rec.config.runtime);
    // after a reboot the overlay is gone: mount it again (a no-op when mounted)
    const { openRootfs } = await import('../layers/rootfs.js');
    await openRootfs(this.paths.bundle(rec.id)).then((r) => r.mount(), () => undefined);
    // a previous run's runtime state and exit file go first
    await rt.delete(rec.id);
    const exitDir = this.paths.exitDir(rec.id);
    await mkdir(exitDir, { recursive: true });
    await rm(this.paths.exitFile(rec.id), { force: true });
    await mkdir(this.paths.socketDir, { recursive: true });
    const pid = await conmonCreate({
      conmon: this.conmon,
      runtime: rt,
      id: rec.id,
      name: rec.name,
      bundle: this.paths.bundle(rec.id),
      logPath: this.paths.log(rec.id),
      exitDir,
      socketDir: this.paths.socketDir,
      tty: rec.config.tty,
      stdin: rec.config.interactive,
      exitCommand: [process.execPath, EXIT_MAIN, this.paths.root, this.paths.run, rec.id],
    });
    const conmonPid = Number((await readFile(join(this.paths.bundle(rec.id), 'conmon.pid'), 'utf8').catch(() => '0')).trim());
    try {
      await rt.call(['start', rec.id]);
    } catch (err) {
      await rt.delete(rec.id).catch(() => undefined);
      throw err;
    }
    this.state.started(rec.id, pid, conmonPid);
    return this.state.get(rec.id) ?? rec;
  }

  /** Sends the stop signal, then SIGKILL after `timeoutSec`; resolves once the container ended. */
  async stop(ref: string, timeoutSec: number): Promise<ContainerRecord> {
    const rec = await this.find(ref);
    if (rec.status !== 'running') return rec;
    const rt = this.runtime(rec.config.runtime);
    await rt.kill(rec.id, rec.config.stopSignal).catch(() => undefined);
    if (await this.waitExit(rec.id, timeoutSec * 1000)) return this.find(rec.id);
    await rt.kill(rec.id, 'SIGKILL', true).catch(() => undefined);
    await this.waitExit(rec.id, 30_000);
    return this.find(rec.id);
  }

  async kill(ref: string, signal: string): Promise<ContainerRecord> {
    const rec = await this.find(ref);
    if (rec.status !== 'running') throw new ContainerStateError(`container ${rec.name} is not running`);
    await this.runtime(rec.config.runtime).kill(rec.id, parseSignal(signal));
    return rec;
  }

  /** True once the container is no longer running (false after timeoutMs). */
  async waitExit(id: string, timeoutMs = Number.POSITIVE_INFINITY, signal?: AbortSignal): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (let delay = 10; ; delay = Math.min(delay * 2, 100)) {
      const rec = this.state.get(id);
      if (rec === undefined) return true;
      if ((await this.reconcile(rec)).status !== 'running') return true;
      if (Date.now() >= deadline || signal?.aborted === true) return false;
      await sleep(delay);
    }
  }

  /** Removes a container; a running one only with force (it is killed first). */
  async remove(ref: string, force: boolean): Promise<ContainerRecord> {
    const rec = await this.find(ref);
    if (rec.status === 'running') {
      if (!force) throw new ContainerStateError(`container ${rec.name} is running: stop it first or use rm -f`);
      await this.runtime(rec.config.runtime).kill(rec.id, 'SIGKILL', true).catch(() => undefined);
      await this.waitExit(rec.id, 30_000);
    }
    await this.removeNow(rec);
    return rec;
  }

  /** Runtime state, network, rootfs, bundle, row: in that order, each step tolerant of a missing piece. */
  async removeNow(rec: ContainerRecord, runtimeState = true, detachedDelete = true): Promise<void> {
    if (runtimeState) await this.runtime(rec.config.runtime).delete(rec.id).catch(() => undefined);
    // with the runtime's state gone, network and files are independent: both at once; the
    // bridge code (and its imports) only for containers that use it
    const network = async (): Promise<void> => {
      if (rec.config.network !== 'bridge') return;
      await (await import('../network/setup.js')).releaseNetwork(rec.id, this.o.networkStateDir !== undefined ? { stateDir: this.o.networkStateDir } : {}).catch(() => undefined);
    };
    // conmon's socket link (only a detached container has one; rmSync's first use costs ~2 ms)
    const socketLink = join(this.paths.socketDir, rec.id);
    if (lstatSync(socketLink, { throwIfNoEntry: false }) !== undefined) rmSync(socketLink, { recursive: true, force: true });
    await Promise.all([network(), removeBundle(this.paths, rec.id, this.unmountFn, detachedDelete)]);
    this.state.remove(rec.id);
  }

}
