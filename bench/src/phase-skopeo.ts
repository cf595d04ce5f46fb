// Section 1: skopeo push/pull of the three images against both registries,
// alternating which registry goes first, plus the peak RSS of each server
// during the 512 MiB pushes.
import { TAG } from "./layout.js";
import type { Layout } from "./layout.js";
import type { Registry } from "./registries.js";
import { makeRow } from "./report.js";
import type { Row } from "./report.js";
import { cpus } from "node:os";
import { cpuSeconds, cpuSplit, readMem, reapedChildrenCpuSeconds, resetPeak, RssSampler, systemCpu } from "./rss.js";
import type { Skopeo, SkopeoRun } from "./skopeo.js";
import { describe, header, http } from "./util/net.js";
import { run } from "./util/proc.js";
import { NOISY_CORES } from "./util/quiet.js";
import type { QuietGate } from "./util/quiet.js";
import type { RetryBudget } from "./util/retry.js";
import { median } from "./util/stats.js";

export interface PeakRss {
  registry: string;
  pid: number;
  hwmResetOk: boolean;
  /** VmHWM of the server PID after the 512 MiB pushes (reset just before them) */
  hwmKiB: number;
  /** sampled VmRSS maxima (100 ms), server PID alone and with descendants */
  sampledPeakKiB: number;
  sampledTreePeakKiB: number;
  childPids: number[];
}

export interface SkopeoPhase {
  runs: SkopeoRun[];
  /** every measurement including re-runs that were discarded as more disturbed */
  attempts: SkopeoRun[];
  rows: Row[];
  peakRss: PeakRss[];
  anomalies: string[];
}

function log(msg: string): void {
  process.stderr.write(`[skopeo] ${msg}\n`);
}

async function checkTag(reg: Registry, repo: string, layout: Layout): Promise<string | undefined> {
  const req = {
    method: "GET",
    url: `http://${reg.host}/v2/${repo}/manifests/${TAG}`,
    headers: { Accept: layout.manifest.mediaType },
  };
  const res = await http(req);
  if (res.status !== 200 || header(res, "docker-content-digest") !== layout.manifest.digest) {
    return `${reg.label}: after push, ${describe(req, res)}`;
  }
  return undefined;
}

