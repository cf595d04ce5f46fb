import { NetworkError } from './errors.js';

/**
 * Kernel object names, all derived from the container id so that release can find them
 * from the id alone:
 *
 *   /run/netns/berth-<id>     the network namespace (bind mount made by `ip netns add`)
 *   bth<12 hex>               host end of the container's veth (sha256 of the id; IFNAMSIZ is 16)
 *   eth0                      the container's end, inside its namespace
 */
export const NETNS_DIR = '/run/netns';

/** Container ids as runc accepts them, bounded so every derived name stays short. */
export function checkContainerId(id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(id)) {
    throw new NetworkError('invalid', `invalid container id "${id}": expected 1-128 of [A-Za-z0-9_.-], starting with a letter or digit`);
  }
}

export function netnsName(containerId: string): string {
  return `berth-${containerId}`;
}

export function netnsPath(containerId: string): string {
  return `${NETNS_DIR}/${netnsName(containerId)}`;
}

export function vethName(containerId: string): string {
  return `bth${process.getBuiltinModule('node:crypto').createHash('sha256').update(containerId).digest('hex').slice(0, 12)}`;
}

/** The interface a container sees on a bridge network. */
export const CONTAINER_IFNAME = 'eth0';
