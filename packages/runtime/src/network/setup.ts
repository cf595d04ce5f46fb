import { existsSync } from 'node:fs';
import { ensureBridge, removeBridge, uplinkMtu, validInterfaceName } from './bridge.js';
import { NetworkError } from './errors.js';
import { requireRoot } from './exec.js';
import { formatIPv4, gatewayOf, overlaps, parseSubnet, type Subnet } from './ipv4.js';
import { allocateAddress } from './lease.js';
import { checkContainerId, netnsPath, vethName } from './names.js';
import { createNetns, deleteNetns } from './netns.js';
import { formatPortMapping, portsClash, type PortMapping } from './ports.js';
import { checkHostPortFree, publishPorts, unpublishPorts } from './publish.js';
import { DEFAULT_STATE_DIR, withState, type NetworkState } from './state.js';
import { attachVeth, detachVeth } from './veth.js';

export type NetworkMode = 'none' | 'host' | 'bridge';

export const DEFAULT_BRIDGE = 'berth0';
/** Not podman's 10.88.0.0/16 nor docker's 172.17.0.0/16. */
export const DEFAULT_SUBNET = '10.89.0.0/24';

export interface NetworkOptions {
  readonly mode: NetworkMode;
  /** Published ports (parsePortMappings); bridge mode only. */
  readonly ports?: readonly PortMapping[];
  /** Bridge interface name (default berth0). */
  readonly bridge?: string;
  /**
   * IPv4 subnet of the bridge: fixed when the bridge is made (default 10.89.0.0/24); later
   * containers may leave it out, and giving another one is a conflict.
   */
  readonly subnet?: string;
  /** Where leases live (default /run/berth/network); tests may pass their own. */
  readonly stateDir?: string;
}

export interface ContainerNetwork {
  readonly containerId: string;
  readonly mode: NetworkMode;
  /** none and bridge: the namespace for runc, `{ type: 'network', path: netnsPath }`. host: undefined (no network namespace). */
  readonly netnsPath?: string;
  /** bridge: the container's address, its prefix length and the gateway (the bridge). */
  readonly ip?: string;
  readonly prefixLength?: number;
  readonly gateway?: string;
  readonly bridge?: string;
  readonly ports: readonly PortMapping[];
  /** Same as releaseNetwork(containerId, { stateDir }). */
  release(): Promise<void>;
}

/**
 * Gives a container its network. Two phases: under the state lock, the bridge is ensured and
 * the address and host ports are claimed and recorded; then, without the lock, the namespace,
 * veth and DNAT rules are made. Any failure releases everything already done, so a failed
 * setup leaves nothing behind. Throws NetworkError (kinds: invalid, conflict, permission,
 * unavailable, failed).
 */
export async function setupNetwork(containerId: string, options: NetworkOptions): Promise<ContainerNetwork> {
  checkContainerId(containerId);
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  const ports = options.ports ?? [];
  const release = (): Promise<void> => releaseNetwork(containerId, { stateDir });
  if (options.mode !== 'bridge' && ports.length > 0) {
    throw new NetworkError('invalid', `published ports (-p) need --network bridge, not ${options.mode}`);
  }
  // Host mode holds nothing: no state is written, and release has nothing to do.
  if (options.mode === 'host') return { containerId, mode: 'host', ports: [], release: async () => undefined };
  requireRoot(options.mode);
  checkPortList(ports);

  if (options.mode === 'none') {
    await withState(stateDir, async (st) => {
      claimId(st, containerId);
      st.addEndpoint({ containerId, mode: 'none', netns: netnsPath(containerId), bridge: undefined, ip: undefined, veth: undefined });
    });
    const path = await undoOnFailure(release, () => createNetns(containerId));
    return { containerId, mode: 'none', netnsPath: path, ports: [], release };
  }

  const bridge = options.bridge ?? DEFAULT_BRIDGE;
  if (!validInterfaceName(bridge)) {
    throw new NetworkError('invalid', `invalid bridge name "${bridge}": 1-15 of [A-Za-z0-9_.-]`);
  }
  const asked = options.subnet === undefined ? undefined : parseSubnet(options.subnet);
  const mtu = await uplinkMtu();
  const { ip, subnet } = await withState(stateDir, async (st) => {
    claimId(st, containerId);
    // Without a subnet, an existing bridge keeps the one it was made with.
    const recorded = st.network(bridge)?.subnet;
    const subnet = asked ?? parseSubnet(recorded ?? DEFAULT_SUBNET);
    checkNetwork(st, bridge, subnet);
    await ensureBridge({ bridge, subnet }, stateDir);
    if (st.network(bridge) === undefined) st.addNetwork(bridge, subnet.cidr, gatewayOf(subnet));
    const taken = st.ports();
    for (const p of ports) {
      const owner = taken.find((t) => portsClash(t, p));
      if (owner !== undefined) {
        throw new NetworkError('conflict', `cannot publish ${formatPortMapping(p)}: container ${owner.containerId} already publishes ${formatPortMapping(owner)}`);
      }
      await checkHostPortFree(p);
    }
    const address = allocateAddress(st, bridge, subnet);
    st.addEndpoint({ containerId, mode: 'bridge', netns: netnsPath(containerId), bridge, ip: address, veth: vethName(containerId) });
    for (const p of ports) st.addPort(containerId, p);
    return { ip: address, subnet };
  });
  const gateway = gatewayOf(subnet);
  const path = await undoOnFailure(release, async () => {
    const made = await createNetns(containerId);
    await attachVeth({ containerId, bridge, ip, prefix: subnet.prefix, gateway, mtu });
    await publishPorts(containerId, ip, ports);
    return made;
  });
  return {
    containerId,
    mode: 'bridge',
    netnsPath: path,
    ip: formatIPv4(ip),
    prefixLength: subnet.prefix,
    gateway: formatIPv4(gateway),
    bridge,
    ports,
    release,
  };
}

