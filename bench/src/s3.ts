// Berth on S3 vs Distribution 2.8.2 on S3, side by side against the same local
// S3-compatible server (s3rver): skopeo push and pull of a 512 MiB layer and of
// 100 × 1 MiB layers, each registry both redirecting blob GETs to S3 (both defaults) and
// streaming them itself; RSS of each registry during its pushes and CPU time of each
// push and pull; then the per-blob probe (s3-probe.ts). See bench/README.md.
//   node bench/dist/src/s3.js [--runs N] [--images big512,layers100]
//     [--slots berth,berth-stream,distribution,distribution-stream] [--probe-rounds N] [--cpu-prof DIR]
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { ensureLayout, IMAGES, type Layout } from "./layout.js";
import { tail } from "./registries.js";
import { cpuSeconds, RssSampler } from "./rss.js";
import { layerDigests, probe, type ProbeSample } from "./s3-probe.js";
import { isBerth, SLOTS, startS3, startSlot, streams, type Running, type S3Process, type Slot } from "./s3-slots.js";
import { Skopeo } from "./skopeo.js";
import { killAllSync, run, stopChild } from "./util/proc.js";
import { QuietGate } from "./util/quiet.js";
import { median } from "./util/stats.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..", "..");

interface Options {
  runs: number;
  images: string[];
  slots: Slot[];
  layoutsDir: string;
  probeRounds: number;
  cpuProfDir: string | undefined;
}

function log(msg: string): void {
  process.stderr.write(`[bench:s3] ${msg}\n`);
}

function args(argv: string[]): Options {
  const out: Options = { runs: 3, images: ["big512", "layers100"], slots: [...SLOTS], layoutsDir: "/tmp/berth-bench-layouts", probeRounds: 5, cpuProfDir: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[++i] ?? "";
    if (a === "--runs") out.runs = Number(v);
    else if (a === "--images") out.images = v.split(",");
    else if (a === "--slots") out.slots = v.split(",").map((s) => {
      if (!(SLOTS as readonly string[]).includes(s)) throw new Error(`unknown slot ${s} (${SLOTS.join(", ")})`);
      return s as Slot;
    });
    else if (a === "--layouts") out.layoutsDir = v;
    else if (a === "--probe-rounds") out.probeRounds = Number(v);
    else if (a === "--cpu-prof") out.cpuProfDir = resolve(v);
    else throw new Error(`unknown argument ${a}`);
  }
  return out;
}

interface Sample {
  slot: Slot;
  image: string;
  op: "push" | "pull";
  seconds: number;
  /** registry CPU seconds (user + sys) during the copy */
  cpuSec: number;
  peakRssMiB?: number;
}

const load = (): string => loadavg().map((l) => l.toFixed(2)).join(" ");

/** Alternates the order per round so no registry always goes first. */
const ordered = <T>(xs: readonly T[], round: number): readonly T[] => (round % 2 === 0 ? xs : [...xs].reverse());

/**
 * Before each copy: the layout in the page cache, no dirty pages left by the previous
 * copy, and the machine idle (bounded wait). Without the idle gate a pull starts while
 * s3rver is still busy after its own push (completing, cleaning up): the faster the
 * push, the more of that lands in the pull.
 */
async function settle(layout: Layout, gate: QuietGate): Promise<number> {
  await run("sh", ["-c", `cat "${layout.dir}"/blobs/sha256/* > /dev/null; sync`]);
  return (await gate.before()).waitedMs;
}

async function copies(opts: Options, layouts: readonly Layout[], slots: readonly Running[], skopeo: Skopeo): Promise<Sample[]> {
  const samples: Sample[] = [];
  const gate = new QuietGate(15_000, 600_000);
  for (let r = 0; r < opts.runs; r++) {
    for (const layout of layouts) {
      for (const reg of ordered(slots, r)) {
        const repo = `bench/${layout.spec.id}-${r}`;
        const pid = reg.child.pid as number;
        const pushWait = await settle(layout, gate);
        const rss = new RssSampler(pid, 50);
        rss.start();
        let cpu0 = cpuSeconds(pid);
        const push = await skopeo.push(layout, reg.host, reg.slot, repo);
        const mem = rss.stop();
        if (!push.ok) throw new Error(`${reg.slot} push ${layout.spec.id}: ${push.error ?? ""}\n${await tail(reg.logFile)}`);
        samples.push({ slot: reg.slot, image: layout.spec.id, op: "push", seconds: push.seconds, cpuSec: cpuSeconds(pid) - cpu0, peakRssMiB: mem.peakMainKiB / 1024 });
        const pullWait = await settle(layout, gate);
        cpu0 = cpuSeconds(pid);
        const pull = await skopeo.pull(layout, reg.host, reg.slot, repo);
        if (!pull.ok) throw new Error(`${reg.slot} pull ${layout.spec.id}: ${pull.error ?? ""}\n${await tail(reg.logFile)}`);
        samples.push({ slot: reg.slot, image: layout.spec.id, op: "pull", seconds: pull.seconds, cpuSec: cpuSeconds(pid) - cpu0 });
        log(`run ${r + 1}/${opts.runs} ${layout.spec.id} ${reg.slot}: push ${push.seconds.toFixed(2)} s (peak RSS ${(mem.peakMainKiB / 1024).toFixed(0)} MiB), pull ${pull.seconds.toFixed(2)} s [waited ${pushWait} + ${pullWait} ms for idle; load ${load()}]`);
      }
    }
  }
  return samples;
}

