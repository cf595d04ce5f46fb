// Launchers for the two registries under test. Each gets a fresh data dir in
// the run's work dir, listens on 127.0.0.1:<free port>, and is started directly
// (no npm/sh wrapper) so child.pid is the server process itself.
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { closeSync, existsSync, openSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { freePort, http } from "./util/net.js";
import { stopChild, track } from "./util/proc.js";
import { sleep } from "./util/stats.js";

export type RegistryKind = "berth" | "distribution";

export interface Registry {
  /** column label, e.g. "berth" or "distribution" (or "distribution#2" in dev mode) */
  label: string;
  kind: RegistryKind;
  host: string;
  port: number;
  pid: number;
  dataDir: string;
  logFile: string;
  child: ChildProcess;
}

export const DISTRIBUTION_BIN = "/usr/bin/docker-registry";
export const BERTH_MAIN = "services/registry/dist/src/main.js";

export function berthAvailable(repoRoot: string): boolean {
  return existsSync(join(repoRoot, BERTH_MAIN));
}

/**
 * Distribution's YAML: errors only and no access log, `storage` (the driver's section and
 * any other keys under storage:, indented two spaces) with delete enabled and the
 * inmemory blob descriptor cache, listening on 127.0.0.1:`port`; `extra` lines (e.g. an
 * `auth:` section) are appended as given.
 */
export function distributionYaml(storage: readonly string[], port: number, extra: readonly string[] = []): string {
  return [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    ...storage,
    "  delete:",
    "    enabled: true",
    "  cache:",
    "    blobdescriptor: inmemory",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    ...extra,
    "",
  ].join("\n");
}

/** Mirrors Debian's /etc/docker/registry/config.yml (inmemory blob descriptor cache, delete enabled) minus auth. */
export function distributionConfig(dataDir: string, port: number, extra: readonly string[] = []): string {
  return distributionYaml(["  filesystem:", `    rootdirectory: ${dataDir}`], port, extra);
}

async function waitReady(reg: Registry, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (reg.child.exitCode !== null || reg.child.signalCode !== null) {
      throw new Error(`${reg.label} exited (${reg.child.exitCode ?? reg.child.signalCode}) before ready:\n${await tail(reg.logFile)}`);
    }
    try {
      const res = await http({ method: "GET", url: `http://${reg.host}/v2/`, timeoutMs: 2000 });
      if (res.status === 200) return;
      last = `status ${res.status}`;
    } catch (e) {
      last = e instanceof Error ? e.message : String(e);
    }
    await sleep(100);
  }
  throw new Error(`${reg.label} not ready after ${timeoutMs} ms (${last}):\n${await tail(reg.logFile)}`);
}

export async function tail(file: string, chars = 3000): Promise<string> {
  try {
    return (await readFile(file, "utf8")).slice(-chars);
  } catch {
    return "(no log)";
  }
}

function spawnLogged(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, logFile: string): ChildProcess {
  const fd = openSync(logFile, "a");
  try {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", fd, fd] });
    track(child);
    return child;
  } finally {
    closeSync(fd);
  }
}

export async function startRegistry(kind: RegistryKind, label: string, workDir: string, repoRoot: string): Promise<Registry> {
  const base = join(workDir, label.replace(/[^a-z0-9]+/gi, "_"));
  const dataDir = join(base, "data");
  await mkdir(dataDir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const logFile = join(base, "server.log");
  let child: ChildProcess;
  if (kind === "distribution") {
    const cfg = join(base, "config.yml");
    await writeFile(cfg, distributionConfig(dataDir, port));
    child = spawnLogged(DISTRIBUTION_BIN, ["serve", cfg], base, process.env, logFile);
  } else {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: "production",
      BERTH_HTTP_ADDR: host,
      BERTH_DATA_DIR: dataDir,
      BERTH_LOG_LEVEL: "error",
    };
    child = spawnLogged(process.execPath, [join(repoRoot, BERTH_MAIN), "serve"], repoRoot, env, logFile);
  }
  if (child.pid === undefined) throw new Error(`could not start ${label}`);
  const reg: Registry = { label, kind, host, port, pid: child.pid, dataDir, logFile, child };
  try {
    await waitReady(reg, 30_000);
    // the PID we measure must be the server itself, not a wrapper
    const cmdline = (await readFile(`/proc/${reg.pid}/cmdline`, "utf8")).split("\0").join(" ");
    const expected = kind === "berth" ? BERTH_MAIN : DISTRIBUTION_BIN;
    if (!cmdline.includes(expected)) throw new Error(`pid ${reg.pid} runs "${cmdline}", not ${expected}`);
  } catch (e) {
    await stopChild(child);
    throw e;
  }
  return reg;
}

export async function stopRegistry(reg: Registry): Promise<void> {
  await stopChild(reg.child);
}
