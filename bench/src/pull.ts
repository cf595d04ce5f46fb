// Pull benchmark: berth pull vs skopeo copy (oci: and dir:), docker pull (Debian's
// dockerd) and podman pull, from the same Berth registry, same images, every pull
// cold; then no-op pulls; then one round against Distribution. See bench/README.md.
//   node bench/dist/src/pull.js [--runs-small 5] [--runs-big 3] [--images tiny,layers100,big512]
//                               [--tools berth,skopeo-oci,skopeo-dir,docker,podman] [--no-distribution]
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, release } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { startDockerd, type DockerDaemon } from "@berth/test-support/dockerd";
import type { Layout } from "./layout.js";
import { ensurePullLayout, PULL_IMAGES } from "./pull-images.js";
import { dockerdPids, timedPull, type Accounted, type PullKind, type PullRun } from "./pull-measure.js";
import { checks, checksTable, coldTable, noopTable, TARGETS } from "./pull-report.js";
import { BerthTool, DockerTool, NodeFloor, PodmanTool, SkopeoTool, type PullTool } from "./pull-tools.js";
import { startRegistry, stopRegistry, type Registry } from "./registries.js";
import { killAllSync, run, runOk } from "./util/proc.js";
import { QuietGate } from "./util/quiet.js";

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "..", "..", "..");
// the command as installed: bin/berth, the shell launcher that runs the bundle
const CLI = join(repoRoot, "packages/cli/bin/berth");
const ALL_TOOLS = ["berth", "skopeo-oci", "skopeo-dir", "docker", "podman"];

function log(msg: string): void {
  process.stderr.write(`[pull] ${msg}\n`);
}

function option(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function count(name: string, def: number): number {
  const v = Number(option(name) ?? def);
  return Number.isInteger(v) && v > 0 ? v : def;
}

async function version(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args).catch(() => undefined);
  return r === undefined ? "?" : `${r.stdout}${r.stderr}`.trim().split("\n")[0] ?? "?";
}

/** Pushes the layout to the registry with skopeo (byte-exact) as bench/pull-<id>:latest. */
async function seed(reg: Registry, layout: Layout, scratch: string): Promise<string> {
  const ref = `${reg.host}/bench/pull-${layout.spec.id}:latest`;
  const auth = join(scratch, "seed-auth.json");
  await writeFile(auth, '{"auths":{}}');
  await runOk("skopeo", ["copy", "-q", "--preserve-digests", "--dest-tls-verify=false", `oci:${layout.dir}:latest`, `docker://${ref}`], {
    env: { ...process.env, REGISTRY_AUTH_FILE: auth },
    timeoutMs: 600_000,
  });
  return ref;
}

interface Ctx {
  scratch: string;
  gate: QuietGate;
  runs: PullRun[];
}

async function measure(ctx: Ctx, tool: PullTool, reg: Registry, acc: Accounted, layout: Layout, ref: string, kind: PullKind, env?: NodeJS.ProcessEnv): Promise<PullRun> {
  await ctx.gate.before();
  const t = tool.command(ref, env);
  const r = await timedPull(t, { registry: reg.kind, image: layout.spec.id, tool: tool.id, kind }, acc, ctx.scratch);
  if (r.ok) {
    const bad = await tool.verify(ref, layout).catch((e: unknown) => String(e));
    if (bad !== undefined) {
      r.ok = false;
      r.error = `verify: ${bad}`;
    }
  }
  ctx.runs.push(r);
  log(`${reg.kind} ${layout.spec.id} ${tool.id} ${kind}: ${r.ok ? `${r.ms.toFixed(0)} ms, ${(r.rssKiB / 1024).toFixed(0)} MiB` : `FAILED ${r.error ?? ""}`}, other ${r.otherCores.toFixed(2)} cores`);
  // flush dirty pages (untimed) so one run's writeback does not land in the next
  await run("sync", []);
  return r;
}

const floor = new NodeFloor();

function withoutExtraCa(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env["NODE_EXTRA_CA_CERTS"];
  return env;
}

