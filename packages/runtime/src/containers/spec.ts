/**
 * Builds an OCI runtime config.json from an image config and `berth run` flags, with
 * Docker's defaults: new pid, mount, uts, ipc, net and cgroup namespaces (net: unless
 * host networking or a netns path is given), Docker's capabilities and seccomp profile,
 * masked and read-only /proc and /sys paths, no-new-privileges, a device cgroup that
 * denies everything runc does not add itself, and the cgroup limits asked for.
 * Pure: everything it needs (user ids, rlimits, files to bind) is resolved by the caller.
 */
import type { OverlayMount } from '../layers/types.js';
import { capabilitySet } from './capabilities.js';
import { defaultSeccomp } from './seccomp.js';
import type { RuntimeSpec, SpecMount, SpecNamespace, SpecRlimit, SpecUser } from './spec-types.js';

/** The fields of an image config's `config` object that a container starts from. */
export interface ImageRunConfig {
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Env?: readonly string[] | null;
  readonly WorkingDir?: string;
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, unknown>> | null;
  readonly StopSignal?: string;
}

export interface VolumeMount {
  readonly source: string;
  readonly destination: string;
  readonly readonly: boolean;
}

export interface SpecInput {
  readonly image: ImageRunConfig;
  /** Arguments after the image name (replace Cmd). */
  readonly command: readonly string[];
  /** --entrypoint: undefined keeps the image's, '' clears it. */
  readonly entrypoint?: string;
  /** -e and --env-file, in order (KEY=VALUE; a later one wins). */
  readonly env: readonly string[];
  readonly workdir?: string;
  /** The resolved -u (or image User). */
  readonly user: SpecUser;
  readonly hostname: string;
  readonly tty: boolean;
  readonly readOnly: boolean;
  /** Path of a static init on the host (bind-mounted as /sbin/berth-init), or undefined. */
  readonly init?: string;
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly volumes: readonly VolumeMount[];
  /** Files generated for the container, bind-mounted over /etc/hosts, /etc/hostname, /etc/resolv.conf. */
  readonly etcFiles: Readonly<Partial<Record<'hosts' | 'hostname' | 'resolv.conf', string>>>;
  readonly memory?: number;
  readonly cpus?: number;
  readonly pidsLimit?: number;
  /** 'host': share the host's network namespace; a path: join that one; 'new': a fresh one (loopback only). */
  readonly network: 'host' | 'new' | { readonly path: string };
  readonly cgroupsPath: string;
  /** The root file system's overlay when the runtime mounts it (at "/", before every other mount). */
  readonly rootMount?: OverlayMount;
  /** The caller's own limits: the container's may not exceed them. */
  readonly rlimits: readonly SpecRlimit[];
  readonly arch?: string;
  /** The seccomp profile filters x32-ABI calls too (default: yes; see x32.ts). */
  readonly x32?: boolean;
}

export const INIT_PATH = '/sbin/berth-init';
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CPU_PERIOD = 100_000;

export class NoCommandError extends Error {
  constructor() {
    super('no command specified: the image has no Entrypoint or Cmd, give one after the image name');
    this.name = 'NoCommandError';
  }
}

/** Entrypoint + Cmd as Docker combines them with --entrypoint and the run arguments. */
export function processArgs(image: ImageRunConfig, command: readonly string[], entrypoint: string | undefined): string[] {
  const entry = entrypoint !== undefined ? (entrypoint === '' ? [] : [entrypoint]) : [...(image.Entrypoint ?? [])];
  // a new entrypoint resets the image's Cmd, as in Docker
  const cmd = command.length > 0 ? [...command] : entrypoint !== undefined ? [] : [...(image.Cmd ?? [])];
  const args = [...entry, ...cmd];
  if (args.length === 0) throw new NoCommandError();
  return args;
}

