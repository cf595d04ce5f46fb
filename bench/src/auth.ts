// Token-auth overhead: manifest GET by tag at c=64 (wrk, 2 threads), Berth without
// auth vs Berth in token mode (same config otherwise), and Distribution 2.8 without
// auth vs in token mode, verifying tokens from Berth's built-in token endpoint
// (rootcertbundle: a self-signed certificate of Berth's signing key, made with
// openssl; Distribution finds the key by the libtrust kid Berth puts in its tokens).
// Target: Berth with token auth keeps >= 80% of its no-auth throughput.
//   npm run build && node bench/dist/src/auth.js [--seconds 10] [--runs 3]
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MANIFEST_MEDIA_TYPE } from "./layout.js";
import { BERTH_MAIN, DISTRIBUTION_BIN, distributionConfig, tail } from "./registries.js";
import { makeSeedContent, seedRegistry } from "./seed.js";
import type { SeedPaths } from "./seed.js";
import { freePort, http } from "./util/net.js";
import { killAllSync, run, runOk, stopChild, track } from "./util/proc.js";
import { waitQuiet } from "./util/quiet.js";

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = resolve(here, "..", "..");
const repoRoot = resolve(benchDir, "..");
const SERVICE = "berth-bench";
const ISSUER = "berth-bench-issuer";
const RULES = JSON.stringify({ access: [{ repository: "**", anonymous: true, actions: ["pull"] }] });

interface Server {
  label: string;
  host: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  return Number.isFinite(v) && v > 0 ? v : def;
}

async function launch(label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, dir: string, port: number): Promise<Server> {
  const logFile = join(dir, `${label.replace(/[^a-z0-9]+/gi, "_")}.log`);
  const fd = openSync(logFile, "a");
  const child = spawn(cmd, args, { cwd: repoRoot, env, stdio: ["ignore", fd, fd] });
  closeSync(fd);
  track(child);
  if (child.pid === undefined) throw new Error(`cannot start ${label}`);
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${label} exited:\n${await tail(logFile)}`);
    try {
      const s = (await http({ method: "GET", url: `http://${host}/v2/`, timeoutMs: 1000 })).status;
      if (s === 200 || s === 401) break;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`${label} not ready:\n${await tail(logFile)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return { label, host, pid: child.pid, child, logFile };
}

function berth(label: string, dir: string, port: number, auth: boolean): Promise<Server> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    BERTH_HTTP_ADDR: `127.0.0.1:${port}`,
    BERTH_DATA_DIR: join(dir, "berth-data"),
    BERTH_LOG_LEVEL: "error",
    BERTH_LOG_REQUESTS: "false",
  };
  if (auth) {
    Object.assign(env, {
      BERTH_AUTH_MODE: "token",
      BERTH_AUTH_SERVICE: SERVICE,
      BERTH_AUTH_ISSUER: ISSUER,
      BERTH_AUTH_RULES: RULES,
      BERTH_AUTH_TOKENEXPIRY: "1h",
    });
  }
  return launch(label, process.execPath, [join(repoRoot, BERTH_MAIN), "serve"], env, dir, port);
}

async function distribution(label: string, dir: string, port: number, token?: { realm: string; certs: string }): Promise<Server> {
  const auth = token === undefined
    ? []
    : ["auth:", "  token:", `    realm: ${token.realm}`, `    service: ${SERVICE}`, `    issuer: ${ISSUER}`, `    rootcertbundle: ${token.certs}`];
  const cfg = join(dir, `${label.replace(/[^a-z0-9]+/gi, "_")}.yml`);
  await writeFile(cfg, distributionConfig(join(dir, "distribution-data"), port, auth));
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("REGISTRY_")) delete env[k];
  return launch(label, DISTRIBUTION_BIN, ["serve", cfg], env, dir, port);
}

async function anonymousToken(berthHost: string, repo: string): Promise<string> {
  const res = await http({ method: "GET", url: `http://${berthHost}/auth/token?service=${SERVICE}&scope=repository:${repo}:pull`, timeoutMs: 5000 });
  if (res.status !== 200) throw new Error(`token endpoint: ${res.status} ${res.body.toString()}`);
  return (JSON.parse(res.body.toString()) as { token: string }).token;
}

async function check(server: Server, paths: SeedPaths, headers: Record<string, string>): Promise<void> {
  const res = await http({ method: "GET", url: `http://${server.host}${paths.manifestPath}`, headers: { Accept: MANIFEST_MEDIA_TYPE, ...headers }, timeoutMs: 5000 });
  if (res.status !== 200) throw new Error(`${server.label}: manifest GET ${res.status} ${res.body.toString().slice(0, 300)}`);
}

