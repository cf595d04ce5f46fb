// The processes of the S3 benchmark: the S3-compatible server (s3rver in a process of its
// own, which also reports how many requests it served) and the four registries on it:
// Berth and Distribution, each redirecting blob GETs to pre-signed URLs (both defaults)
// and each streaming them through itself.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { createInterface, type Interface } from "node:readline";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { BERTH_MAIN, DISTRIBUTION_BIN, distributionYaml, tail } from "./registries.js";
import { freePort, http } from "./util/net.js";
import { track } from "./util/proc.js";
import { sleep } from "./util/stats.js";

const here = dirname(fileURLToPath(import.meta.url));

/** berth, distribution: their defaults (blob GETs answer 307 to S3); -stream: bytes relayed by the registry. */
export const SLOTS = ["berth", "berth-stream", "distribution", "distribution-stream"] as const;
export type Slot = (typeof SLOTS)[number];

export const isBerth = (slot: Slot): boolean => slot.startsWith("berth");
export const streams = (slot: Slot): boolean => slot.endsWith("-stream");

export interface S3Info {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3Process {
  info: S3Info;
  child: ChildProcess;
  /** Requests the server has answered so far, by HTTP method. */
  requests(): Promise<Record<string, number>>;
}

export interface Running {
  slot: Slot;
  host: string;
  child: ChildProcess;
  logFile: string;
}

/** Starts src/s3-server-main.js in `dir`: its first stdout line is its address, later lines answer "requests" on stdin. */
export async function startS3(dir: string): Promise<S3Process> {
  const child = spawn(process.execPath, [join(here, "s3-server-main.js")], { cwd: dir, stdio: ["pipe", "pipe", "inherit"] });
  track(child);
  const rl: Interface = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const lines: string[] = [];
  const waiting: { resolve: (line: string) => void; reject: (err: Error) => void }[] = [];
  rl.on("line", (l) => {
    const w = waiting.shift();
    if (w !== undefined) w.resolve(l);
    else lines.push(l);
  });
  child.once("exit", (code) => {
    for (const w of waiting.splice(0)) w.reject(new Error(`s3 server exited (${code})`));
  });
  const next = (): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      const l = lines.shift();
      if (l !== undefined) resolve(l);
      else if (child.exitCode !== null) reject(new Error(`s3 server exited (${child.exitCode})`));
      else waiting.push({ resolve, reject });
    });
  const info = JSON.parse(await next()) as S3Info;
  return {
    info,
    child,
    requests: async () => {
      child.stdin?.write("requests\n");
      return JSON.parse(await next()) as Record<string, number>;
    },
  };
}

/** Distribution's config: the s3 driver on `s3` under `/<prefix>`, Berth's part size; `redirect: false` serves blobs itself. */
function distributionS3Config(s3: S3Info, port: number, prefix: string, redirect: boolean): string {
  return distributionYaml(
    [
      "  s3:",
      `    accesskey: ${s3.accessKeyId}`,
      `    secretkey: ${s3.secretAccessKey}`,
      `    region: ${s3.region}`,
      `    regionendpoint: ${s3.endpoint}`,
      `    bucket: ${s3.bucket}`,
      `    rootdirectory: /${prefix}`,
      "    secure: false",
      "    v4auth: true",
      // The same part size as Berth's.
      "    chunksize: 16777216",
      ...(redirect ? [] : ["  redirect:", "    disable: true"]),
      "  maintenance:",
      "    uploadpurging:",
      "      enabled: false",
    ],
    port,
  );
}

/** Starts one registry on `s3` under its own key prefix; `cpuProfDir` runs Berth under node --cpu-prof. */
export async function startSlot(slot: Slot, s3: S3Info, workDir: string, repoRoot: string, cpuProfDir?: string): Promise<Running> {
  const base = join(workDir, slot);
  await mkdir(join(base, "data"), { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const logFile = join(base, "server.log");
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    if (!isBerth(slot)) {
      const cfg = join(base, "config.yml");
      await writeFile(cfg, distributionS3Config(s3, port, slot, !streams(slot)));
      // The Go SDK fails on a custom CA bundle with its transport (AWS_CA_BUNDLE): plain HTTP here needs none.
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("AWS_") && !k.startsWith("REGISTRY_")) env[k] = v;
      child = spawn(DISTRIBUTION_BIN, ["serve", cfg], { cwd: base, env, stdio: ["ignore", fd, fd] });
    } else {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        NODE_ENV: "production",
        BERTH_HTTP_ADDR: host,
        BERTH_DATA_DIR: join(base, "data"),
        BERTH_LOG_LEVEL: "error",
        BERTH_LOG_REQUESTS: "false",
        BERTH_STORAGE_DRIVER: "s3",
        BERTH_STORAGE_BUCKET: s3.bucket,
        BERTH_STORAGE_REGION: s3.region,
        BERTH_STORAGE_ENDPOINT: s3.endpoint,
        BERTH_STORAGE_PATHSTYLE: "true",
        BERTH_STORAGE_ACCESSKEY: s3.accessKeyId,
        BERTH_STORAGE_SECRETKEY: s3.secretAccessKey,
        BERTH_STORAGE_ROOTPREFIX: slot,
        BERTH_STORAGE_REDIRECT: streams(slot) ? "false" : "true",
      };
      const prof = cpuProfDir !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${slot}.cpuprofile`] : [];
      child = spawn(process.execPath, [...prof, join(repoRoot, BERTH_MAIN), "serve"], { cwd: repoRoot, env, stdio: ["ignore", fd, fd] });
    }
  } finally {
    closeSync(fd);
  }
  track(child);
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${slot} exited:\n${await tail(logFile)}`);
    const ok = await http({ method: "GET", url: `http://${host}/v2/`, timeoutMs: 2000 }).then((r) => r.status === 200, () => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`${slot} not ready:\n${await tail(logFile)}`);
    await sleep(100);
  }
  return { slot, host, child, logFile };
}
