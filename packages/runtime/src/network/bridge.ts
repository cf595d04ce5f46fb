import { readFile, writeFile } from 'node:fs/promises';
import { NetworkError } from './errors.js';
import { mustRun, runTool } from './exec.js';
import { CHAINS, deleteRule, ensureChains, ensureRule, type Rule, type Table } from './iptables.js';
import { formatIPv4, gatewayOf, overlaps, parseRoutePrefix, type Subnet } from './ipv4.js';

/** A bridge network: the Linux bridge, its address (the containers' gateway) and its subnet. */
export interface BridgeNetwork {
  readonly bridge: string;
  readonly subnet: Subnet;
}

/** Linux interface names: at most 15 bytes, no '/', ':' or whitespace. */
export function validInterfaceName(name: string): boolean {
  return /^[A-Za-z0-9_.-]{1,15}$/.test(name) && name !== '.' && name !== '..';
}

interface NetRule {
  readonly table: Table;
  readonly chain: string;
  readonly rule: Rule;
}

/** The per-bridge rules, each tagged `berth-net:<bridge>`. */
function bridgeRules(net: BridgeNetwork): NetRule[] {
  const { bridge, subnet } = net;
  const tag = ['-m', 'comment', '--comment', `berth-net:${bridge}`];
  return [
    // Out to the world: the container's source address becomes the host's.
    { table: 'nat', chain: 'BERTH-POSTROUTING', rule: ['-s', subnet.cidr, '!', '-o', bridge, ...tag, '-j', 'MASQUERADE'] },
    // 127.0.0.1:hostport DNATed into the bridge (route_localnet is on for it): a 127/8
    // source cannot leave loopback, so it becomes the gateway address.
    { table: 'nat', chain: 'BERTH-POSTROUTING', rule: ['-s', '127.0.0.0/8', '-o', bridge, ...tag, '-j', 'MASQUERADE'] },
    // A container reaching a published port (its own or a neighbour's) through a host
    // address: the reply must come back through the host to be un-DNATed.
    {
      table: 'nat',
      chain: 'BERTH-POSTROUTING',
      rule: ['-s', subnet.cidr, '-o', bridge, '-m', 'conntrack', '--ctstate', 'DNAT', ...tag, '-j', 'MASQUERADE'],
    },
    { table: 'filter', chain: 'BERTH-FORWARD', rule: ['-o', bridge, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'] },
    { table: 'filter', chain: 'BERTH-FORWARD', rule: ['-o', bridge, '-m', 'conntrack', '--ctstate', 'DNAT', ...tag, '-j', 'ACCEPT'] },
    { table: 'filter', chain: 'BERTH-FORWARD', rule: ['-i', bridge, ...tag, '-j', 'ACCEPT'] },
    // route_localnet would also let a container send to 127.0.0.1 through the bridge and
    // reach the host's loopback-only services: refuse new connections that try.
    {
      table: 'filter',
      chain: 'BERTH-INPUT',
      rule: ['-i', bridge, '-d', '127.0.0.0/8', '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'DROP'],
    },
  ];
}

interface LinkInfo {
  readonly ifname: string;
  readonly flags?: readonly string[];
  readonly ifalias?: string;
  readonly linkinfo?: { info_kind?: string };
  readonly addr_info?: readonly { family?: string; local?: string; prefixlen?: number }[];
}

async function linkInfo(name: string): Promise<LinkInfo | undefined> {
  const result = await runTool('ip', ['-j', '-d', 'addr', 'show', 'dev', name]);
  if (result.code !== 0) return undefined;
  const parsed = JSON.parse(result.stdout) as LinkInfo[];
  return parsed[0];
}

/**
 * Refuses a subnet that a host route or interface address already covers (a LAN, docker's or
 * podman's bridge, a link that is down): containers could not reach those addresses, and
 * the host's own routing would change.
 */
export async function checkSubnetFree(net: BridgeNetwork): Promise<void> {
  const taken: { prefix: string; dev: string }[] = [];
  const routes = JSON.parse(await mustRun('ip', ['-j', '-4', 'route', 'show', 'table', 'all'])) as { dst?: string; dev?: string; type?: string }[];
  for (const r of routes) {
    if (r.dst === undefined || r.dst === 'default' || (r.type !== undefined && r.type !== 'unicast')) continue;
    taken.push({ prefix: r.dst, dev: r.dev ?? 'the host' });
  }
  const links = JSON.parse(await mustRun('ip', ['-j', '-4', 'addr', 'show'])) as LinkInfo[];
  for (const link of links) {
    for (const a of link.addr_info ?? []) {
      if (a.local !== undefined && a.prefixlen !== undefined) taken.push({ prefix: `${a.local}/${a.prefixlen}`, dev: link.ifname });
    }
  }
  for (const t of taken) {
    if (t.dev === net.bridge) continue;
    const other = parseRoutePrefix(t.prefix);
    if (other !== undefined && other.prefix > 0 && overlaps(other, net.subnet)) {
      throw new NetworkError('conflict', `subnet ${net.subnet.cidr} overlaps ${other.cidr} on ${t.dev}; choose another subnet`);
    }
  }
}

/**
 * Makes the bridge exist, up, with the gateway address, forwarding on, and its rules in
 * place. Idempotent; callers hold the state lock so two berths never race on it.
 *
 * The bridge's alias names the state directory that leases its addresses
 * (`berth:<stateDir>`): two state directories handing out addresses on one bridge would give
 * two containers the same address, so a second one is refused.
 */
export async function ensureBridge(net: BridgeNetwork, stateDir: string): Promise<void> {
  const owner = `berth:${stateDir}`;
  const gateway = `${formatIPv4(gatewayOf(net.subnet))}`;
  let info = await linkInfo(net.bridge);
  if (info === undefined) {
    await checkSubnetFree(net);
    const made = await runTool('ip', ['link', 'add', 'name', net.bridge, 'type', 'bridge']);
    if (made.code !== 0 && !/exists/i.test(made.stderr)) {
      throw new NetworkError('failed', `ip link add ${net.bridge} type bridge: ${made.stderr.trim()}`);
    }
    info = await linkInfo(net.bridge);
  }
  if (info?.linkinfo?.info_kind !== 'bridge') {
    throw new NetworkError('conflict', `interface ${net.bridge} exists and is not a bridge; choose another bridge name`);
  }
  if (info.ifalias !== undefined && info.ifalias !== '' && info.ifalias !== owner) {
    throw new NetworkError('conflict', `bridge ${net.bridge} is managed by another network state (${info.ifalias}); choose another bridge name`);
  }
  if (info.ifalias !== owner) await mustRun('ip', ['link', 'set', 'dev', net.bridge, 'alias', owner]);
  const v4 = (info.addr_info ?? []).filter((a) => a.family === 'inet');
  const foreign = v4.find((a) => a.local !== gateway || a.prefixlen !== net.subnet.prefix);
  if (foreign !== undefined) {
    throw new NetworkError('conflict', `bridge ${net.bridge} has address ${foreign.local ?? '?'}/${foreign.prefixlen ?? '?'}, not ${gateway}/${net.subnet.prefix}; choose another bridge name or subnet`);
  }
  if (v4.length === 0) await mustRun('ip', ['addr', 'add', `${gateway}/${net.subnet.prefix}`, 'dev', net.bridge]);
  if (!(info.flags ?? []).includes('UP')) await mustRun('ip', ['link', 'set', 'dev', net.bridge, 'up']);
  // 127.0.0.1:hostport is DNATed to a container on this bridge: the kernel must route 127/8
  // out of it (the same switch CNI's portmap and kube-proxy set; the INPUT guard above
  // closes the door it would otherwise open).
  await writeFile(`/proc/sys/net/ipv4/conf/${net.bridge}/route_localnet`, '1');
  // Containers reach the outside world through the host (docker and podman turn this on too).
  if ((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim() !== '1') {
    await writeFile('/proc/sys/net/ipv4/ip_forward', '1');
  }
  if (await rulesInPlace(net)) return;
  await ensureChains();
  for (const r of bridgeRules(net)) await ensureRule(r.table, r.chain, r.rule);
}

/**
 * The fast path of every run after the first: two iptables-save calls instead of a dozen
 * checks. True when every jump into Berth's chains and every rule of this bridge (counted by
 * its comment) is present.
 */
async function rulesInPlace(net: BridgeNetwork): Promise<boolean> {
  const tag = `"berth-net:${net.bridge}"`;
  const expected = bridgeRules(net);
  for (const table of ['nat', 'filter'] as const) {
    const lines = (await mustRun('iptables-save', ['-t', table])).split('\n');
    for (const [chain, def] of Object.entries(CHAINS)) {
      for (const jump of def.jumps.filter((j) => j.table === table)) {
        const want = ['-A', jump.from, ...jump.match, '-j', chain].join(' ');
        if (!lines.includes(want)) return false;
      }
    }
    const have = lines.filter((l) => l.includes(tag)).length;
    if (have !== expected.filter((r) => r.table === table).length) return false;
  }
  return true;
}

/** Deletes the bridge's rules and the bridge itself (whatever is left of them). */
export async function removeBridge(net: BridgeNetwork): Promise<void> {
  for (const r of bridgeRules(net)) await deleteRule(r.table, r.chain, r.rule);
  const result = await runTool('ip', ['link', 'del', 'dev', net.bridge]);
  if (result.code !== 0 && (await linkInfo(net.bridge)) !== undefined) {
    throw new NetworkError('failed', `ip link del ${net.bridge}: ${result.stderr.trim()}`);
  }
}

/** The MTU of the interface holding the default route (1500 without one): a bridge MTU above the uplink's breaks large packets. */
export async function uplinkMtu(): Promise<number> {
  const out = await mustRun('ip', ['-j', '-4', 'route', 'show', 'default']);
  const routes = JSON.parse(out) as { dev?: string }[];
  const dev = routes[0]?.dev;
  if (dev === undefined) return 1500;
  const mtu = Number((await readFile(`/sys/class/net/${dev}/mtu`, 'utf8').catch(() => '1500')).trim());
  return Number.isInteger(mtu) && mtu >= 576 && mtu <= 1500 ? mtu : 1500;
}