const ratio = (num: number, den: number): string => (Number.isFinite(num / den) ? `${(num / den).toFixed(2)}×` : "–");

function copyTable(opts: Options, layouts: readonly Layout[], samples: readonly Sample[]): string[] {
  const has = (s: Slot): boolean => opts.slots.includes(s);
  const lines = [
    `| image | op | ${opts.slots.map((s) => `${s} s (CPU s)`).join(" | ")} | Distribution ÷ Berth, redirected | Distribution ÷ Berth, streamed | Berth peak RSS |`,
    `| --- | --- | ${opts.slots.map(() => "---:").join(" | ")} | ---: | ---: | ---: |`,
  ];
  for (const layout of layouts) {
    for (const op of ["push", "pull"] as const) {
      const of = (slot: Slot): Sample[] => samples.filter((s) => s.slot === slot && s.image === layout.spec.id && s.op === op);
      const wall = (slot: Slot): number => median(of(slot).map((s) => s.seconds));
      const cpu = (slot: Slot): number => median(of(slot).map((s) => s.cpuSec));
      const berthRss = samples.filter((s) => isBerth(s.slot) && s.image === layout.spec.id && s.op === "push").map((s) => s.peakRssMiB ?? 0);
      const rss = op === "push" && berthRss.length > 0 ? `${Math.max(...berthRss).toFixed(0)} MiB` : "";
      const redirected = has("berth") && has("distribution") ? ratio(wall("distribution"), wall("berth")) : "–";
      const streamed = has("berth-stream") && has("distribution-stream") ? ratio(wall("distribution-stream"), wall("berth-stream")) : "–";
      lines.push(`| ${layout.spec.label} | ${op} | ${opts.slots.map((s) => `${wall(s).toFixed(2)} (${cpu(s).toFixed(2)})`).join(" | ")} | ${redirected} | ${streamed} | ${rss} |`);
    }
  }
  return lines;
}

/**
 * The probe on every slot, rounds interleaved: first right after restarting every registry
 * (caches cold: what a first pull after a deploy costs), then `probeRounds` warm rounds.
 */
async function probes(opts: Options, layout: Layout, slots: Running[], s3: S3Process, workDir: string): Promise<Probed> {
  const digests = await layerDigests(layout);
  for (let i = 0; i < slots.length; i++) {
    const old = slots[i] as Running;
    await stopChild(old.child, 15_000);
    slots[i] = await startSlot(old.slot, s3.info, workDir, repoRoot);
  }
  const cold = new Map<Slot, ProbeSample[]>();
  const warm = new Map<Slot, ProbeSample[]>();
  for (let r = 0; r <= opts.probeRounds; r++) {
    const into = r === 0 ? cold : warm;
    for (const reg of ordered(slots, r)) {
      const p = await probe(reg, s3, `bench/${layout.spec.id}-0`, digests, streams(reg.slot) ? 200 : 307);
      into.set(reg.slot, [...(into.get(reg.slot) ?? []), p]);
      log(`probe ${r === 0 ? "cold" : `${r}/${opts.probeRounds}`} ${reg.slot}: HEAD ${median(p.headMs).toFixed(2)} ms, GET ${median(p.getMs).toFixed(2)} ms, CPU ${p.cpuSec.toFixed(2)} s, S3 ${JSON.stringify(p.s3)}`);
    }
  }
  return { cold, warm };
}

interface Probed {
  cold: Map<Slot, ProbeSample[]>;
  warm: Map<Slot, ProbeSample[]>;
}

