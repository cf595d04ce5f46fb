// Layer unpacking: Berth's own unpacker (parse + sha256 diff_id check + apply + one
// syncfs, then the atomic rename into the cache) against GNU tar extracting the same
// layer (+ `sync -f`, so both end with the data on disk), gzip and zstd, alternating
// order, medians. The layer is ~100 MiB of real files from /usr/share and /usr/lib
// (a realistic mix of small and large files), archived by GNU tar once and cached in
// /tmp/berth-bench-unpack. Run by hand as root (owners are applied):
//   npm run bench:unpack [-- --runs 5] [--mib 100] [--work DIR]
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, existsSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isSyncedLayer as isSynced, LayerPaths, unpackLayer } from "@berth/runtime";

const CACHE = "/tmp/berth-bench-unpack";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

function sh(cmd: string, args: readonly string[], cwd?: string): void {
  const r = spawnSync(cmd, args, { stdio: ["ignore", "ignore", "pipe"], ...(cwd !== undefined ? { cwd } : {}) });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr.toString()}`);
}

/** Sorted walk of real files until `limit` bytes of file content. */
function pick(top: string, limit: number, out: string[], size: { n: number }): void {
  const walk = (dir: string): boolean => {
    out.push(dir.slice(1));
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return true;
    }
    for (const name of names) {
      const p = join(dir, name);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (st === undefined) continue;
      if (st.isDirectory()) {
        if (!walk(p)) return false;
      } else if (st.isFile() || st.isSymbolicLink()) {
        if (size.n >= limit) return false;
        out.push(p.slice(1));
        if (st.isFile()) size.n += st.size;
      }
    }
    return true;
  };
  walk(top);
}

async function sha256File(path: string): Promise<string> {
  const h = createHash("sha256");
  for await (const c of createReadStream(path) as AsyncIterable<Buffer>) h.update(c);
  return `sha256:${h.digest("hex")}`;
}

async function corpus(mib: number): Promise<{ tar: string; gz: string; zst: string; diffId: string; bytes: number }> {
  const dir = join(CACHE, `${mib}`);
  const tar = join(dir, "layer.tar");
  const gz = join(dir, "layer.tar.gz");
  const zst = join(dir, "layer.tar.zst");
  if (!existsSync(zst)) {
    mkdirSync(dir, { recursive: true });
    const list: string[] = [];
    const size = { n: 0 };
    pick("/usr/share", mib * 0.55 * 2 ** 20, list, size);
    pick("/usr/lib", mib * 2 ** 20, list, size);
    writeFileSync(join(dir, "list"), list.join("\n") + "\n");
    sh("tar", ["--no-recursion", "-T", join(dir, "list"), "-cf", tar], "/");
    sh("sh", ["-c", `gzip -6 -c ${tar} > ${gz}.tmp && mv ${gz}.tmp ${gz}`]);
    sh("zstd", ["-q", "-3", "-f", tar, "-o", zst]);
  }
  return { tar, gz, zst, diffId: await sha256File(tar), bytes: lstatSync(tar).size };
}

async function synced(entry: string): Promise<void> {
  while (!isSynced(entry)) await new Promise((r) => setTimeout(r, 10));
  sh("sync", ["-f", entry]); // the mark's own write-back, as the detached process does
}

function clean(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  sh("sync", []);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function main(): Promise<void> {
  const runs = arg("runs", 5);
  const layer = await corpus(arg("mib", 100));
  // --work DIR: where to unpack (e.g. a tmpfs, to compare CPU cost without the disk)
  const wi = process.argv.indexOf("--work");
  const work = wi >= 0 && process.argv[wi + 1] !== undefined ? join(process.argv[wi + 1] as string, "berth-bench-work") : join(CACHE, "work");
  const files = spawnSync("tar", ["-tf", layer.tar], { encoding: "utf8", maxBuffer: 1 << 28 }).stdout.split("\n").length - 1;
  const times: Record<string, number[]> = {};
  const entry = join(work, "layers", "sha256", layer.diffId.slice(7));
  // each case: the time until the call returns (what `berth run` waits for), then until the
  // data is on disk (berth: its detached syncfs marked the entry; tar: + sync -f)
  const cases: [string, () => Promise<void>, () => Promise<void>][] = [
    ["berth gzip", async () => void (await unpackLayer(new LayerPaths(work), layer.gz, layer.diffId)), () => synced(entry)],
    ["tar -xzf", async () => (mkdirSync(work), sh("tar", ["-C", work, "-xzf", layer.gz])), async () => sh("sync", ["-f", work])],
    ["berth zstd", async () => void (await unpackLayer(new LayerPaths(work), layer.zst, layer.diffId)), () => synced(entry)],
    ["tar --zstd -xf", async () => (mkdirSync(work), sh("tar", ["-C", work, "--zstd", "-xf", layer.zst])), async () => sh("sync", ["-f", work])],
  ];
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? cases : [...cases].reverse();
    for (const [name, fn, durable] of order) {
      clean(work);
      const t = process.hrtime.bigint();
      await fn();
      (times[name] ??= []).push(Number(process.hrtime.bigint() - t) / 1e6);
      await durable();
      (times[`${name} (on disk)`] ??= []).push(Number(process.hrtime.bigint() - t) / 1e6);
    }
  }
  clean(work);
  const mb = layer.bytes / 1e6;
  console.log(`layer: ${mb.toFixed(1)} MB uncompressed, ${files} members; gzip ${(lstatSync(layer.gz).size / 1e6).toFixed(1)} MB, zstd ${(lstatSync(layer.zst).size / 1e6).toFixed(1)} MB; ${runs} runs`);
  console.log("| case | median ms | MB/s (uncompressed) | all runs ms |");
  console.log("| --- | --- | --- | --- |");
  for (const name of Object.keys(times)) {
    const m = median(times[name] ?? []);
    console.log(`| ${name} | ${m.toFixed(0)} | ${(mb / (m / 1000)).toFixed(0)} | ${(times[name] ?? []).map((t) => t.toFixed(0)).join(", ")} |`);
  }
  const ratio = (a: string, b: string): string => (median(times[b] ?? []) / median(times[a] ?? [])).toFixed(2);
  console.log(`\ntar time / berth time (>1: berth faster): gzip ${ratio("berth gzip", "tar -xzf")}, zstd ${ratio("berth zstd", "tar --zstd -xf")}; ` +
    `on disk: gzip ${ratio("berth gzip (on disk)", "tar -xzf (on disk)")}, zstd ${ratio("berth zstd (on disk)", "tar --zstd -xf (on disk)")}`);
}

await main();