async function wrk(server: Server, paths: SeedPaths, headers: Record<string, string>, seconds: number): Promise<{ rps: number; p99ms: number; errors: number }> {
  await waitQuiet(15_000);
  const lua = join(benchDir, "lua");
  const args = ["-t", "2", "-c", "64", "-d", `${seconds}s`, "--timeout", "10s", "-s", join(lua, "get.lua"), "-H", `Accept: ${MANIFEST_MEDIA_TYPE}`];
  for (const [k, v] of Object.entries(headers)) args.push("-H", `${k}: ${v}`);
  args.push(`http://${server.host}${paths.manifestPath}`);
  const r = await run("wrk", args, { env: { ...process.env, BENCH_LUA_DIR: lua }, timeoutMs: (seconds + 60) * 1000 });
  const line = r.stdout.split("\n").find((l) => l.startsWith("BENCHJSON "));
  if (r.code !== 0 || line === undefined) throw new Error(`wrk failed: ${r.stderr} ${r.stdout}`);
  const s = JSON.parse(line.slice(10)) as { requests: number; duration_us: number; p99_us: number; err_status: number; err_connect: number; err_read: number; err_timeout: number };
  return { rps: s.requests / (s.duration_us / 1e6), p99ms: s.p99_us / 1000, errors: s.err_status + s.err_connect + s.err_read + s.err_timeout };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
};

async function main(): Promise<void> {
  const seconds = arg("seconds", 10);
  const runs = arg("runs", 3);
  const dir = await mkdtemp(join(tmpdir(), "berth-bench-auth-"));
  const content = makeSeedContent();
  const servers: Server[] = [];
  try {
    // Seed both registries without auth, then restart them as measured.
    const bp = await freePort();
    const dp = await freePort();
    const b = await berth("berth-seed", dir, bp, false);
    const d = await distribution("distribution-seed", dir, dp);
    const paths = (await seedRegistry(b.host, content)).paths;
    await seedRegistry(d.host, content);
    await stopChild(b.child);
    await stopChild(d.child);

    const bNo = await berth("berth no-auth", dir, bp, false);
    servers.push(bNo);
    const bTokPort = await freePort();
    const bTok = await berth("berth token", dir, bTokPort, true);
    servers.push(bTok);
    const keyFile = join(dir, "berth-data", "auth", "token-key.pem");
    const cert = join(dir, "berth-token.crt");
    await runOk("openssl", ["req", "-x509", "-new", "-key", keyFile, "-subj", "/CN=berth-bench-token", "-days", "7", "-out", cert]);
    const dNo = await distribution("distribution no-auth", dir, dp);
    servers.push(dNo);
    const dTokPort = await freePort();
    const dTok = await distribution("distribution token", dir, dTokPort, { realm: `http://${bTok.host}/auth/token`, certs: cert });
    servers.push(dTok);

    const repo = paths.manifestPath.split("/manifests/")[0]?.slice(4) ?? "";
    const auth = { Authorization: `Bearer ${await anonymousToken(bTok.host, repo)}` };
    await check(bNo, paths, {});
    await check(bTok, paths, auth);
    await check(dNo, paths, {});
    await check(dTok, paths, auth);
    const unauth = await http({ method: "GET", url: `http://${bTok.host}${paths.manifestPath}`, timeoutMs: 5000 });
    if (unauth.status !== 401) throw new Error(`berth token mode answered ${unauth.status} without a token`);

    const cases: [Server, Record<string, string>][] = [[bNo, {}], [bTok, auth], [dNo, {}], [dTok, auth]];
    const results = new Map<string, number[]>();
    const p99 = new Map<string, number[]>();
    for (const [s, h] of cases) await wrk(s, paths, h, 3); // warm-up
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? cases : [...cases].reverse();
      for (const [s, h] of order) {
        const r = await wrk(s, paths, h, seconds);
        if (r.errors > 0) throw new Error(`${s.label}: ${r.errors} errors during the run`);
        results.set(s.label, [...(results.get(s.label) ?? []), r.rps]);
        p99.set(s.label, [...(p99.get(s.label) ?? []), r.p99ms]);
        process.stderr.write(`  run ${i + 1}: ${s.label}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99ms.toFixed(2)} ms\n`);
      }
    }
    const m = (label: string): number => median(results.get(label) ?? []);
    const q = (label: string): number => median(p99.get(label) ?? []);
    const lines = [
      `## manifest GET by tag, c=64, wrk -t2, ${seconds}s, median of ${runs}`,
      "",
      "| registry | no auth req/s | token auth req/s | token/no-auth | p99 no auth | p99 token |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
      `| Berth | ${m("berth no-auth").toFixed(0)} | ${m("berth token").toFixed(0)} | ${(m("berth token") / m("berth no-auth")).toFixed(3)} | ${q("berth no-auth").toFixed(2)} ms | ${q("berth token").toFixed(2)} ms |`,
      `| Distribution 2.8 | ${m("distribution no-auth").toFixed(0)} | ${m("distribution token").toFixed(0)} | ${(m("distribution token") / m("distribution no-auth")).toFixed(3)} | ${q("distribution no-auth").toFixed(2)} ms | ${q("distribution token").toFixed(2)} ms |`,
      "",
      `Berth token-auth throughput: ${((m("berth token") / m("berth no-auth")) * 100).toFixed(1)}% of no-auth (target >= 80%): ${m("berth token") / m("berth no-auth") >= 0.8 ? "PASS" : "FAIL"}`,
      `Berth token vs Distribution token: ${(m("berth token") / m("distribution token")).toFixed(2)}x`,
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
    process.exitCode = m("berth token") / m("berth no-auth") >= 0.8 ? 0 : 1;
  } finally {
    for (const s of servers) await stopChild(s.child);
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench auth: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  killAllSync();
  process.exitCode = 2;
});
