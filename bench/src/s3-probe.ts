// The per-blob cost of a registry on S3, without skopeo: sequential HEAD + GET of each
// blob of an image over one kept-alive connection, redirects not followed (a 307 is the
// whole answer; a streamed 200 is read to its end). Low-noise: one request at a time,
// the registry's own CPU time, and the S3 requests it made while answering.
import { Agent, request } from "node:http";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { Layout } from "./layout.js";
import { cpuSeconds } from "./rss.js";
import type { Running, S3Process } from "./s3-slots.js";

export interface ProbeSample {
  /** the statuses HEAD answered */
  headStatus: number[];
  /** wall ms of each HEAD and each GET, in order */
  headMs: number[];
  getMs: number[];
  /** registry CPU seconds over the probe */
  cpuSec: number;
  /** S3 requests made meanwhile, by method */
  s3: Record<string, number>;
}

/** The layer digests of a layout's manifest. */
export async function layerDigests(layout: Layout): Promise<string[]> {
  const hex = layout.manifest.digest.slice("sha256:".length);
  const manifest = JSON.parse(await readFile(join(layout.dir, "blobs", "sha256", hex), "utf8")) as { layers: { digest: string }[] };
  return manifest.layers.map((l) => l.digest);
}

function once(agent: Agent, method: string, url: string): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = request(url, { method, agent }, (res) => {
      res.on("data", () => undefined);
      res.once("end", () => resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
      res.once("error", reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${method} ${url}`)));
    req.once("error", reject);
    req.end();
  });
}

/** HEAD then GET of every digest in `repo` on `reg`; `expectGet` is the GET status the slot must answer. */
export async function probe(reg: Running, s3: S3Process, repo: string, digests: readonly string[], expectGet: number): Promise<ProbeSample> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = (d: string): string => `http://${reg.host}/v2/${repo}/blobs/${d}`;
  try {
    // Open the connection outside the measurement (without touching a blob: a first round after a restart finds caches cold).
    for (let i = 0; i < 3; i++) await once(agent, "GET", `http://${reg.host}/v2/`);
    const s3Before = await s3.requests();
    const cpu0 = cpuSeconds(reg.child.pid as number);
    const headMs: number[] = [];
    const getMs: number[] = [];
    const headStatus = new Set<number>();
    for (const d of digests) {
      const head = await once(agent, "HEAD", url(d));
      // Distribution redirects HEADs too (to a pre-signed HEAD URL); Berth answers them itself.
      if (head.status !== 200 && head.status !== expectGet) throw new Error(`${reg.slot}: HEAD ${d} answered ${head.status}`);
      headStatus.add(head.status);
      headMs.push(head.ms);
      const get = await once(agent, "GET", url(d));
      if (get.status !== expectGet) throw new Error(`${reg.slot}: GET ${d} answered ${get.status}, expected ${expectGet}`);
      getMs.push(get.ms);
    }
    const cpuSec = cpuSeconds(reg.child.pid as number) - cpu0;
    const s3After = await s3.requests();
    const made: Record<string, number> = {};
    for (const [m, n] of Object.entries(s3After)) {
      const d = n - (s3Before[m] ?? 0);
      if (d > 0) made[m] = d;
    }
    return { headStatus: [...headStatus], headMs, getMs, cpuSec, s3: made };
  } finally {
    agent.destroy();
  }
}