/** Cold pulls of one image by every tool, `n` rounds, order rotating; no-op pulls after the last round. */
async function image(ctx: Ctx, tools: readonly PullTool[], reg: Registry, acc: Accounted, layout: Layout, ref: string, n: number, noops: number): Promise<void> {
  // one untimed pull first: the registry's first read of a blob may come from disk, and
  // that would land on whichever tool goes first in round one
  const warm = tools[0];
  if (warm !== undefined) {
    await warm.prepare();
    const t = warm.command(ref);
    await runOk(t.cmd, t.args, { env: t.env, timeoutMs: 900_000 });
    await warm.cleanup();
  }
  for (let i = 0; i < n; i++) {
    const order = tools.map((_, k) => tools[(k + i) % tools.length] as PullTool);
    for (const tool of order) {
      await tool.prepare();
      await measure(ctx, tool, reg, acc, layout, ref, "cold");
      if (i === n - 1 && noops > 0 && (tool.id === "berth" || tool.id === "docker" || tool.id === "podman")) {
        // the image is present now: a pull only asks the registry for the tag's digest
        for (let k = 0; k < noops; k++) {
          await measure(ctx, tool, reg, acc, layout, ref, "noop");
          if (tool instanceof BerthTool) {
            await measure(ctx, tool, reg, acc, layout, ref, "noop-no-extra-ca", withoutExtraCa());
            // the floor: a Node process that does nothing, with and without the extra CAs
            await measure(ctx, floor, reg, acc, layout, ref, "noop");
            await measure(ctx, floor, reg, acc, layout, ref, "noop-no-extra-ca", withoutExtraCa());
          }
        }
      }
      await tool.cleanup();
    }
  }
}

