// Section 1: skopeo push/pull of the three images against both registries,
// alternating which registry goes first, plus the peak RSS of each server
// during the 512 MiB pushes.
import { TAG } from "./layout.js";
import type { Layout } from "./layout.js";
import type { Registry } from "./registries.js";
import { makeRow } from "./report.js";
import type { Row } from "./report.js";
import { readMem, resetPeak, RssSampler } from "./rss.js";
import type { Skopeo, SkopeoRun } from "./skopeo.js";
import { describe, header, http } from "./util/net.js";
import { run } from "./util/proc.js";
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
): Promise<SkopeoPhase> {
  const all: SkopeoRun[] = [];
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

    for (const op of ["push", "pull"] as const) {
      for (let i = 0; i < n; i++) {
        const order = i % 2 === 0 ? [A, B] : [B, A];
        for (const reg of order) {
          const repo = op === "push" ? `bench/${id}-${i}` : `bench/${id}-0`;
          const r = op === "push" ? await skopeo.push(layout, reg.host, reg.label, repo) : await skopeo.pull(layout, reg.host, reg.label, repo);
          all.push(r);
          log(`${op} ${id} #${i + 1}/${n} ${reg.label}: ${r.ok ? `${r.seconds.toFixed(3)} s` : "FAILED"}`);
          if (!r.ok) anomalies.push(`${reg.label}: skopeo ${op} ${id} to ${repo} failed: ${r.error ?? ""}`);
          if (r.skipped > 0) anomalies.push(`${reg.label}: skopeo ${op} ${id} skipped ${r.skipped} blob(s) as already present`);
          if (op === "push" && r.ok) {
            const bad = await checkTag(reg, repo, layout);
            if (bad !== undefined) anomalies.push(bad);
          }
          // flush dirty pages (untimed) so one run's writeback does not land in the next
          await run("sync", []);
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
      const med = (label: string): number =>
        median(all.filter((r) => r.image === id && r.op === op && r.registry === label && r.ok).map((r) => r.seconds));
      rows.push(
        makeRow("skopeo", `skopeo ${op} ${layout.spec.label}`, "s", med(A.label), med(B.label), false, big ? 1.2 : 1.0, {
          note: `median of ${n}`,
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
  return { runs: all, rows, peakRss, anomalies };
}
