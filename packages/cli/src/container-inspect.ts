/** What `berth ps` and `berth inspect` print about containers. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Containers, ContainerRecord } from '@berth/runtime/containers';
import type { Io } from './commands.js';

/** Seconds/minutes/hours ago, as docker ps says it. */
export function ago(ms: number): string {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return s <= 1 ? 'Less than a second' : `${s} seconds`;
  const m = Math.round(s / 60);
  if (m < 60) return m === 1 ? 'About a minute' : `${m} minutes`;
  const h = Math.round(m / 60);
  if (h < 48) return h === 1 ? 'About an hour' : `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

export function statusText(r: ContainerRecord): string {
  if (r.status === 'running') return `Up ${ago(r.startedAt ?? r.createdAt)}`;
  if (r.status === 'exited') return `Exited (${r.exitCode ?? 0}) ${ago(r.finishedAt ?? r.createdAt)} ago`;
  return 'Created';
}

export function portsText(r: ContainerRecord): string {
  return r.config.ports.map((p) => `${p.hostIp ?? '0.0.0.0'}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ');
}

/** The JSON `berth inspect` prints for a container (docker's field names). */
export function inspectRecord(c: Containers, r: ContainerRecord): unknown {
  const iso = (ms: number | undefined): string => (ms !== undefined ? new Date(ms).toISOString() : '0001-01-01T00:00:00Z');
  const ports: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of r.config.ports) (ports[`${p.containerPort}/${p.protocol}`] ??= []).push({ HostIp: p.hostIp ?? '0.0.0.0', HostPort: String(p.hostPort) });
  return {
    Id: r.id,
    Created: iso(r.createdAt),
    Path: r.config.args[0] ?? '',
    Args: r.config.args.slice(1),
    State: {
      Status: r.status,
      Running: r.status === 'running',
      Pid: r.pid ?? 0,
      ExitCode: r.exitCode ?? 0,
      StartedAt: iso(r.startedAt),
      FinishedAt: iso(r.finishedAt),
    },
    Image: r.config.imageId,
    ImageDigest: r.config.imageDigest,
    Name: `/${r.name}`,
    LogPath: c.paths.log(r.id),
    HostConfig: {
      Runtime: r.config.runtime,
      NetworkMode: r.config.network,
      AutoRemove: r.config.autoRemove,
      ReadonlyRootfs: r.config.readOnly,
      Init: r.config.init,
      CapAdd: r.config.capAdd,
      CapDrop: r.config.capDrop,
      Binds: r.config.volumes.map((v) => `${v.source}:${v.destination}${v.readonly ? ':ro' : ''}`),
      Memory: r.config.memory ?? 0,
      NanoCpus: r.config.cpus !== undefined ? Math.round(r.config.cpus * 1e9) : 0,
      PidsLimit: r.config.pidsLimit ?? 0,
      PortBindings: ports,
    },
    Config: {
      Hostname: r.config.hostname,
      User: r.config.user,
      Tty: r.config.tty,
      OpenStdin: r.config.interactive,
      Env: r.config.env,
      Cmd: r.config.cmd,
      Entrypoint: r.config.entrypoint,
      Image: r.config.image,
      WorkingDir: r.config.workdir,
      ExposedPorts: Object.fromEntries(r.config.exposedPorts.map((p) => [p, {}])),
      StopSignal: r.config.stopSignal,
    },
    NetworkSettings: { IPAddress: r.config.ip ?? '', Gateway: r.config.gateway ?? '', Ports: ports },
    Mounts: r.config.volumes.map((v) => ({ Type: 'bind', Source: v.source, Destination: v.destination, RW: !v.readonly })),
  };
}

/**
 * `berth inspect` for containers: the JSON when `ref` names a container, undefined when it
 * does not (the caller then inspects images). Without root, or before any container
 * exists, nothing is a container.
 */
export async function inspectContainer(root: string, ref: string, io: Io): Promise<boolean> {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return false;
  if (!existsSync(join(root, 'containers.db'))) return false;
  const rt = await import('@berth/runtime/containers');
  const c = await rt.Containers.open({ root });
  try {
    const r = await c.find(ref).catch((err: unknown) => {
      if (err instanceof rt.ContainerNotFoundError) return undefined;
      throw err;
    });
    if (r === undefined) return false;
    io.out(`${JSON.stringify([inspectRecord(c, r)], null, 2)}\n`);
    return true;
  } finally {
    c.close();
  }
}
