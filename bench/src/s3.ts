// Berth on S3 vs Distribution 2.8.2 on S3, side by side against the same local
// S3-compatible server (s3rver): skopeo push and pull of a 512 MiB layer and of
// 100 × 1 MiB layers; RSS of each registry during its pushes. See bench/README.md.
//   node bench/dist/src/s3.js [--runs N] [--images big512,layers100] [--slots berth,berth-redirect,distribution]
import { spawn, type ChildProcess } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createInterface } from "node:readline";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureLayout, IMAGES, type Layout } from "./layout.js";
import { BERTH_MAIN, DISTRIBUTION_BIN, tail } from "./registries.js";
import { RssSampler } from "./rss.js";
import { Skopeo } from "./skopeo.js";
import { freePort, http } from "./util/net.js";
import { killAllSync, run, stopChild, track } from "./util/proc.js";
import { median, sleep } from "./util/stats.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..", "..");

interface S3Info {
  endpoint: string;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

type Slot = "berth" | "berth-redirect" | "distribution";

interface Running {
  slot: Slot;
  host: string;
  child: ChildProcess;
  logFile: string;
}

function log(msg: string): void {
  process.stderr.write(`[bench:s3] ${msg}\n`);
}

function args(argv: string[]): { runs: number; images: string[]; slots: Slot[]; layoutsDir: string } {
  const out = { runs: 3, images: ["big512", "layers100"], slots: ["berth", "distribution"] as Slot[], layoutsDir: "/tmp/berth-bench-layouts" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1] ?? "";
    if (a === "--runs") out.runs = Number(argv[++i]);
    else if (a === "--images") out.images = (argv[++i] ?? "").split(",");
    else if (a === "--slots") out.slots = (argv[++i] ?? "").split(",") as Slot[];
    else if (a === "--layouts") out.layoutsDir = argv[++i] ?? v;
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

async function startS3(dir: string): Promise<{ info: S3Info; child: ChildProcess }> {
  const child = spawn(process.execPath, [join(here, "s3-server-main.js")], { cwd: dir, stdio: ["ignore", "pipe", "inherit"] });
  track(child);
  const line = await new Promise<string>((resolveLine, reject) => {
    const rl = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    rl.once("line", (l) => resolveLine(l));
    child.once("exit", (code) => reject(new Error(`s3 server exited (${code})`)));
  });
  return { info: JSON.parse(line) as S3Info, child };
}

function distributionS3Config(s3: S3Info, port: number, prefix: string): string {
  return [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
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
    "  delete:",
    "    enabled: true",
    "  cache:",
    "    blobdescriptor: inmemory",
    "  maintenance:",
    "    uploadpurging:",
    "      enabled: false",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    "",
  ].join("\n");
}

async function startSlot(slot: Slot, s3: S3Info, workDir: string): Promise<Running> {
  const base = join(workDir, slot);
  await mkdir(join(base, "data"), { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const logFile = join(base, "server.log");
  const { openSync, closeSync } = await import("node:fs");
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    if (slot === "distribution") {
      const cfg = join(base, "config.yml");
      await writeFile(cfg, distributionS3Config(s3, port, slot));
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
        BERTH_STORAGE_REDIRECT: slot === "berth-redirect" ? "true" : "false",
      };
      child = spawn(process.execPath, [join(repoRoot, BERTH_MAIN), "serve"], { cwd: repoRoot, env, stdio: ["ignore", fd, fd] });
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

interface Sample {
  slot: Slot;
  image: string;
  op: "push" | "pull";
  seconds: number;
  peakRssMiB?: number;
}

async function main(): Promise<number> {
  const opts = args(process.argv.slice(2));
  const workDir = await mkdtemp("/tmp/berth-bench-s3-");
  await chmod(workDir, 0o755);
  const layouts: Layout[] = [];
  for (const id of opts.images) {
    const spec = IMAGES.find((s) => s.id === id);
    if (spec === undefined) throw new Error(`unknown image ${id}`);
    layouts.push(await ensureLayout(spec, opts.layoutsDir, false));
  }
  const s3 = await startS3(workDir);
  log(`s3rver at ${s3.info.endpoint}`);
  const slots: Running[] = [];
  const samples: Sample[] = [];
  try {
    for (const slot of opts.slots) slots.push(await startSlot(slot, s3.info, workDir));
    const skopeo = new Skopeo(join(workDir, "skopeo"));
    await skopeo.init();
    for (let r = 0; r < opts.runs; r++) {
      for (const layout of layouts) {
        // Alternate the order per run so neither registry always goes first.
        const order = r % 2 === 0 ? slots : [...slots].reverse();
        for (const reg of order) {
          const repo = `bench/${layout.spec.id}-${r}`;
          await run("sh", ["-c", `cat "${layout.dir}"/blobs/sha256/* > /dev/null`]);
          const rss = new RssSampler(reg.child.pid as number, 50);
          rss.start();
          const push = await skopeo.push(layout, reg.host, reg.slot, repo);
          const mem = rss.stop();
          if (!push.ok) throw new Error(`${reg.slot} push ${layout.spec.id}: ${push.error ?? ""}\n${await tail(reg.logFile)}`);
          samples.push({ slot: reg.slot, image: layout.spec.id, op: "push", seconds: push.seconds, peakRssMiB: mem.peakMainKiB / 1024 });
          const pull = await skopeo.pull(layout, reg.host, reg.slot, repo);
          if (!pull.ok) throw new Error(`${reg.slot} pull ${layout.spec.id}: ${pull.error ?? ""}\n${await tail(reg.logFile)}`);
          samples.push({ slot: reg.slot, image: layout.spec.id, op: "pull", seconds: pull.seconds });
          log(`run ${r + 1}/${opts.runs} ${layout.spec.id} ${reg.slot}: push ${push.seconds.toFixed(2)} s (peak RSS ${(mem.peakMainKiB / 1024).toFixed(0)} MiB), pull ${pull.seconds.toFixed(2)} s`);
        }
      }
    }
  } finally {
    for (const s of slots) await stopChild(s.child);
    await stopChild(s3.child);
  }
  const lines = [
    `| image | op | ${opts.slots.map((s) => `${s} (s)`).join(" | ")} | Distribution ÷ Berth | Berth peak RSS |`,
    `| --- | --- | ${opts.slots.map(() => "---:").join(" | ")} | ---: | ---: |`,
  ];
  for (const layout of layouts) {
    for (const op of ["push", "pull"] as const) {
      const med = (slot: Slot): number => median(samples.filter((s) => s.slot === slot && s.image === layout.spec.id && s.op === op).map((s) => s.seconds));
      const rss = op === "push" ? Math.max(...samples.filter((s) => s.slot === "berth" && s.image === layout.spec.id && s.op === op).map((s) => s.peakRssMiB ?? 0)) : undefined;
      const ratio = opts.slots.includes("berth") && opts.slots.includes("distribution") ? (med("distribution") / med("berth")).toFixed(2) : "–";
      lines.push(`| ${layout.spec.label} | ${op} | ${opts.slots.map((s) => med(s).toFixed(2)).join(" | ")} | ${ratio}× | ${rss !== undefined ? `${rss.toFixed(0)} MiB` : ""} |`);
    }
  }
  const report = `${lines.join("\n")}\n\nmedians of ${opts.runs} runs; skopeo copy wall time; s3rver on 127.0.0.1 shared by both; Berth part size 16 MiB, Distribution chunksize 16 MiB\n`;
  process.stdout.write(report);
  await writeFile(join(workDir, "report.md"), report);
  await writeFile(join(workDir, "samples.json"), JSON.stringify(samples, null, 2));
  log(`samples and report in ${workDir}`);
  await rm(join(workDir, "skopeo"), { recursive: true, force: true });
  return 0;
}

process.on("exit", () => killAllSync());
main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`[bench:s3] ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
