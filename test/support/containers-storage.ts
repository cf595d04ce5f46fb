import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type RunResult } from './exec.js';

export type Runner = (args: readonly string[], allowFailure?: boolean) => Promise<RunResult>;

/**
 * A private containers/storage + containers.conf setup for podman and buildah under dir
 * (vfs driver: no mounts left behind, nothing under /var/lib/containers), and runners
 * for both tools sharing it.
 */
export function containersStore(dir: string): { podman: Runner; buildah: Runner; env: NodeJS.ProcessEnv } {
  const root = join(dir, 'storage');
  const runroot = join(dir, 'run');
  const tmp = join(dir, 'tmp');
  const net = join(dir, 'net');
  for (const d of [root, runroot, tmp, net]) mkdirSync(d, { recursive: true });
  writeFileSync(
    join(dir, 'storage.conf'),
    `[storage]\ndriver = "vfs"\nrunroot = "${runroot}"\ngraphroot = "${root}"\n`,
  );
  writeFileSync(join(dir, 'registries.conf'), 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
  writeFileSync(
    join(dir, 'containers.conf'),
    [
      '[containers]',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `events_logfile_path = "${join(tmp, 'events.log')}"`,
      'runtime = "runc"',
      `tmp_dir = "${tmp}"`,
      '[network]',
      `network_config_dir = "${net}"`,
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'auth.json'), '{"auths":{}}');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_STORAGE_CONF: join(dir, 'storage.conf'),
    CONTAINERS_REGISTRIES_CONF: join(dir, 'registries.conf'),
    CONTAINERS_CONF: join(dir, 'containers.conf'),
    REGISTRY_AUTH_FILE: join(dir, 'auth.json'),
    TMPDIR: tmp,
  };
  const storageFlags = ['--root', root, '--runroot', runroot, '--storage-driver', 'vfs'];
  const podmanFlags = [
    ...storageFlags,
    '--tmpdir', tmp,
    '--network-config-dir', net,
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
    '--runtime', 'runc',
  ];
  return {
    env,
    podman: (args, allowFailure = false) =>
      run('podman', [...podmanFlags, ...args], { env, allowFailure, timeoutMs: 120_000 }),
    buildah: (args, allowFailure = false) =>
      run('buildah', [...storageFlags, ...args], { env, allowFailure, timeoutMs: 120_000 }),
  };
}
