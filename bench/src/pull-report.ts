// Tables and targets of the pull benchmark. Ratios are "other tool's median / berth's
// median": > 1 means berth is faster.
import type { PullRun } from "./pull-measure.js";
import { NOISY_CORES } from "./util/quiet.js";
import { median } from "./util/stats.js";

export const TARGETS = { vsSkopeo: 1.25, bigRssMiB: 150, noopMs: 150 } as const;

export interface Check {
  what: string;
  value: string;
  pass: boolean;
}

const ok = (runs: readonly PullRun[]): PullRun[] => runs.filter((r) => r.ok);
const med = (runs: readonly PullRun[], f: (r: PullRun) => number): number => median(ok(runs).map(f));
const s = (ms: number): string => (Number.isFinite(ms) ? (ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`) : "n/a");
const mib = (kib: number): string => (Number.isFinite(kib) ? `${(kib / 1024).toFixed(0)} MiB` : "n/a");

function select(runs: readonly PullRun[], registry: string, image: string, tool: string, kind: PullRun["kind"]): PullRun[] {
  return runs.filter((r) => r.registry === registry && r.image === image && r.tool === tool && r.kind === kind);
}

/** One table per registry: a row per image and tool, cold pulls. */
export function coldTable(runs: readonly PullRun[], registry: string, images: readonly { id: string; label: string }[], tools: readonly { id: string; label: string }[]): string {
  const lines = [
    "| image | client | median | min – max | runs | berth faster by | CPU user+sys (median) | peak RSS (median) | disturbed |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const img of images) {
    const berth = med(select(runs, registry, img.id, "berth", "cold"), (r) => r.ms);
    for (const t of tools) {
      const rs = select(runs, registry, img.id, t.id, "cold");
      const good = ok(rs);
      if (rs.length === 0) continue;
      const m = med(rs, (r) => r.ms);
      const times = good.map((r) => r.ms);
      const noisy = rs.filter((r) => r.otherCores > NOISY_CORES).length;
      const failed = rs.length - good.length;
      lines.push(
        `| ${img.label} | ${t.label} | ${s(m)} | ${times.length > 0 ? `${s(Math.min(...times))} – ${s(Math.max(...times))}` : "n/a"} | ${good.length}${failed > 0 ? ` (+${failed} failed)` : ""} | ` +
          `${t.id === "berth" ? "—" : `${(m / berth).toFixed(2)}×`} | ${s(med(rs, (r) => r.clientCpuSec * 1000))} | ${mib(med(rs, (r) => r.rssKiB))} | ${noisy > 0 ? `${noisy}/${rs.length}` : ""} |`,
      );
    }
  }
  return lines.join("\n");
}

/** Second pull of a present image: berth with and without NODE_EXTRA_CA_CERTS, docker and podman for context. */
export function noopTable(runs: readonly PullRun[], registry: string, images: readonly { id: string; label: string }[]): string {
  const lines = ["| image | client | median | min – max | runs | CPU user+sys (median) | peak RSS |", "| --- | --- | ---: | ---: | ---: | ---: | ---: |"];
  const variants: [string, PullRun["kind"], string][] = [
    ["berth", "noop", "berth pull (NODE_EXTRA_CA_CERTS set, as on this machine)"],
    ["berth", "noop-no-extra-ca", "berth pull (NODE_EXTRA_CA_CERTS unset)"],
    ["node", "noop", "floor: node -e 0 (NODE_EXTRA_CA_CERTS set)"],
    ["node", "noop-no-extra-ca", "floor: node -e 0 (NODE_EXTRA_CA_CERTS unset)"],
    ["docker", "noop", "docker pull"],
    ["podman", "noop", "podman pull"],
  ];
  for (const img of images) {
    for (const [tool, kind, label] of variants) {
      const rs = ok(select(runs, registry, img.id, tool, kind));
      if (rs.length === 0) continue;
      const t = rs.map((r) => r.ms);
      lines.push(`| ${img.label} | ${label} | ${s(median(t))} | ${s(Math.min(...t))} – ${s(Math.max(...t))} | ${rs.length} | ${s(median(rs.map((r) => r.clientCpuSec * 1000)))} | ${mib(median(rs.map((r) => r.rssKiB)))} |`);
    }
  }
  return lines.join("\n");
}

export function checks(runs: readonly PullRun[], registry: string, images: readonly { id: string; label: string }[]): Check[] {
  const out: Check[] = [];
  for (const img of images) {
    const b = med(select(runs, registry, img.id, "berth", "cold"), (r) => r.ms);
    const k = med(select(runs, registry, img.id, "skopeo-oci", "cold"), (r) => r.ms);
    const ratio = k / b;
    out.push({ what: `berth ≥ ${TARGETS.vsSkopeo}× faster than skopeo (oci:), ${img.label}`, value: `${ratio.toFixed(2)}× (${s(b)} vs ${s(k)})`, pass: ratio >= TARGETS.vsSkopeo });
  }
  const big = select(runs, registry, "big512", "berth", "cold");
  if (big.length > 0) {
    const peak = Math.max(...ok(big).map((r) => r.rssKiB));
    out.push({ what: `berth peak RSS < ${TARGETS.bigRssMiB} MiB pulling the 512 MiB layer (worst run)`, value: mib(peak), pass: peak / 1024 < TARGETS.bigRssMiB });
  }
  for (const kind of ["noop", "noop-no-extra-ca"] as const) {
    const all = runs.filter((r) => r.registry === registry && r.tool === "berth" && r.kind === kind);
    if (all.length === 0) continue;
    const m = med(all, (r) => r.ms);
    out.push({ what: `berth no-op pull < ${TARGETS.noopMs} ms${kind === "noop" ? " (NODE_EXTRA_CA_CERTS set)" : " (NODE_EXTRA_CA_CERTS unset)"}, median over all images`, value: s(m), pass: m < TARGETS.noopMs });
  }
  return out;
}

export function checksTable(cs: readonly Check[]): string {
  return ["| target | measured | |", "| --- | ---: | --- |", ...cs.map((c) => `| ${c.what} | ${c.value} | ${c.pass ? "PASS" : "FAIL"} |`)].join("\n");
}
