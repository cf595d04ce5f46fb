import { NetworkError } from './errors.js';
import { ipBatch, runTool } from './exec.js';
import { formatIPv4 } from './ipv4.js';
import { CONTAINER_IFNAME, netnsName, vethName } from './names.js';

export interface VethConfig {
  readonly containerId: string;
  readonly bridge: string;
  readonly ip: number;
  readonly prefix: number;
  readonly gateway: number;
  readonly mtu: number;
}

/**
 * Plugs the container's namespace into the bridge: a veth pair whose far end is created
 * directly inside the namespace as eth0, with the container's address and a default route
 * via the gateway. Hairpin mode lets a container reach its own published port through a
 * host address.
 */
export async function attachVeth(c: VethConfig): Promise<void> {
  const host = vethName(c.containerId);
  const ns = netnsName(c.containerId);
  const mtu = String(c.mtu);
  // Names and addresses here are validated (interface names, dotted quads): safe as batch words.
  await ipBatch(undefined, [
    ['link', 'add', 'name', host, 'mtu', mtu, 'type', 'veth', 'peer', 'name', CONTAINER_IFNAME, 'mtu', mtu, 'netns', ns],
    ['link', 'set', 'dev', host, 'master', c.bridge],
    ['link', 'set', 'dev', host, 'type', 'bridge_slave', 'hairpin', 'on'],
    ['link', 'set', 'dev', host, 'up'],
  ]);
  await ipBatch(ns, [
    ['addr', 'add', `${formatIPv4(c.ip)}/${c.prefix}`, 'dev', CONTAINER_IFNAME],
    ['link', 'set', 'dev', CONTAINER_IFNAME, 'up'],
    ['route', 'add', 'default', 'via', formatIPv4(c.gateway), 'dev', CONTAINER_IFNAME],
  ]);
}

/** Deletes the host end (which takes the pair with it); absent is fine. */
export async function detachVeth(containerId: string): Promise<void> {
  const host = vethName(containerId);
  const result = await runTool('ip', ['link', 'del', 'dev', host]);
  if (result.code === 0) return;
  const still = await runTool('ip', ['link', 'show', 'dev', host]);
  if (still.code === 0) throw new NetworkError('failed', `ip link del ${host}: ${result.stderr.trim()}`);
}
