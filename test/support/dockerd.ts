import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, waitUntil, type Daemon } from './daemon.js';
import { requireTools, run, type RunResult } from './exec.js';
import { makeTempDir, removeTempDir } from './tmp.js';

export interface DockerDaemon {
  /** unix:///.../docker.sock */
  readonly host: string;
  /** Environment for the docker CLI: DOCKER_HOST and a private DOCKER_CONFIG. */
  readonly env: NodeJS.ProcessEnv;
  docker(args: readonly string[], allowFailure?: boolean): Promise<RunResult>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a private dockerd: data, exec root, socket and pidfile in a temp dir, no bridge
 * network and no iptables changes, so nothing on the host is touched. dockerd runs its
 * own containerd (under <exec-root>/containerd) and stops it when it stops.
 * BERTH_TEST_DOCKER_STORAGE_DRIVER overrides the storage driver (default: dockerd's choice).
 */
export async function startDockerd(): Promise<DockerDaemon> {
  requireTools('dockerd', 'docker', 'containerd', 'runc');
  const dir = makeTempDir('dockerd');
  const sock = join(dir, 'docker.sock');
  const execRoot = join(dir, 'exec');
  mkdirSync(join(dir, 'data'));
  mkdirSync(execRoot);
  mkdirSync(join(dir, 'config'));
  // our own (empty) daemon.json, so a host /etc/docker/daemon.json cannot interfere
  writeFileSync(join(dir, 'daemon.json'), '{}');
  const args = [
    '--config-file', join(dir, 'daemon.json'),
    '--data-root', join(dir, 'data'),
    '--exec-root', execRoot,
    '-H', `unix://${sock}`,
    '--pidfile', join(dir, 'docker.pid'),
    '--bridge=none',
    '--iptables=false',
    '--ip6tables=false',
    '--insecure-registry', '127.0.0.0/8',
  ];
  const driver = process.env['BERTH_TEST_DOCKER_STORAGE_DRIVER'];
  if (driver !== undefined && driver !== '') args.push('--storage-driver', driver);
  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(dir, 'config') };
  delete env['DOCKER_CONTEXT'];
  delete env['DOCKER_TLS_VERIFY'];
  delete env['DOCKER_CERT_PATH'];
  let daemon: Daemon | undefined;
  const docker = (a: readonly string[], allowFailure = false): Promise<RunResult> =>
    run('docker', a, { env, allowFailure, timeoutMs: 120_000 });
  const containerdPidFile = join(execRoot, 'containerd', 'containerd.pid');
  const stop = async (): Promise<void> => {
    const containerdPid = existsSync(containerdPidFile) ? Number(readFileSync(containerdPidFile, 'utf8').trim()) : NaN;
    await daemon?.stop(15_000);
    // dockerd's containerd runs in its own session; it normally exits with dockerd
    if (Number.isInteger(containerdPid) && containerdPid > 0 && alive(containerdPid)) {
      const cmdline = readFileSync(`/proc/${containerdPid}/cmdline`, 'utf8');
      if (cmdline.includes('containerd') && cmdline.includes(execRoot)) process.kill(containerdPid, 'SIGKILL');
    }
    removeTempDir(dir);
  };
  try {
    daemon = startDaemon('dockerd', args, { logFile: join(dir, 'dockerd.log'), env });
    await waitUntil(
      'dockerd',
      async () => existsSync(sock) && (await docker(['version', '--format', '{{.Server.Version}}'], true)).code === 0,
      daemon,
      60_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  const started = daemon;
  return { host: `unix://${sock}`, env, docker, logTail: (n) => started.logTail(n), stop };
}
