// Berth vs CNCF Distribution benchmark. See bench/README.md.
//   node bench/dist/src/main.js [--quick] [--only skopeo,http] [--slots berth,distribution]
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "./cli.js";
import { ensureLayout, IMAGES } from "./layout.js";
import type { Layout } from "./layout.js";
import { buildHeadload } from "./load.js";
import { runHttpPhase } from "./phase-http.js";
import type { HttpPhase } from "./phase-http.js";
import { runSkopeoPhase } from "./phase-skopeo.js";
import type { SkopeoPhase } from "./phase-skopeo.js";
import { BERTH_MAIN, berthAvailable, DISTRIBUTION_BIN, startRegistry, stopRegistry, tail } from "./registries.js";
import type { Registry } from "./registries.js";
import { renderTable, summary } from "./report.js";
import type { Row } from "./report.js";
import { makeSeedContent, probeMonolithicPost, seedRegistry, writeUploadBodies } from "./seed.js";
import type { SeedPaths } from "./seed.js";
import { summarizeLog } from "./serverlog.js";
import type { TimedRun } from "./serverlog.js";
import { Skopeo, skopeoVersion } from "./skopeo.js";
import { killAllSync, run } from "./util/proc.js";
import { QuietGate } from "./util/quiet.js";
import { RetryBudget } from "./util/retry.js";

const here = dirname(fileURLToPath(import.meta.url));
const benchDir = resolve(here, "..", "..");
const repoRoot = resolve(benchDir, "..");

function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

async function requireTools(tools: readonly string[]): Promise<void> {
  for (const t of tools) {
    const r = await run("sh", ["-c", `command -v ${t}`]);
    if (r.code !== 0) throw new Error(`required tool not found: ${t}`);
  }
}

/** Read every blob once so the first timed push does not pay for cold disk reads. */
async function prewarm(layout: Layout): Promise<void> {
  await run("sh", ["-c", `cat "${layout.dir}"/blobs/sha256/* > /dev/null`]);
}

async function duKiB(dir: string): Promise<number> {
  const r = await run("du", ["-sk", dir]);
  return Number(r.stdout.split(/\s/)[0]);
}

