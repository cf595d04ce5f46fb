// Command-line options.
import type { RegistryKind } from "./registries.js";

export type Section = "skopeo" | "http";

export interface Options {
  quick: boolean;
  sections: Section[];
  /** slot A (reported as "Berth") and slot B (reported as "Distribution") */
  slots: [RegistryKind, RegistryKind];
  runsSmall: number;
  runsBig: number;
  loadSeconds: number;
  warmupSeconds: number;
  concurrencies: number[];
  images: string[];
  /** before each measured run, wait up to this long for the machine to go idle; total cap */
  quietWaitSeconds: number;
  quietBudgetSeconds: number;
  /** re-measure runs disturbed by other processes: per run, and in total */
  retriesPerRun: number;
  retriesTotal: number;
  regenLayouts: boolean;
  keepWork: boolean;
  layoutsDir: string;
  out: string | undefined;
}

const HELP = `usage: node bench/dist/src/main.js [options]
  --quick                 smoke run: 1 repetition per image, 1 s load runs
  --only skopeo,http      sections to run (default: both)
  --slots A,B             registries in the two columns (default berth,distribution;
                          e.g. distribution,distribution to develop without Berth)
  --images tiny,layers100,big512   images for the skopeo section (default: all)
  --runs-small N          skopeo repetitions for tiny and 100-layer images (default 5)
  --runs-big N            skopeo repetitions for the 512 MiB image (default 5)
  --duration S            seconds per load run (default 10)
  --warmup S              warm-up seconds per registry and endpoint (default 3)
  --concurrency 1,8,64    load concurrencies (default 1,8,64)
  --quiet-wait S          before each measured run wait up to S s for other processes
                          to leave the CPUs idle (< 0.25 cores busy) (default 15, 0 = off)
  --quiet-budget S        total cap on that waiting (default 180; quick: 10)
  --retries N,TOTAL       re-measure a run during which other processes used > 0.3 cores,
                          up to N times per run and TOTAL in all, keeping the least
                          disturbed attempt (default 2,24; quick: 1,2; 0,0 = off)
  --layouts DIR           where OCI layouts are cached (default /tmp/berth-bench-layouts)
  --regen-layouts         regenerate the cached layouts
  --keep-work             keep the registries' data dirs and logs after the run
  --out FILE              results JSON (default bench/results/<timestamp>.json)
`;

function list(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
}

function kind(v: string): RegistryKind {
  if (v === "berth" || v === "distribution") return v;
  throw new Error(`unknown registry "${v}" (berth|distribution)`);
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name} needs a positive integer, got "${v}"`);
  return n;
}

export function parseArgs(argv: readonly string[]): Options {
  const o: Options = {
    quick: false,
    sections: ["skopeo", "http"],
    slots: ["berth", "distribution"],
    runsSmall: 5,
    runsBig: 5,
    loadSeconds: 10,
    warmupSeconds: 3,
    concurrencies: [1, 8, 64],
    images: ["tiny", "layers100", "big512"],
    quietWaitSeconds: 15,
    quietBudgetSeconds: 180,
    retriesPerRun: 2,
    retriesTotal: 24,
    regenLayouts: false,
    keepWork: false,
    layoutsDir: "/tmp/berth-bench-layouts",
    out: undefined,
  };
  const explicit = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? "";
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    explicit.add(a);
    switch (a) {
      case "--help":
      case "-h":
        process.stdout.write(HELP);
        process.exit(0);
        break;
      case "--quick":
        o.quick = true;
        break;
      case "--only": {
        const s = list(value());
        for (const x of s) if (x !== "skopeo" && x !== "http") throw new Error(`unknown section "${x}"`);
        o.sections = s as Section[];
        break;
      }
      case "--slots": {
        const s = list(value());
        if (s.length !== 2) throw new Error("--slots needs two registries, e.g. berth,distribution");
        o.slots = [kind(s[0] ?? ""), kind(s[1] ?? "")];
        break;
      }
      case "--images":
        o.images = list(value());
        break;
      case "--runs-small":
        o.runsSmall = positive(a, value());
        break;
      case "--runs-big":
        o.runsBig = positive(a, value());
        break;
      case "--duration":
        o.loadSeconds = positive(a, value());
        break;
      case "--warmup":
        o.warmupSeconds = Number(value());
        break;
      case "--concurrency":
        o.concurrencies = list(value()).map((x) => positive(a, x));
        break;
      case "--quiet-wait":
        o.quietWaitSeconds = Number(value());
        break;
      case "--quiet-budget":
        o.quietBudgetSeconds = Number(value());
        break;
      case "--retries": {
        const [per, total] = list(value()).map(Number);
        if (per === undefined || total === undefined || !(per >= 0) || !(total >= 0)) throw new Error("--retries needs N,TOTAL");
        o.retriesPerRun = per;
        o.retriesTotal = total;
        break;
      }
      case "--layouts":
        o.layoutsDir = value();
        break;
      case "--regen-layouts":
        o.regenLayouts = true;
        break;
      case "--keep-work":
        o.keepWork = true;
        break;
      case "--out":
        o.out = value();
        break;
      default:
        throw new Error(`unknown option "${a}"\n${HELP}`);
    }
  }
  if (o.quick) {
    if (!explicit.has("--runs-small")) o.runsSmall = 1;
    if (!explicit.has("--runs-big")) o.runsBig = 1;
    if (!explicit.has("--duration")) o.loadSeconds = 1;
    if (!explicit.has("--warmup")) o.warmupSeconds = 1;
    if (!explicit.has("--quiet-wait")) o.quietWaitSeconds = 3;
    if (!explicit.has("--quiet-budget")) o.quietBudgetSeconds = 10;
    if (!explicit.has("--retries")) {
      o.retriesPerRun = 1;
      o.retriesTotal = 2;
    }
  }
  return o;
}
