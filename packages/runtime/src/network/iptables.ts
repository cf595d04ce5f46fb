import { NetworkError } from './errors.js';
import { mustRun, runTool } from './exec.js';

/**
 * iptables through the `iptables` command, so rules land in whichever backend the host
 * selected (nf_tables or legacy), next to docker's and podman's: a DROP policy they set on
 * FORWARD is then answered by our ACCEPTs in the same table. Berth only ever touches its own
 * chains (BERTH-*) and the one jump rule into each of them; `-w` waits for the xtables lock.
 *
 *   nat    PREROUTING  -m addrtype --dst-type LOCAL -> BERTH-DNAT   published ports (from outside)
 *          OUTPUT      -m addrtype --dst-type LOCAL -> BERTH-DNAT   published ports (from the host,
 *                                                                   127.0.0.1 included)
 *          POSTROUTING                              -> BERTH-POSTROUTING  masquerade per bridge
 *   filter FORWARD (first)                          -> BERTH-FORWARD  accept per bridge
 *          INPUT (first)                            -> BERTH-INPUT    localnet guard per bridge
 */
export type Table = 'nat' | 'filter';

export type Rule = readonly string[];

interface Jump {
  readonly table: Table;
  readonly from: string;
  readonly match: Rule;
  readonly insert: boolean;
}

export const CHAINS: Readonly<Record<string, { table: Table; jumps: readonly Jump[] }>> = {
  'BERTH-DNAT': {
    table: 'nat',
    jumps: [
      { table: 'nat', from: 'PREROUTING', match: ['-m', 'addrtype', '--dst-type', 'LOCAL'], insert: false },
      { table: 'nat', from: 'OUTPUT', match: ['-m', 'addrtype', '--dst-type', 'LOCAL'], insert: false },
    ],
  },
  'BERTH-POSTROUTING': { table: 'nat', jumps: [{ table: 'nat', from: 'POSTROUTING', match: [], insert: false }] },
  'BERTH-FORWARD': { table: 'filter', jumps: [{ table: 'filter', from: 'FORWARD', match: [], insert: true }] },
  'BERTH-INPUT': { table: 'filter', jumps: [{ table: 'filter', from: 'INPUT', match: [], insert: true }] },
};

function iptables(table: Table, args: readonly string[]): string[] {
  return ['-w', '5', '-t', table, ...args];
}

/** Whether the rule is in the chain (false also when the chain does not exist). */
export async function hasRule(table: Table, chain: string, rule: Rule): Promise<boolean> {
  const result = await runTool('iptables', iptables(table, ['-C', chain, ...rule]));
  if (result.code === 0) return true;
  if (result.code === 1) return false;
  throw new NetworkError('failed', `iptables -t ${table} -C ${chain}: ${result.stderr.trim().split('\n')[0] ?? ''}`);
}

/** Adds the rule unless it is there already (appended, or inserted first). */
export async function ensureRule(table: Table, chain: string, rule: Rule, insert = false): Promise<void> {
  if (await hasRule(table, chain, rule)) return;
  await mustRun('iptables', iptables(table, [insert ? '-I' : '-A', chain, ...rule]));
}

export async function appendRule(table: Table, chain: string, rule: Rule): Promise<void> {
  await mustRun('iptables', iptables(table, ['-A', chain, ...rule]));
}

/** Deletes every copy of the rule; a rule or chain that is not there is fine. */
export async function deleteRule(table: Table, chain: string, rule: Rule): Promise<void> {
  for (let i = 0; i < 16 && (await hasRule(table, chain, rule)); i++) {
    await mustRun('iptables', iptables(table, ['-D', chain, ...rule]));
  }
}

/** Creates Berth's chains and the jumps into them, once per boot; leaves them in place after (empty chains cost nothing). */
export async function ensureChains(): Promise<void> {
  for (const [chain, { table, jumps }] of Object.entries(CHAINS)) {
    const made = await runTool('iptables', iptables(table, ['-N', chain]));
    if (made.code !== 0 && !/exists/i.test(made.stderr)) {
      throw new NetworkError('failed', `iptables -t ${table} -N ${chain}: ${made.stderr.trim().split('\n')[0] ?? ''}`);
    }
    for (const jump of jumps) await ensureRule(jump.table, jump.from, [...jump.match, '-j', chain], jump.insert);
  }
}

/** Rule lines (`-A ...` as iptables -S prints them) of one chain; [] when it does not exist. */
export async function listRules(table: Table, chain: string): Promise<string[]> {
  const result = await runTool('iptables', iptables(table, ['-S', chain]));
  if (result.code !== 0) return [];
  return result.stdout.split('\n').filter((line) => line.startsWith('-A '));
}
