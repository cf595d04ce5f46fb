/** Helpers for the container tests: a busybox image, the berth CLI as a process. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, which, type RunResult } from '@berth/test-support/exec';
import { MT, openLayout } from '@berth/test-support/images';
import type { TarEntry } from '@berth/test-support/tar';

/** The CLI as users run it: the bundle (packages/runtime/dist/test -> packages/cli/dist/bundle/berth.cjs). */
export const BERTH_CLI = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..', 'cli', 'dist', 'bundle', 'berth.cjs');

/** Busybox applets the tests use inside containers. */
const APPLETS = ['sh', 'ls', 'cat', 'echo', 'true', 'false', 'hostname', 'sleep', 'id', 'touch', 'mkdir', 'grep', 'wc', 'httpd', 'tty', 'test', 'env', 'pwd', 'rm', 'ps', 'trap'];

/** Debian's static busybox with applet links, /etc/passwd with a non-root user, /tmp. */
export function busyboxRootfs(): TarEntry[] {
  const busybox = which('busybox');
  if (busybox === undefined) throw new Error('busybox not found (Debian package busybox-static)');
  const head = readFileSync(busybox).subarray(0, 4);
  if (!head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]))) throw new Error(`${busybox} is not an ELF binary`);
  return [
    { type: 'dir', name: 'bin' },
    { type: 'file', name: 'bin/busybox', mode: 0o755, path: busybox },
    ...APPLETS.map((a): TarEntry => ({ type: 'symlink', name: `bin/${a}`, target: 'busybox' })),
    { type: 'dir', name: 'etc' },
    { type: 'file', name: 'etc/passwd', data: Buffer.from('root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n') },
    { type: 'file', name: 'etc/group', data: Buffer.from('root:x:0:\napp:x:1000:\nextra:x:2000:app\n') },
    { type: 'dir', name: 'tmp', mode: 0o1777 },
    { type: 'dir', name: 'www' },
    { type: 'file', name: 'www/index.html', data: Buffer.from('hello from the container\n') },
  ];
}

export interface ImageConfig {
  readonly Entrypoint?: string[];
  readonly Cmd?: string[];
  readonly Env?: string[];
  readonly WorkingDir?: string;
  readonly ExposedPorts?: Record<string, object>;
}

/** Writes a one-layer busybox image with this config into an OCI layout; returns `oci:<dir>:<tag>`. */
export async function busyboxImage(dir: string, tag: string, config: ImageConfig, extra: TarEntry[] = []): Promise<string> {
  const layout = openLayout(dir);
  const layers = [await layout.writeLayer(busyboxRootfs()), ...(extra.length > 0 ? [await layout.writeLayer(extra)] : [])];
  const cfg = layout.writeJson(
    {
      created: '2024-01-01T00:00:00Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], ...config },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map(() => ({ created: '2024-01-01T00:00:00Z', created_by: 'berth container test' })),
    },
    MT.ociConfig,
  );
  const manifest = layout.writeJson({ schemaVersion: 2, mediaType: MT.ociManifest, config: cfg, layers: layers.map((l) => l.desc) }, MT.ociManifest);
  layout.tag(tag, manifest);
  return `oci:${dir}:${tag}`;
}

/** `berth --root <root> ...args` as its own process; never throws on a non-zero exit. */
export function berth(root: string, args: readonly string[], o: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  const isolated = { BERTH_AUTH_FILE: `${root}.auth/berth.json`, REGISTRY_AUTH_FILE: `${root}.auth/podman.json`, DOCKER_CONFIG: `${root}.auth/docker` };
  return run(process.execPath, [BERTH_CLI, '--root', root, ...args], {
    allowFailure: true,
    env: { ...process.env, ...isolated, ...(o.env ?? {}) },
    timeoutMs: o.timeoutMs ?? 60_000,
    ...(o.input !== undefined ? { input: o.input } : {}),
  });
}

/**
 * A shell line printing the container's memory limit, CPU quota (µs per 100 ms) and pids
 * limit, one per line, from cgroup v1 files (this machine's hybrid) or v2 (memory.max,
 * cpu.max, pids.max at the root of the container's cgroup namespace).
 */
export const CGROUP_LIMITS =
  'if [ -e /sys/fs/cgroup/cgroup.controllers ]; then cat /sys/fs/cgroup/memory.max; cut -d" " -f1 /sys/fs/cgroup/cpu.max; cat /sys/fs/cgroup/pids.max; ' +
  'else cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max; fi';
