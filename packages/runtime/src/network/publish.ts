import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { NetworkError } from './errors.js';
import { appendRule, deleteRule, type Rule } from './iptables.js';
import { formatIPv4 } from './ipv4.js';
import { formatPortMapping, type PortMapping } from './ports.js';

/**
 * Published ports are DNAT rules in BERTH-DNAT (reached for every local destination address,
 * from outside through PREROUTING and from the host itself through OUTPUT), tagged
 * `berth:<container id>`. 127.0.0.1:hostport works without a proxy process: the bridge has
 * route_localnet and the 127/8 source is masqueraded (see bridge.ts). Rules are recomputed
 * from the mapping and the container address, so release needs nothing but the state rows.
 */
export function dnatRule(containerId: string, ip: number, p: PortMapping): Rule {
  return [
    ...(p.hostIp === undefined ? [] : ['-d', `${p.hostIp}/32`]),
    '-p', p.protocol,
    '-m', p.protocol,
    '--dport', String(p.hostPort),
    '-m', 'comment', '--comment', `berth:${containerId}`,
    '-j', 'DNAT',
    '--to-destination', `${formatIPv4(ip)}:${p.containerPort}`,
  ];
}

/** Adds the DNAT rules of a container that has none yet (setup's second phase). */
export async function publishPorts(containerId: string, ip: number, ports: readonly PortMapping[]): Promise<void> {
  for (const p of ports) await appendRule('nat', 'BERTH-DNAT', dnatRule(containerId, ip, p));
}

export async function unpublishPorts(containerId: string, ip: number, ports: readonly PortMapping[]): Promise<void> {
  for (const p of ports) await deleteRule('nat', 'BERTH-DNAT', dnatRule(containerId, ip, p));
}

/**
 * Refuses a host port that a host process already listens on: DNAT would silently steal its
 * traffic. (The bind is released at once; Berth's own publications are checked in state.)
 */
export async function checkHostPortFree(p: PortMapping): Promise<void> {
  const host = p.hostIp ?? '0.0.0.0';
  const inUse = (err: NodeJS.ErrnoException): NetworkError =>
    new NetworkError(
      err.code === 'EADDRNOTAVAIL' ? 'invalid' : 'conflict',
      err.code === 'EADDRNOTAVAIL'
        ? `cannot publish ${formatPortMapping(p)}: ${host} is not an address of this host`
        : `cannot publish ${formatPortMapping(p)}: ${host}:${p.hostPort}/${p.protocol} is in use on the host (${err.code ?? err.message})`,
    );
  if (p.protocol === 'tcp') {
    await new Promise<void>((resolve, reject) => {
      const server = createServer();
      server.once('error', (err: NodeJS.ErrnoException) => reject(inUse(err)));
      server.listen({ host, port: p.hostPort, exclusive: true }, () => server.close(() => resolve()));
    });
  } else {
    await new Promise<void>((resolve, reject) => {
      const socket = createSocket('udp4');
      socket.once('error', (err: NodeJS.ErrnoException) => {
        socket.close();
        reject(inUse(err));
      });
      socket.bind({ address: host, port: p.hostPort, exclusive: true }, () => socket.close(() => resolve()));
    });
  }
}