export async function runSkopeoPhase(
  regs: readonly [Registry, Registry],
  layouts: readonly Layout[],
  skopeo: Skopeo,
  runsSmall: number,
  runsBig: number,
  gate: QuietGate,
  retries: RetryBudget,
): Promise<SkopeoPhase> {
  const all: SkopeoRun[] = [];
  const attempts: SkopeoRun[] = [];
  const rows: Row[] = [];
  const peakRss: PeakRss[] = [];
  const anomalies: string[] = [];
  const [A, B] = regs;

  for (const layout of layouts) {
    const id = layout.spec.id;
    const big = id === "big512";
    const n = big ? runsBig : runsSmall;
    const samplers = big ? regs.map((r) => new RssSampler(r.pid)) : [];
    const resets = big ? regs.map((r) => resetPeak(r.pid)) : [];
    for (const s of samplers) s.start();
    const firstRepo = new Map<string, string>();

    for (const op of ["push", "pull"] as const) {
      for (let i = 0; i < n; i++) {
        const order = i % 2 === 0 ? [A, B] : [B, A];
        for (const reg of order) {
          const measureOnce = async (attempt: number): Promise<SkopeoRun> => {
            // every push attempt goes to a repo never used before, so nothing is skipped
            const repo = op === "push" ? `bench/${id}-${i}${attempt > 0 ? `-retry${attempt}` : ""}` : (firstRepo.get(reg.label) ?? "");
            const q = await gate.before();
            const at = new Date().toISOString();
            const cpu0 = cpuSeconds(reg.pid);
            const split0 = cpuSplit(reg.pid);
            const sys0 = systemCpu();
            const gen0 = reapedChildrenCpuSeconds();
            const self0 = process.cpuUsage();
            const r = op === "push" ? await skopeo.push(layout, reg.host, reg.label, repo) : await skopeo.pull(layout, reg.host, reg.label, repo);
            r.serverCpuSec = cpuSeconds(reg.pid) - cpu0;
            const split1 = cpuSplit(reg.pid);
            r.serverUserSec = split1.user - split0.user;
            r.serverSysSec = split1.sys - split0.sys;
            const sys1 = systemCpu();
            const self = process.cpuUsage(self0);
            r.skopeoCpuSec = reapedChildrenCpuSeconds() - gen0;
            const wall = (sys1.total - sys0.total) / cpus().length;
            const other = sys1.busy - sys0.busy - r.serverCpuSec - r.skopeoCpuSec - (self.user + self.system) / 1e6;
            r.otherCores = wall > 0 ? Math.max(0, other / wall) : 0;
            r.quietWaitMs = q.waitedMs;
            r.busyBefore = q.busyCores;
            r.at = at;
            attempts.push(r);
            log(
              `${op} ${id} #${i + 1}/${n}${attempt > 0 ? ` (re-run ${attempt})` : ""} ${reg.label}: ${r.ok ? `${r.seconds.toFixed(3)} s` : "FAILED"}, ` +
                `server cpu ${r.serverCpuSec.toFixed(2)} s, skopeo cpu ${r.skopeoCpuSec.toFixed(2)} s, other ${r.otherCores.toFixed(2)} cores`,
            );
            if (op === "push" && r.ok) {
              if (!firstRepo.has(reg.label)) firstRepo.set(reg.label, repo);
              const bad = await checkTag(reg, repo, layout);
              if (bad !== undefined) anomalies.push(bad);
            }
            // flush dirty pages (untimed) so one run's writeback does not land in the next
            await run("sync", []);
            return r;
          };
          const r = await retries.measure(measureOnce);
          all.push(r);
          if (!r.ok) anomalies.push(`${reg.label}: skopeo ${op} ${id} to ${r.repo} failed: ${r.error ?? ""}`);
          if (r.skipped > 0) anomalies.push(`${reg.label}: skopeo ${op} ${id} skipped ${r.skipped} blob(s) as already present`);
        }
      }
      if (big && op === "push") {
        regs.forEach((reg, k) => {
          const sampled = samplers[k]?.stop();
          peakRss.push({
            registry: reg.label,
            pid: reg.pid,
            hwmResetOk: resets[k] ?? false,
            hwmKiB: readMem(reg.pid).hwmKiB,
            sampledPeakKiB: sampled?.peakMainKiB ?? Number.NaN,
            sampledTreePeakKiB: sampled?.peakTreeKiB ?? Number.NaN,
            childPids: sampled?.childPids ?? [],
          });
        });
      }
      const these = all.filter((r) => r.image === id && r.op === op);
      const med = (label: string): number => median(these.filter((r) => r.registry === label && r.ok).map((r) => r.seconds));
      const noisy = these.filter((r) => (r.otherCores ?? 0) > NOISY_CORES).length;
      rows.push(
        makeRow("skopeo", `skopeo ${op} ${layout.spec.label}`, "s", med(A.label), med(B.label), false, big ? 1.2 : 1.0, {
          note: `median of ${n}`,
          ...(noisy > 0 ? { disturbed: `${noisy}/${these.length} runs disturbed` } : {}),
        }),
      );
    }
  }

  const big = peakRss.length === 2 ? peakRss : undefined;
  if (big !== undefined) {
    const [pa, pb] = big;
    if (pa !== undefined && pb !== undefined) {
      const mib = (k: number): number => k / 1024;
      rows.push(makeRow("memory", "peak RSS during 512 MiB pushes (VmHWM)", "MiB", mib(pa.hwmKiB), mib(pb.hwmKiB), false, 1.0));
      rows.push(
        makeRow("memory", `${A.label} peak RSS during 512 MiB push, absolute`, "MiB", mib(Math.max(pa.hwmKiB, pa.sampledTreePeakKiB)), mib(pb.hwmKiB), false, 0, {
          maxA: 200,
        }),
      );
    }
  }
  return { runs: all, attempts, rows, peakRss, anomalies };
}
