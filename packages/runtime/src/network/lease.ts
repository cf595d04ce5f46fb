import { NetworkError } from './errors.js';
import { hostRange, type Subnet } from './ipv4.js';
import type { NetworkState } from './state.js';

/**
 * The next free address after the last one handed out (wrapping), so a released address is
 * reused as late as possible (stale ARP and conntrack entries age out meanwhile).
 */
export function allocateAddress(st: NetworkState, bridge: string, subnet: Subnet): number {
  const { first, last } = hostRange(subnet);
  const used = st.usedIps(bridge);
  const lastIp = st.network(bridge)?.lastIp ?? first - 1;
  const size = last - first + 1;
  const start = lastIp >= first && lastIp <= last ? lastIp - first + 1 : 0;
  for (let i = 0; i < size; i++) {
    const candidate = first + ((start + i) % size);
    if (!used.has(candidate)) {
      st.setLastIp(bridge, candidate);
      return candidate;
    }
  }
  throw new NetworkError('conflict', `no free address left in ${subnet.cidr} on bridge ${bridge} (${size} containers)`);
}
