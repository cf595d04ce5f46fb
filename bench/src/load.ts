// HTTP load runs: wrk (manifest GET, blob GET, upload) with the lua scripts in
// bench/lua, and bench/native/headload.c for blob HEAD (wrk 4.1.0's response
// parser waits for the Content-Length body after a HEAD response and hangs).
// Both print one "BENCHJSON {...}" line that is parsed here.
import { join } from "node:path";
import { MANIFEST_MEDIA_TYPE } from "./layout.js";
import { UPLOAD_REPO } from "./seed.js";
import type { SeedPaths } from "./seed.js";
import { run, runOk } from "./util/proc.js";

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
  registry: { label: string; host: string; port: number },
  paths: SeedPaths,
  concurrency: number,
  seconds: number,
  warmup: boolean,
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
  const r = await run(cmd, args, {
    env: { ...process.env, BENCH_LUA_DIR: lua, BENCH_UPLOAD_DIR: env.uploadDir, BENCH_UPLOAD_REPO: UPLOAD_REPO },
    timeoutMs: (seconds + 60) * 1000,
  });
  if (r.code !== 0) throw new Error(`${cmd} failed (${r.code ?? r.signal}): ${r.stderr.slice(-1000)} ${r.stdout.slice(-1000)}`);
  const stats = parse(r.stdout);
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
    stats,
    command: `${cmd} ${args.join(" ")}`,
  };
}
