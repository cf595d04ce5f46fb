// One timed pull: wall time of the client process (spawn to exit), its peak RSS
// (/usr/bin/time %M = the kernel's maxrss of the process and its waited-for
// children), and how busy the rest of the machine was meanwhile (noise).
import { readFileSync, readdirSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { cpus } from "node:os";
import { join } from "node:path";
import { cpuSeconds, descendants, reapedChildrenCpuSeconds, systemCpu } from "./rss.js";
import type { Timed } from "./pull-tools.js";
import { run } from "./util/proc.js";

export type PullKind = "cold" | "noop" | "noop-no-extra-ca";

export interface PullRun {
  registry: string;
  image: string;
  tool: string;
  kind: PullKind;
  ok: boolean;
  ms: number;
  /** peak RSS of the client process in KiB (docker: the CLI only; the daemon does the work) */
  rssKiB: number;
  /** CPU seconds of the client (and, for docker, the daemon) and of the registry */
  clientCpuSec: number;
  registryCpuSec: number;
  /** cores used by everything else on the machine during the run */
  otherCores: number;
  at: string;
  error?: string;
}

/** PIDs whose CPU is part of the measured work besides the client itself (registry, dockerd tree). */
export interface Accounted {
  registryPid: number;
  daemonPids: () => number[];
}

/** dockerd serving `socket`, and its descendants (containerd, shims); only read, never signalled. */
export function dockerdPids(socket: string): number[] {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, "utf8");
      if (cmd.startsWith("dockerd\0") && cmd.includes(socket)) return [Number(name), ...descendants(Number(name))];
    } catch {
      // gone
    }
  }
  return [];
}

const sum = (pids: readonly number[]): number => pids.reduce((n, p) => n + (Number.isFinite(cpuSeconds(p)) ? cpuSeconds(p) : 0), 0);

export async function timedPull(
  t: Timed,
  meta: { registry: string; image: string; tool: string; kind: PullKind },
  acc: Accounted,
  scratch: string,
): Promise<PullRun> {
  const rssFile = join(scratch, `rss-${process.pid}-${Date.now()}.txt`);
  const daemons = acc.daemonPids();
  const at = new Date().toISOString();
  const sys0 = systemCpu();
  const kids0 = reapedChildrenCpuSeconds();
  const self0 = process.cpuUsage();
  const reg0 = cpuSeconds(acc.registryPid);
  const d0 = sum(daemons);
  const r = await run("/usr/bin/time", ["-f", "%M", "-o", rssFile, t.cmd, ...t.args], { env: t.env, timeoutMs: 900_000, maxOutput: 20_000 });
  const sys1 = systemCpu();
  const registryCpuSec = cpuSeconds(acc.registryPid) - reg0;
  const clientCpuSec = reapedChildrenCpuSeconds() - kids0 + (sum(daemons) - d0);
  const self = process.cpuUsage(self0);
  const wall = (sys1.total - sys0.total) / cpus().length;
  const other = sys1.busy - sys0.busy - clientCpuSec - registryCpuSec - (self.user + self.system) / 1e6;
  let rssKiB = Number.NaN;
  try {
    const text = (await readFile(rssFile, "utf8")).trim().split("\n");
    rssKiB = Number(text[text.length - 1]);
  } catch {
    // time(1) did not write it
  }
  await rm(rssFile, { force: true });
  const run1: PullRun = {
    ...meta,
    ok: r.code === 0,
    ms: r.ms,
    rssKiB,
    clientCpuSec,
    registryCpuSec,
    otherCores: wall > 0 ? Math.max(0, other / wall) : 0,
    at,
  };
  if (r.code !== 0) run1.error = `exit ${r.code ?? r.signal}: ${`${r.stderr}\n${r.stdout}`.trim().slice(-1500)}`;
  return run1;
}
