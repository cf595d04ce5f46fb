// The machine is shared: before each measured run, wait (bounded) until the
// other processes leave the CPUs mostly idle, and report how busy it was.
import { cpus } from "node:os";
import { systemCpu } from "../rss.js";
import { sleep } from "./stats.js";

export interface QuietResult {
  waitedMs: number;
  /** cores busy during the last probe window */
  busyCores: number;
  quiet: boolean;
}

export async function waitQuiet(maxWaitMs: number, thresholdCores = 0.25, windowMs = 500): Promise<QuietResult> {
  const start = Date.now();
  let busyCores = Number.NaN;
  for (;;) {
    const a = systemCpu();
    await sleep(windowMs);
    const b = systemCpu();
    const wall = (b.total - a.total) / cpus().length;
    busyCores = wall > 0 ? (b.busy - a.busy) / wall : 0;
    const waitedMs = Date.now() - start;
    if (busyCores < thresholdCores) return { waitedMs, busyCores, quiet: true };
    if (waitedMs >= maxWaitMs) return { waitedMs, busyCores, quiet: false };
  }
}

/** waitQuiet with a per-run cap and a total budget for the whole benchmark. */
export class QuietGate {
  private spentMs = 0;
  constructor(private readonly perRunMs: number, private readonly budgetMs: number) {}

  async before(): Promise<QuietResult> {
    const left = Math.max(0, Math.min(this.perRunMs, this.budgetMs - this.spentMs));
    const r = await waitQuiet(left);
    this.spentMs += r.waitedMs;
    return r;
  }

  get spent(): number {
    return this.spentMs;
  }
}

/** A run counts as disturbed when other processes used more than this many cores during it. */
export const NOISY_CORES = 0.3;