/** Image Env, then HOSTNAME (and TERM with a tty), then the flags; one entry per key, the last wins. */
export function processEnv(image: ImageRunConfig, hostname: string, tty: boolean, flags: readonly string[]): string[] {
  const out = new Map<string, string>();
  const put = (entry: string): void => {
    const eq = entry.indexOf('=');
    out.set(eq === -1 ? entry : entry.slice(0, eq), entry);
  };
  put(DEFAULT_PATH);
  for (const e of image.Env ?? []) put(e);
  put(`HOSTNAME=${hostname}`);
  if (tty) put('TERM=xterm');
  for (const e of flags) put(e);
  return [...out.values()];
}

/** With the host's network namespace, sysfs cannot be mounted afresh: bind the host's read-only, as Docker does. */
function defaultMounts(hostNetwork: boolean): SpecMount[] {
  const sys: SpecMount = hostNetwork
    ? { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] }
    : { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] };
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    sys,
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  ];
}

export const MASKED_PATHS: readonly string[] = [
  '/proc/asound',
  '/proc/acpi',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/sys/firmware',
  '/sys/devices/virtual/powercap',
];

export const READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** Device cgroup: deny all; runc adds /dev/null, zero, full, random, urandom, tty, pts and ptmx itself. */
const DEVICE_RULES = [{ allow: false, access: 'rwm' }];

export function buildSpec(input: SpecInput): RuntimeSpec {
  const caps = capabilitySet(input.capAdd, input.capDrop);
  let args = processArgs(input.image, input.command, input.entrypoint);
  const mounts = defaultMounts(input.network === 'host');
  if (input.rootMount !== undefined) mounts.unshift({ destination: '/', type: input.rootMount.type, source: input.rootMount.source, options: [...input.rootMount.options] });
  if (input.init !== undefined) {
    args = [INIT_PATH, '--', ...args];
    mounts.push({ destination: INIT_PATH, type: 'bind', source: input.init, options: ['rbind', 'ro', 'nosuid', 'nodev'] });
  }
  for (const [name, source] of Object.entries(input.etcFiles)) {
    if (source !== undefined) mounts.push({ destination: `/etc/${name}`, type: 'bind', source, options: ['rbind', 'rprivate'] });
  }
  for (const v of input.volumes) {
    mounts.push({ destination: v.destination, type: 'bind', source: v.source, options: ['rbind', 'rprivate', ...(v.readonly ? ['ro'] : [])] });
  }
  const namespaces: SpecNamespace[] = [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }];
  if (input.network === 'new') namespaces.push({ type: 'network' });
  else if (input.network !== 'host') namespaces.push({ type: 'network', path: input.network.path });
  const resources: RuntimeSpec['linux']['resources'] = { devices: DEVICE_RULES.map((d) => ({ ...d })) };
  if (input.memory !== undefined) resources.memory = { limit: input.memory };
  if (input.cpus !== undefined) resources.cpu = { quota: Math.round(input.cpus * CPU_PERIOD), period: CPU_PERIOD };
  if (input.pidsLimit !== undefined) resources.pids = { limit: input.pidsLimit };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: input.tty,
      user: input.user,
      args,
      env: processEnv(input.image, input.hostname, input.tty, input.env),
      cwd: input.workdir ?? (input.image.WorkingDir !== undefined && input.image.WorkingDir !== '' ? input.image.WorkingDir : '/'),
      capabilities: { bounding: [...caps], effective: [...caps], permitted: [...caps], inheritable: [], ambient: [] },
      rlimits: input.rlimits.map((r) => ({ ...r })),
      noNewPrivileges: true,
      oomScoreAdj: 0,
    },
    root: { path: 'rootfs', readonly: input.readOnly },
    hostname: input.hostname,
    mounts,
    linux: {
      namespaces,
      resources,
      cgroupsPath: input.cgroupsPath,
      seccomp: defaultSeccomp(caps, input.arch, input.x32 ?? true),
      maskedPaths: [...MASKED_PATHS],
      readonlyPaths: [...READONLY_PATHS],
    },
  };
}
