// HTTP load runs: wrk (manifest GET, blob GET, upload) with the lua scripts in
// bench/lua, and bench/native/headload.c for blob HEAD (wrk 4.1.0's response
// parser waits for the Content-Length body after a HEAD response and hangs).
// Both print one "BENCHJSON {...}" line that is parsed here.
import { join } from "node:path";
import { MANIFEST_MEDIA_TYPE } from "./layout.js";
import { UPLOAD_REPO } from "./seed.js";
import type { SeedPaths } from "./seed.js";
import { cpus } from "node:os";
import { cpuSeconds, reapedChildrenCpuSeconds, systemCpu } from "./rss.js";
import { run, runOk } from "./util/proc.js";
import type { QuietResult } from "./util/quiet.js";

export type Endpoint = "manifest-get" | "blob-head" | "blob-get" | "upload";

export const ENDPOINTS: readonly { id: Endpoint; label: string }[] = [
  { id: "manifest-get", label: "manifest GET by tag" },
  { id: "blob-head", label: "blob HEAD" },
  { id: "blob-get", label: "1 MiB blob GET" },
  { id: "upload", label: "1 MiB upload (POST+PUT)" },
];

export interface LoadStats {
  requests: number;
  duration_us: number;
  bytes: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  mean_us: number;
  max_us: number;
  err_connect: number;
  err_read: number;
  err_write: number;
  err_status: number;
  err_timeout: number;
  uploads_created?: number;
  uploads_started?: number;
  upload_bad?: number;
  upload_last_bad?: string;
}

export interface LoadRun {
  endpoint: Endpoint;
  registry: string;
  concurrency: number;
  threads: number;
  seconds: number;
  tool: "wrk" | "headload";
  warmup: boolean;
  /** operations per second: requests/s, or completed uploads/s for "upload" */
  opsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  /** CPU seconds the server process used during the run, and as cores busy (cpu s / wall s) */
  serverCpuSec: number;
  serverCores: number;
  /** cores used by the load generator, and by everything else on the machine (noise) */
  loadgenCores: number;
  otherCores: number;
  quietWaitMs: number;
  busyBefore: number;
  /** ISO time the run started, to match server log lines */
  at: string;
  /** how many times it was measured (re-measured when disturbed; the least disturbed is kept) */
  attempts?: number;
  stats: LoadStats;
  command: string;
}

export interface LoadEnv {
  benchDir: string;
  workDir: string;
  headloadBin: string;
  uploadDir: string;
}

export async function buildHeadload(benchDir: string, out: string): Promise<void> {
  await runOk("gcc", ["-O2", "-pthread", "-o", out, join(benchDir, "native", "headload.c")]);
}

function parse(stdout: string): LoadStats {
  const line = stdout.split("\n").find((l) => l.startsWith("BENCHJSON "));
  if (line === undefined) throw new Error(`no BENCHJSON line in output:\n${stdout.slice(-2000)}`);
  return JSON.parse(line.slice("BENCHJSON ".length)) as LoadStats;
}

export async function runLoad(
  env: LoadEnv,
  endpoint: Endpoint,
  registry: { label: string; host: string; port: number; pid: number },
  paths: SeedPaths,
  concurrency: number,
  seconds: number,
  warmup: boolean,
  quiet: QuietResult,
): Promise<LoadRun> {
  const threads = Math.min(2, concurrency);
  const lua = join(env.benchDir, "lua");
  let cmd: string;
  let args: string[];
  if (endpoint === "blob-head") {
    cmd = env.headloadBin;
    args = ["127.0.0.1", String(registry.port), paths.blobPath, String(threads), String(concurrency), String(seconds), "HEAD"];
  } else {
    cmd = "wrk";
    args = ["-t", String(threads), "-c", String(concurrency), "-d", `${seconds}s`, "--timeout", "10s"];
    if (endpoint === "manifest-get") {
      args.push("-s", join(lua, "get.lua"), "-H", `Accept: ${MANIFEST_MEDIA_TYPE}`, `http://${registry.host}${paths.manifestPath}`);
    } else if (endpoint === "blob-get") {
      args.push("-s", join(lua, "get.lua"), `http://${registry.host}${paths.blobPath}`);
    } else {
      args.push("-s", join(lua, "upload.lua"), `http://${registry.host}/v2/`);
    }
  }
  const at = new Date().toISOString();
  const cpu0 = cpuSeconds(registry.pid);
  const sys0 = systemCpu();
  const gen0 = reapedChildrenCpuSeconds();
  const self0 = process.cpuUsage();
  const r = await run(cmd, args, {
    env: { ...process.env, BENCH_LUA_DIR: lua, BENCH_UPLOAD_DIR: env.uploadDir, BENCH_UPLOAD_REPO: UPLOAD_REPO },
    timeoutMs: (seconds + 60) * 1000,
  });
  if (r.code !== 0) throw new Error(`${cmd} failed (${r.code ?? r.signal}): ${r.stderr.slice(-1000)} ${r.stdout.slice(-1000)}`);
  const stats = parse(r.stdout);
  const serverCpuSec = cpuSeconds(registry.pid) - cpu0;
  const sys1 = systemCpu();
  const genSec = reapedChildrenCpuSeconds() - gen0;
  const self = process.cpuUsage(self0);
  const wall = sys1.total - sys0.total > 0 ? (sys1.total - sys0.total) / cpus().length : stats.duration_us / 1e6;
  const machineSec = sys1.busy - sys0.busy;
  const otherSec = machineSec - serverCpuSec - genSec - (self.user + self.system) / 1e6;
  const secs = stats.duration_us / 1e6;
  const ops = endpoint === "upload" ? (stats.uploads_created ?? 0) : stats.requests;
  const errors =
    stats.err_connect + stats.err_read + stats.err_write + stats.err_status + stats.err_timeout + (stats.upload_bad ?? 0);
  return {
    endpoint,
    registry: registry.label,
    concurrency,
    threads,
    seconds,
    tool: cmd === "wrk" ? "wrk" : "headload",
    warmup,
    opsPerSec: secs > 0 ? ops / secs : 0,
    p50Ms: stats.p50_us / 1000,
    p99Ms: stats.p99_us / 1000,
    errors,
    serverCpuSec,
    serverCores: secs > 0 ? serverCpuSec / secs : 0,
    loadgenCores: genSec / wall,
    otherCores: Math.max(0, otherSec / wall),
    quietWaitMs: quiet.waitedMs,
    busyBefore: quiet.busyCores,
    at,
    stats,
    command: `${cmd} ${args.join(" ")}`,
  };
}