async function versions(): Promise<Record<string, string>> {
  const first = async (cmd: string, args: string[]): Promise<string> => {
    const r = await run(cmd, args).catch(() => undefined);
    return r === undefined ? "?" : `${r.stdout}${r.stderr}`.trim().split("\n")[0] ?? "?";
  };
  return {
    node: process.version,
    kernel: release(),
    cpu: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
    skopeo: await skopeoVersion(),
    wrk: await first("wrk", ["--version"]),
    distribution: await first(DISTRIBUTION_BIN, ["--version"]),
  };
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  const started = new Date();
  const doSkopeo = opts.sections.includes("skopeo");
  const doHttp = opts.sections.includes("http");
  await requireTools(["skopeo", "wrk", "gcc", "setpriv", "du", DISTRIBUTION_BIN]);
  if (opts.slots.includes("berth") && !berthAvailable(repoRoot)) {
    throw new Error(`${BERTH_MAIN} not found: build Berth first (npm run build), or use --slots distribution,distribution`);
  }

  const workDir = await mkdtemp("/tmp/berth-bench-");
  await chmod(workDir, 0o755); // skopeo runs as nobody and must reach its dirs
  log(`work dir ${workDir}`);
  const regs: Registry[] = [];
  try {
    const layouts: Layout[] = [];
    if (doSkopeo) {
      await mkdir(opts.layoutsDir, { recursive: true, mode: 0o755 });
      for (const spec of IMAGES.filter((s) => opts.images.includes(s.id))) {
        const t = Date.now();
        const l = await ensureLayout(spec, opts.layoutsDir, opts.regenLayouts);
        await prewarm(l);
        log(`layout ${spec.id} ready in ${((Date.now() - t) / 1000).toFixed(1)} s (${l.dir})`);
        layouts.push(l);
      }
    }
    const headloadBin = join(workDir, "headload");
    const uploadDir = join(workDir, "upload-bodies");
    if (doHttp) {
      await buildHeadload(benchDir, headloadBin);
      await writeUploadBodies(uploadDir, 8);
    }

    const [ka, kb] = opts.slots;
    const labelA = ka;
    const labelB = ka === kb ? `${kb}#2` : kb;
    regs.push(await startRegistry(ka, labelA, workDir, repoRoot));
    regs.push(await startRegistry(kb, labelB, workDir, repoRoot));
    const [A, B] = regs as [Registry, Registry];
    for (const r of regs) log(`${r.label}: pid ${r.pid} on ${r.host}, data ${r.dataDir}`);

    const anomalies: string[] = [];
    const gate = new QuietGate(opts.quietWaitSeconds * 1000, opts.quietBudgetSeconds * 1000);
    const retries = new RetryBudget(opts.retriesPerRun, opts.retriesTotal);
    const seedPaths = new Map<string, SeedPaths>();
    const content = makeSeedContent();
    const monolithic: Record<string, { supported: boolean; detail: string }> = {};
    for (const r of regs) {
      try {
        const s = await seedRegistry(r.host, content);
        seedPaths.set(r.label, s.paths);
        anomalies.push(...s.anomalies.map((a) => `${r.label}: seed: ${a}`));
      } catch (e) {
        anomalies.push(`${r.label}: seeding failed: ${e instanceof Error ? e.message : String(e)}`);
      }
      monolithic[r.label] = await probeMonolithicPost(r.host).catch((e: unknown) => ({ supported: false, detail: String(e) }));
      log(`${r.label}: single-POST monolithic upload ${monolithic[r.label]?.supported === true ? "supported" : "not supported"}`);
    }

    let skopeoPhase: SkopeoPhase | undefined;
    if (doSkopeo) {
      const skopeo = new Skopeo(join(workDir, "skopeo"));
      await skopeo.init();
      skopeoPhase = await runSkopeoPhase([A, B], layouts, skopeo, opts.runsSmall, opts.runsBig, gate, retries);
      anomalies.push(...skopeoPhase.anomalies);
    }
    let httpPhase: HttpPhase | undefined;
    if (doHttp) {
      if (seedPaths.size !== 2) throw new Error(`cannot run the http section: seeding failed\n${anomalies.join("\n")}`);
      httpPhase = await runHttpPhase(
        { benchDir, workDir, headloadBin, uploadDir },
        [A, B],
        seedPaths,
        opts.concurrencies,
        opts.loadSeconds,
        opts.warmupSeconds,
        gate,
        retries,
      );
      anomalies.push(...httpPhase.anomalies);
    }

    const dataKiB: Record<string, number> = {};
    const serverLogs: Record<string, string> = {};
    const timed: TimedRun[] = [
      ...(httpPhase?.attempts ?? []).map((r) => ({
        label: `${r.warmup ? "warm-up " : ""}${r.endpoint} c=${r.concurrency} against ${r.registry}`,
        start: Date.parse(r.at),
        end: Date.parse(r.at) + r.seconds * 1000,
      })),
      ...(skopeoPhase?.attempts ?? []).map((r) => ({
        label: `skopeo ${r.op} ${r.image} against ${r.registry}`,
        start: Date.parse(r.at ?? ""),
        end: Date.parse(r.at ?? "") + r.seconds * 1000,
      })),
    ];
    for (const r of regs) {
      serverLogs[r.label] = await tail(r.logFile, 5_000);
      // Distribution logs every 404 (e.g. skopeo's HEAD before an upload) at level error; only Berth's log is checked
      if (r.kind === "berth") {
        const full = await tail(r.logFile, 10_000_000);
        if (full !== "(no log)") anomalies.push(...summarizeLog(full, timed).map((l) => `${r.label}: ${l}`));
      }
      dataKiB[r.label] = await duKiB(r.dataDir);
      if (r.child.exitCode !== null || r.child.signalCode !== null) {
        anomalies.push(`${r.label}: server exited during the run (${r.child.exitCode ?? r.child.signalCode}); see ${r.logFile}`);
      }
    }

    const rows: Row[] = [...(skopeoPhase?.rows ?? []), ...(httpPhase?.rows ?? [])];
    // memory rows last
    rows.sort((x, y) => Number(x.section === "memory") - Number(y.section === "memory"));
    const table = renderTable(rows, A.label, B.label);

    const stamp = started.toISOString().replace(/[:.]/g, "-");
    const out = opts.out ?? join(benchDir, "results", `${stamp}${opts.quick ? "-quick" : ""}.json`);
    await mkdir(dirname(out), { recursive: true });
    const result = {
      started: started.toISOString(),
      finished: new Date().toISOString(),
      options: opts,
      versions: await versions(),
      registries: regs.map((r) => ({ label: r.label, kind: r.kind, pid: r.pid, host: r.host })),
      monolithicPost: monolithic,
      rows,
      summary: summary(rows),
      anomalies,
      skopeo: skopeoPhase ? { runs: skopeoPhase.runs, peakRss: skopeoPhase.peakRss, allAttempts: skopeoPhase.attempts } : undefined,
      http: httpPhase ? { runs: httpPhase.runs, rssAfterKiB: httpPhase.rssAfterKiB, allAttempts: httpPhase.attempts } : undefined,
      quietGateWaitedMs: gate.spent,
      reRuns: retries.spent,
      dataDirKiB: dataKiB,
      serverLogs,
    };
    await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
    const md = out.replace(/\.json$/, ".md");
    const mdText =
      `# Berth benchmark ${started.toISOString()}${opts.quick ? " (quick)" : ""}\n\n${table}\n\n${summary(rows)}\n` +
      (anomalies.length > 0 ? `\n## Anomalies\n\n${anomalies.map((a) => `- ${a}`).join("\n")}\n` : "");
    await writeFile(md, mdText);
    process.stdout.write(`\n${mdText}\nresults: ${out}\n          ${md}\n`);
    return rows.every((r) => r.pass) ? 0 : 1;
  } finally {
    for (const r of regs) await stopRegistry(r);
    if (!existsSync(workDir)) {
      // nothing
    } else if (opts.keepWork) {
      log(`kept ${workDir}`);
    } else {
      await rm(workDir, { recursive: true, force: true });
    }
  }
}

process.on("exit", killAllSync);
for (const sig of ["SIGINT", "SIGTERM"] as const) {
  process.on(sig, () => {
    killAllSync();
    process.exit(130);
  });
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 2;
  },
);
