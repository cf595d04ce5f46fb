// Memory of a registry process from /proc: VmRSS / VmHWM of the server PID,
// resetting the high-water mark (clear_refs "5") before a measured phase, and
// a sampler summing VmRSS over the PID and all its descendants (in case the
// server forks workers).
import { readdirSync, readFileSync, writeFileSync } from "node:fs";

export interface ProcMem {
  rssKiB: number;
  hwmKiB: number;
}

function field(status: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status);
  return m?.[1] !== undefined ? Number(m[1]) : Number.NaN;
}

export function readMem(pid: number): ProcMem {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  return { rssKiB: field(s, "VmRSS"), hwmKiB: field(s, "VmHWM") };
}

/** Reset VmHWM to the current RSS (Linux >= 4.0, needs to be the owner or root). */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, "5");
    return true;
  } catch {
    return false;
  }
}

export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid ...; comm may contain spaces/parens
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(rest[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // process vanished
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const p = stack.pop();
    if (p === undefined) break;
    for (const c of children.get(p) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

export class RssSampler {
  private timer: NodeJS.Timeout | undefined;
  private peakTree = 0;
  private peakMain = 0;
  private samples = 0;
  private childPids = new Set<number>();
  private tree: number[] = [];

  constructor(private readonly pid: number, private readonly intervalMs = 100) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  private sample(): void {
    let main: number;
    try {
      main = readMem(this.pid).rssKiB;
    } catch {
      return;
    }
    let tree = main;
    // re-scan /proc for children only every 20th sample: cheap on the CPU we measure
    if (this.samples % 20 === 0) this.tree = descendants(this.pid);
    for (const c of this.tree) {
      try {
        tree += readMem(c).rssKiB;
        this.childPids.add(c);
      } catch {
        // gone
      }
    }
    this.samples++;
    this.peakMain = Math.max(this.peakMain, main);
    this.peakTree = Math.max(this.peakTree, tree);
  }

  stop(): { peakMainKiB: number; peakTreeKiB: number; samples: number; childPids: number[] } {
    if (this.timer) clearInterval(this.timer);
    this.sample();
    return { peakMainKiB: this.peakMain, peakTreeKiB: this.peakTree, samples: this.samples, childPids: [...this.childPids] };
  }
}

/** utime + stime of the process (all its threads), in seconds (assumes CLK_TCK = 100, as on Linux x86-64/arm64). */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // after "pid (comm) ": state=0 ppid=1 ... utime=11 stime=12
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Busy and total CPU time of the whole machine from /proc/stat, in seconds (CLK_TCK = 100). */
export function systemCpu(): { busy: number; total: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
  return { busy: (total - idle) / 100, total: total / 100 };
}

/** CPU seconds of this process's waited-for children (cutime + cstime), e.g. a finished wrk. */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[13]) + Number(rest[14])) / 100;
}

/** utime and stime of the process separately, in seconds. */
export function cpuSplit(pid: number): { user: number; sys: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { user: Number(rest[11]) / 100, sys: Number(rest[12]) / 100 };
  } catch {
    return { user: Number.NaN, sys: Number.NaN };
  }
}
