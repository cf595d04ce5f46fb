// Section 2: HTTP load at each concurrency against one registry at a time,
// alternating which registry goes first, with a warm-up per registry and
// endpoint; then VmRSS of each server after the load.
import { ENDPOINTS, runLoad } from "./load.js";
import type { LoadEnv, LoadRun } from "./load.js";
import type { Registry } from "./registries.js";
import { makeRow } from "./report.js";
import type { Row } from "./report.js";
import { readMem } from "./rss.js";
import type { SeedPaths } from "./seed.js";
import { NOISY_CORES } from "./util/quiet.js";
import type { QuietGate } from "./util/quiet.js";
import type { RetryBudget } from "./util/retry.js";

export interface HttpPhase {
  runs: LoadRun[];
  /** every measurement including re-runs that were discarded as more disturbed */
  attempts: LoadRun[];
  rows: Row[];
  rssAfterKiB: Record<string, number>;
  anomalies: string[];
}

function log(msg: string): void {
  process.stderr.write(`[http] ${msg}\n`);
}

export async function runHttpPhase(
  env: LoadEnv,
  regs: readonly [Registry, Registry],
  paths: ReadonlyMap<string, SeedPaths>,
  concurrencies: readonly number[],
  seconds: number,
  warmupSeconds: number,
  gate: QuietGate,
  retries: RetryBudget,
): Promise<HttpPhase> {
  const runs: LoadRun[] = [];
  const attempts: LoadRun[] = [];
  const rows: Row[] = [];
  const anomalies: string[] = [];
  const [A, B] = regs;
  let turn = 0;

  const one = async (ep: (typeof ENDPOINTS)[number], reg: Registry, c: number, secs: number, warm: boolean): Promise<LoadRun> => {
    const p = paths.get(reg.label);
    if (p === undefined) throw new Error(`no seed paths for ${reg.label}`);
    const attempt = async (k: number): Promise<LoadRun> => {
      const q = warm ? { waitedMs: 0, busyCores: Number.NaN, quiet: true } : await gate.before();
      const x = await runLoad(env, ep.id, reg, p, c, secs, warm, q);
      attempts.push(x);
      log(
        `${warm ? "warm-up " : ""}${k > 0 ? `(re-run ${k}) ` : ""}${ep.id} c=${c} ${reg.label}: ${x.opsPerSec.toFixed(0)}/s p50 ${x.p50Ms.toFixed(3)} ms ` +
          `p99 ${x.p99Ms.toFixed(3)} ms, server ${x.serverCores.toFixed(2)} cores, loadgen ${x.loadgenCores.toFixed(2)}, other ${x.otherCores.toFixed(2)}` +
          (x.errors > 0 ? ` ERRORS ${x.errors}` : ""),
      );
      return x;
    };
    const r = warm ? await attempt(0) : await retries.measure(attempt);
    runs.push(r);
    if (r.errors > 0) {
      const s = r.stats;
      anomalies.push(
        `${reg.label}: ${ep.id} c=${c}${warm ? " (warm-up)" : ""}: ${r.errors} errors ` +
          `(connect ${s.err_connect}, read ${s.err_read}, write ${s.err_write}, status ${s.err_status}, timeout ${s.err_timeout}` +
          (s.upload_bad !== undefined ? `, upload bad ${s.upload_bad}, last: ${s.upload_last_bad ?? ""}` : "") +
          `) — ${r.command}`,
      );
    }
    return r;
  };

  for (const ep of ENDPOINTS) {
    if (warmupSeconds > 0) for (const reg of [A, B]) await one(ep, reg, 8, warmupSeconds, true);
    for (const c of concurrencies) {
      const order = turn++ % 2 === 0 ? [A, B] : [B, A];
      const got = new Map<string, LoadRun>();
      for (const reg of order) got.set(reg.label, await one(ep, reg, c, seconds, false));
      const ra = got.get(A.label);
      const rb = got.get(B.label);
      if (ra === undefined || rb === undefined) continue;
      const unit = ep.id === "upload" ? "uploads/s" : "req/s";
      const noisy = [ra, rb].filter((r) => r.otherCores > NOISY_CORES).length;
      const dist = noisy > 0 ? { disturbed: `${noisy}/2 runs disturbed` } : {};
      const tight = (ep.id === "manifest-get" || ep.id === "blob-head") && c === 64;
      rows.push(makeRow("http", `${ep.label} c=${c} throughput`, unit, ra.opsPerSec, rb.opsPerSec, true, tight ? 1.5 : 1.0, dist));
      const per = ep.id === "upload" ? { note: "per request", ...dist } : dist;
      rows.push(makeRow("http", `${ep.label} c=${c} latency p50`, "ms", ra.p50Ms, rb.p50Ms, false, 1.0, per));
      rows.push(makeRow("http", `${ep.label} c=${c} latency p99`, "ms", ra.p99Ms, rb.p99Ms, false, 1.0, per));
    }
  }

  const rssAfterKiB: Record<string, number> = {};
  for (const reg of regs) rssAfterKiB[reg.label] = readMem(reg.pid).rssKiB;
  const a = rssAfterKiB[A.label];
  const b = rssAfterKiB[B.label];
  if (a !== undefined && b !== undefined) rows.push(makeRow("memory", "RSS after the load runs (VmRSS)", "MiB", a / 1024, b / 1024, false, 1.0));
  return { runs, attempts, rows, rssAfterKiB, anomalies };
}