/**
 * Undoes setupNetwork from the recorded state alone (works after a crash of the process that
 * set it up): DNAT rules, veth, namespace, then the address and port claims. Idempotent; a
 * container without network state is a no-op. The bridge stays for the next container.
 */
export async function releaseNetwork(containerId: string, options: { stateDir?: string } = {}): Promise<void> {
  checkContainerId(containerId);
  const stateDir = options.stateDir ?? DEFAULT_STATE_DIR;
  const found = await withState(stateDir, async (st) => ({ endpoint: st.endpoint(containerId), ports: st.ports(containerId) }));
  const endpoint = found.endpoint;
  if (endpoint === undefined && !existsSync(netnsPath(containerId))) return;
  requireRoot(endpoint?.mode ?? 'none');
  if (endpoint?.ip !== undefined) await unpublishPorts(containerId, endpoint.ip, found.ports);
  if (existsSync(`/sys/class/net/${vethName(containerId)}`)) await detachVeth(containerId);
  await deleteNetns(containerId);
  if (endpoint !== undefined) await withState(stateDir, async (st) => st.removeEndpoint(containerId));
}

/** A container's recorded network, as networkEndpoints lists it. */
export interface EndpointInfo {
  readonly containerId: string;
  readonly mode: NetworkMode;
  readonly netnsPath?: string;
  readonly bridge?: string;
  readonly ip?: string;
  readonly ports: readonly PortMapping[];
}

/** Every container that holds network resources (for `berth ps`, and to find leftovers of removed containers). */
export async function networkEndpoints(options: { stateDir?: string } = {}): Promise<EndpointInfo[]> {
  return withState(options.stateDir ?? DEFAULT_STATE_DIR, async (st) => {
    const ports = st.ports();
    return st.endpoints().map((e) => {
      const own = ports
        .filter((p) => p.containerId === e.containerId)
        .map(({ containerId: _, ...p }): PortMapping => p);
      return {
        containerId: e.containerId,
        mode: e.mode,
        ...(e.netns === undefined ? {} : { netnsPath: e.netns }),
        ...(e.bridge === undefined ? {} : { bridge: e.bridge }),
        ...(e.ip === undefined ? {} : { ip: formatIPv4(e.ip) }),
        ports: own,
      };
    });
  });
}

/**
 * Deletes a bridge network: its rules, the bridge and its record. Refuses while a container
 * still has an address on it.
 */
export async function removeBridgeNetwork(bridge: string, options: { stateDir?: string } = {}): Promise<void> {
  requireRoot('bridge');
  await withState(options.stateDir ?? DEFAULT_STATE_DIR, async (st) => {
    const row = st.network(bridge);
    if (row === undefined) throw new NetworkError('invalid', `no bridge network ${bridge}`);
    const users = st.endpointCount(bridge);
    if (users > 0) throw new NetworkError('conflict', `bridge network ${bridge} is still used by ${users} container(s)`);
    await removeBridge({ bridge, subnet: parseSubnet(row.subnet) });
    st.removeNetwork(bridge);
  });
}

async function undoOnFailure<T>(release: () => Promise<void>, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    try {
      await release();
    } catch (cleanup) {
      throw new NetworkError('failed', `${(error as Error).message} (and cleaning up failed: ${(cleanup as Error).message})`, { cause: error });
    }
    throw error;
  }
}

function claimId(st: NetworkState, containerId: string): void {
  if (st.endpoint(containerId) !== undefined) {
    throw new NetworkError('conflict', `container ${containerId} already has a network; release it first`);
  }
}

function checkPortList(ports: readonly PortMapping[]): void {
  ports.forEach((p, i) => {
    const earlier = ports.slice(0, i).find((o) => portsClash(o, p));
    if (earlier !== undefined) {
      throw new NetworkError('invalid', `published ports ${formatPortMapping(earlier)} and ${formatPortMapping(p)} clash`);
    }
  });
}

/** The bridge keeps the subnet it was made with, and no two bridges share addresses. */
function checkNetwork(st: NetworkState, bridge: string, subnet: Subnet): void {
  for (const row of st.networks()) {
    if (row.bridge === bridge && row.subnet !== subnet.cidr) {
      throw new NetworkError('conflict', `bridge ${bridge} uses subnet ${row.subnet}, not ${subnet.cidr}`);
    }
    if (row.bridge !== bridge && overlaps(parseSubnet(row.subnet), subnet)) {
      throw new NetworkError('conflict', `subnet ${subnet.cidr} overlaps ${row.subnet} of bridge ${row.bridge}`);
    }
  }
}