async function main(): Promise<number> {
  const runsSmall = count("runs-small", 5);
  const runsBig = count("runs-big", 3);
  const wantImages = (option("images") ?? "tiny,layers100,big512").split(",");
  const wantTools = (option("tools") ?? ALL_TOOLS.join(",")).split(",");
  const layoutsDir = option("layouts-dir") ?? "/tmp/berth-bench-pull-layouts";
  const distribution = !process.argv.includes("--no-distribution");
  for (const t of ["skopeo", "setpriv", "/usr/bin/time", "/usr/bin/docker-registry", ...wantTools.filter((t) => t === "docker" || t === "podman")]) {
    if ((await run("sh", ["-c", `command -v ${t}`])).code !== 0) throw new Error(`required tool not found: ${t}`);
  }
  if (wantTools.includes("docker") && (await run("sh", ["-c", "command -v dockerd"])).code !== 0) throw new Error("required tool not found: dockerd");

  const started = new Date();
  const workDir = await mkdtemp("/tmp/berth-pullbench-");
  await chmod(workDir, 0o755); // skopeo runs as nobody
  const scratch = join(workDir, "scratch");
  await mkdir(scratch);
  log(`work dir ${workDir}`);
  const regs: Registry[] = [];
  let dockerd: DockerDaemon | undefined;
  try {
    await mkdir(layoutsDir, { recursive: true, mode: 0o755 });
    const layouts: Layout[] = [];
    for (const spec of PULL_IMAGES.filter((s) => wantImages.includes(s.id))) {
      const t = Date.now();
      const l = await ensurePullLayout(spec, layoutsDir);
      await run("sh", ["-c", `cat "${l.dir}"/blobs/sha256/* > /dev/null`]);
      log(`layout ${spec.id} ready in ${((Date.now() - t) / 1000).toFixed(1)} s`);
      layouts.push(l);
    }
    const berthReg = await startRegistry("berth", "berth", workDir, repoRoot);
    regs.push(berthReg);
    const targets: Registry[] = [berthReg];
    if (distribution) {
      const d = await startRegistry("distribution", "distribution", workDir, repoRoot);
      regs.push(d);
      targets.push(d);
    }
    const refs = new Map<string, string>();
    for (const reg of targets) for (const l of layouts) refs.set(`${reg.kind}/${l.spec.id}`, await seed(reg, l, scratch));
    log("images pushed");

    const tools: PullTool[] = [];
    for (const id of wantTools) {
      if (id === "berth") tools.push(new BerthTool(workDir, CLI));
      else if (id === "skopeo-oci") tools.push(new SkopeoTool(workDir, "oci"));
      else if (id === "skopeo-dir") tools.push(new SkopeoTool(workDir, "dir"));
      else if (id === "docker") tools.push(new DockerTool((dockerd ??= await startDockerd())));
      else if (id === "podman") tools.push(new PodmanTool(workDir));
      else throw new Error(`unknown tool ${id}`);
    }
    const socket = dockerd?.host.replace(/^unix:\/\//, "") ?? "";
    const ctx: Ctx = { scratch, gate: new QuietGate(5_000, 120_000), runs: [] };

    for (const reg of targets) {
      const acc: Accounted = { registryPid: reg.pid, daemonPids: () => (socket !== "" ? dockerdPids(socket) : []) };
      for (const l of layouts) {
        const big = l.spec.id === "big512";
        const first = reg === berthReg;
        await image(ctx, tools, reg, acc, l, refs.get(`${reg.kind}/${l.spec.id}`) ?? "", first ? (big ? runsBig : runsSmall) : 1, first ? 5 : 1);
      }
    }

    const imgs = layouts.map((l) => ({ id: l.spec.id, label: l.spec.label }));
    const toolRows = tools.map((t) => ({ id: t.id, label: t.label }));
    const cs = checks(ctx.runs, "berth", imgs);
    const failed = ctx.runs.filter((r) => !r.ok);
    const versions = {
      node: process.version,
      kernel: release(),
      cpu: `${cpus().length} × ${cpus()[0]?.model ?? "?"}`,
      skopeo: await version("skopeo", ["--version"]),
      docker: await version("dockerd", ["--version"]),
      podman: await version("podman", ["--version"]),
      distribution: await version("/usr/bin/docker-registry", ["--version"]),
    };
    const md = [
      `# berth pull benchmark (${started.toISOString()})`,
      "",
      `Machine: ${versions.cpu}, Linux ${versions.kernel}, Node ${versions.node}; ${versions.skopeo}; dockerd ${versions.docker}; ${versions.podman}.`,
      "",
      `## Cold pulls from a Berth registry (medians: ${runsSmall} runs small images, ${runsBig} runs 512 MiB)`,
      "",
      coldTable(ctx.runs, "berth", imgs, toolRows),
      "",
      "## No-op pulls (image already present; one manifest request)",
      "",
      noopTable(ctx.runs, "berth", imgs),
      "",
      "## Targets",
      "",
      checksTable(cs),
      ...(distribution
        ? ["", "## Same pulls from Distribution (Debian's docker-registry), one run each", "", coldTable(ctx.runs, "distribution", imgs, toolRows), "", noopTable(ctx.runs, "distribution", imgs)]
        : []),
      "",
      `Failed runs: ${failed.length}${failed.map((r) => `\n- ${r.registry} ${r.image} ${r.tool} ${r.kind}: ${r.error ?? ""}`).join("")}`,
      "",
    ].join("\n");
    process.stdout.write(md);
    const outDir = join(repoRoot, "bench", "results");
    await mkdir(outDir, { recursive: true });
    const stamp = started.toISOString().replace(/[:.]/g, "-");
    await writeFile(join(outDir, `pull-${stamp}.json`), JSON.stringify({ started, versions, targets: TARGETS, checks: cs, runs: ctx.runs, quietWaitMs: ctx.gate.spent }, null, 2));
    await writeFile(join(outDir, `pull-${stamp}.md`), md);
    log(`results in ${join(outDir, `pull-${stamp}.{json,md}`)}`);
    return failed.length === 0 && cs.every((c) => c.pass) ? 0 : 1;
  } finally {
    await dockerd?.stop();
    for (const r of regs) await stopRegistry(r);
    await rm(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench pull: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    killAllSync();
    process.exitCode = 2;
  },
);
