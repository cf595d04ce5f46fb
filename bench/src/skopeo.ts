// skopeo copy timing: push oci:<layout> -> docker://<registry>/<fresh repo>
// and pull docker://... -> oci:<fresh dir>, wall time of the skopeo process.
//
// Flags that keep the bytes identical (no recompression):
//  push: --preserve-digests (skopeo would otherwise gzip uncompressed layers
//        for a docker:// destination; with it, any change is an error)
//  pull: --dest-oci-accept-uncompressed-layers (the oci: destination would
//        otherwise compress them) plus --preserve-digests.
//
// skopeo keeps a blob-info cache of where it has seen each blob; as root that
// is /var/lib/containers/cache, and on a push to a fresh repo it would try a
// cross-repo mount instead of uploading. So skopeo runs as user nobody
// (setpriv) with XDG_DATA_HOME in a fresh empty dir per run: no cache, no mount.
import { chown, mkdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { TAG } from "./layout.js";
import type { Layout } from "./layout.js";
import { run } from "./util/proc.js";

const NOBODY = 65534;

export interface SkopeoRun {
  op: "push" | "pull";
  image: string;
  registry: string;
  repo: string;
  seconds: number;
  /** CPU seconds used by the registry process during the copy */
  serverCpuSec?: number;
  serverUserSec?: number;
  serverSysSec?: number;
  /** CPU seconds used by skopeo itself, and cores used by everything else on the machine (noise) */
  skopeoCpuSec?: number;
  otherCores?: number;
  /** quiet gate before the run: ms waited and cores busy in the last probe */
  quietWaitMs?: number;
  busyBefore?: number;
  /** ISO time the run started */
  at?: string;
  /** how many times it was measured (re-measured when disturbed; the least disturbed is kept) */
  attempts?: number;
  ok: boolean;
  /** blobs skopeo reported as skipped/already present (should be 0) */
  skipped: number;
  error?: string;
}

export class Skopeo {
  private n = 0;
  constructor(private readonly workDir: string) {}

  async init(): Promise<void> {
    await mkdir(this.workDir, { recursive: true, mode: 0o755 });
    await chown(this.workDir, NOBODY, NOBODY);
  }

  private async exec(args: string[]): Promise<{ ok: boolean; ms: number; out: string }> {
    const home = join(this.workDir, `home-${this.n++}`);
    await mkdir(home);
    await chown(home, NOBODY, NOBODY);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: home,
      XDG_DATA_HOME: join(home, "share"),
      XDG_CONFIG_HOME: join(home, "config"),
      XDG_RUNTIME_DIR: home,
      TMPDIR: home,
    };
    const r = await run(
      "setpriv",
      [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", "skopeo", ...args],
      { env, timeoutMs: 600_000 },
    );
    await rm(home, { recursive: true, force: true });
    return { ok: r.code === 0, ms: r.ms, out: `${r.stdout}\n${r.stderr}` };
  }

  async push(layout: Layout, host: string, registry: string, repo: string): Promise<SkopeoRun> {
    const r = await this.exec([
      "copy",
      "--preserve-digests",
      "--dest-tls-verify=false",
      `oci:${layout.dir}:${TAG}`,
      `docker://${host}/${repo}:${TAG}`,
    ]);
    return result("push", layout, registry, repo, r);
  }

  /** Pulls into a fresh oci: dir, checks the manifest digest, then deletes it. */
  async pull(layout: Layout, host: string, registry: string, repo: string): Promise<SkopeoRun> {
    const dest = join(this.workDir, `pull-${this.n++}`);
    await mkdir(dest);
    await chown(dest, NOBODY, NOBODY);
    const r = await this.exec([
      "copy",
      "--preserve-digests",
      "--src-tls-verify=false",
      "--dest-oci-accept-uncompressed-layers",
      `docker://${host}/${repo}:${TAG}`,
      `oci:${dest}:${TAG}`,
    ]);
    const res = result("pull", layout, registry, repo, r);
    if (res.ok) {
      try {
        const index = JSON.parse(await readFile(join(dest, "index.json"), "utf8")) as { manifests?: { digest?: string }[] };
        const got = index.manifests?.[0]?.digest;
        if (got !== layout.manifest.digest) {
          res.ok = false;
          res.error = `pulled manifest digest ${got} != pushed ${layout.manifest.digest}`;
        }
      } catch (e) {
        res.ok = false;
        res.error = `cannot read pulled index.json: ${String(e)}`;
      }
    }
    await rm(dest, { recursive: true, force: true });
    return res;
  }
}

function result(
  op: "push" | "pull",
  layout: Layout,
  registry: string,
  repo: string,
  r: { ok: boolean; ms: number; out: string },
): SkopeoRun {
  const skipped = (r.out.match(/skipped: already exists|already exists/g) ?? []).length;
  const run: SkopeoRun = { op, image: layout.spec.id, registry, repo, seconds: r.ms / 1000, ok: r.ok, skipped };
  if (!r.ok) run.error = r.out.trim().slice(-1500);
  return run;
}

export async function skopeoVersion(): Promise<string> {
  const r = await run("skopeo", ["--version"]);
  return r.stdout.trim();
}
