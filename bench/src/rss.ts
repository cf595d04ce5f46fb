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