function probeTable(title: string, results: Map<Slot, ProbeSample[]>, order: readonly Slot[]): string[] {
  const lines = [
    title,
    "",
    "| slot | HEAD answer | GET answer | HEAD ms | GET ms | p90 GET ms | registry CPU ms per HEAD + GET | S3 requests per HEAD + GET |",
    "| --- | --- | --- | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const slot of order) {
    const ps = results.get(slot) ?? [];
    if (ps.length === 0) continue;
    const heads = ps.flatMap((p) => p.headMs);
    const gets = ps.flatMap((p) => p.getMs).sort((a, b) => a - b);
    const pairs = heads.length;
    const cpuMs = (ps.reduce((n, p) => n + p.cpuSec, 0) * 1000) / pairs;
    const s3: Record<string, number> = {};
    for (const p of ps) for (const [m, n] of Object.entries(p.s3)) s3[m] = (s3[m] ?? 0) + n;
    const perPair = Object.entries(s3).map(([m, n]) => `${(n / pairs).toFixed(2)} ${m}`).join(", ") || "0";
    const p90 = gets[Math.floor(gets.length * 0.9)] ?? Number.NaN;
    lines.push(`| ${slot} | ${[...new Set(ps.flatMap((p) => p.headStatus))].join(", ")} | ${streams(slot) ? "200, 1 MiB body" : "307"} | ${median(heads).toFixed(2)} | ${median(gets).toFixed(2)} | ${p90.toFixed(2)} | ${cpuMs.toFixed(2)} | ${perPair} |`);
  }
  return lines;
}

async function main(): Promise<number> {
  const opts = args(process.argv.slice(2));
  const started = new Date();
  const loadBefore = load();
  const workDir = await mkdtemp("/tmp/berth-bench-s3-");
  await chmod(workDir, 0o755);
  const layouts: Layout[] = [];
  for (const id of opts.images) {
    const spec = IMAGES.find((s) => s.id === id);
    if (spec === undefined) throw new Error(`unknown image ${id}`);
    layouts.push(await ensureLayout(spec, opts.layoutsDir, false));
  }
  const s3 = await startS3(workDir);
  log(`s3rver at ${s3.info.endpoint}; load ${loadBefore}`);
  const slots: Running[] = [];
  let samples: Sample[] = [];
  let probed: Probed | undefined;
  const small = layouts.find((l) => l.spec.layers > 1);
  // Pulls land in tmpfs when there is one: the disk is shared with other work on this machine.
  const skopeoDir = existsSync("/dev/shm") ? await mkdtemp("/dev/shm/berth-bench-s3-skopeo-") : join(workDir, "skopeo");
  try {
    for (const slot of opts.slots) slots.push(await startSlot(slot, s3.info, workDir, repoRoot, opts.cpuProfDir));
    const skopeo = new Skopeo(skopeoDir);
    await skopeo.init();
    samples = await copies(opts, layouts, slots, skopeo);
    if (small !== undefined && opts.probeRounds > 0) probed = await probes(opts, small, slots, s3, workDir);
  } finally {
    for (const s of slots) await stopChild(s.child, 15_000);
    await stopChild(s3.child);
    await rm(skopeoDir, { recursive: true, force: true });
  }
  const lines = [
    ...copyTable(opts, layouts, samples),
    "",
    `medians of ${opts.runs} runs; skopeo copy wall time (registry CPU time), pulls into ${skopeoDir.startsWith("/dev/shm") ? "tmpfs" : "the work dir"}; s3rver on 127.0.0.1 shared by all; Berth part size 16 MiB, Distribution chunksize 16 MiB`,
    ...(probed !== undefined && small !== undefined
      ? [
          "",
          ...probeTable(`Per blob, ${small.spec.label}: sequential HEAD + GET of each layer over one kept-alive connection, redirects not followed; medians over every request of ${opts.probeRounds} rounds`, probed.warm, opts.slots),
          "",
          ...probeTable("The same, once, right after restarting each registry (caches cold)", probed.cold, opts.slots),
        ]
      : []),
    "",
    `${started.toISOString()}; load average ${loadBefore} before, ${load()} after`,
  ];
  const report = `${lines.join("\n")}\n`;
  process.stdout.write(report);
  await writeFile(join(workDir, "report.md"), report);
  const probeJson = probed !== undefined ? { cold: Object.fromEntries(probed.cold), warm: Object.fromEntries(probed.warm) } : {};
  await writeFile(join(workDir, "samples.json"), JSON.stringify({ copies: samples, probes: probeJson }, null, 2));
  log(`samples and report in ${workDir}`);
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
