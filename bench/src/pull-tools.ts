// The pull clients side by side. Each tool makes its next pull cold in prepare()
// (untimed), exposes the one timed command, and checks the result in verify()
// (untimed). What "cold" means per tool:
//   berth        a fresh --root (empty store)
//   skopeo oci:  a fresh destination dir, fresh HOME (as user nobody: no blob-info cache)
//   skopeo dir:  the same, dir: transport
//   docker       `docker rmi` of the image on a private dockerd (overlay2) before the pull
//   podman       a fresh containers-storage root (overlay driver)
import { chown, mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { DockerDaemon } from "@berth/test-support/dockerd";
import { removeTempDir } from "@berth/test-support/tmp";
import type { Layout } from "./layout.js";
import { run } from "./util/proc.js";

const NOBODY = 65534;

export interface Timed {
  cmd: string;
  args: string[];
  env: NodeJS.ProcessEnv;
}

export interface PullTool {
  readonly id: string;
  readonly label: string;
  prepare(): Promise<void>;
  /** `env` overrides the environment where the tool supports it (berth: NODE_EXTRA_CA_CERTS unset) */
  command(ref: string, env?: NodeJS.ProcessEnv): Timed;
  /** undefined when the pull stored what the registry holds, else what is wrong */
  verify(ref: string, layout: Layout): Promise<string | undefined>;
  /** after verify: free the disk (berth keeps its last store for the no-op pull) */
  cleanup(): Promise<void>;
}

interface Manifest {
  config: { digest: string };
  layers: { digest: string; size: number }[];
}

async function manifestOf(layout: Layout): Promise<Manifest> {
  const hex = layout.manifest.digest.slice("sha256:".length);
  return JSON.parse(await readFile(join(layout.dir, "blobs", "sha256", hex), "utf8")) as Manifest;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch {
    return undefined;
  }
}

/** Every layer present with its size under blobDir/<hex> (or blobDir/<hex> named by fn). */
async function checkBlobs(layout: Layout, path: (hex: string) => string): Promise<string | undefined> {
  const m = await manifestOf(layout);
  for (const l of m.layers) {
    const got = await sizeOf(path(l.digest.slice(7)));
    if (got !== l.size) return `layer ${l.digest}: ${got ?? "missing"} bytes, expected ${l.size}`;
  }
  return (await sizeOf(path(m.config.digest.slice(7)))) === undefined ? `config ${m.config.digest} missing` : undefined;
}

export class BerthTool implements PullTool {
  readonly id = "berth";
  readonly label = "berth pull";
  root = "";
  private n = 0;

  constructor(
    private readonly workDir: string,
    private readonly cli: string,
  ) {}

  async prepare(): Promise<void> {
    this.root = join(this.workDir, `berth-root-${this.n++}`);
    await rm(this.root, { recursive: true, force: true });
  }

  /** `env` overrides, e.g. NODE_EXTRA_CA_CERTS removed for the no-op variant. */
  command(ref: string, env: NodeJS.ProcessEnv = process.env): Timed {
    // no credential files of the host's docker, podman or berth logins
    const isolated = { BERTH_AUTH_FILE: join(this.workDir, "auth", "berth.json"), REGISTRY_AUTH_FILE: join(this.workDir, "auth", "podman.json"), DOCKER_CONFIG: join(this.workDir, "auth", "docker") };
    return { cmd: this.cli, args: ["--root", this.root, "pull", "-q", ref], env: { ...env, ...isolated } };
  }

  async verify(_ref: string, layout: Layout): Promise<string | undefined> {
    const blobs = join(this.root, "blobs", "sha256");
    if ((await sizeOf(join(blobs, layout.manifest.digest.slice(7)))) !== layout.manifest.size) return "manifest not stored";
    return checkBlobs(layout, (hex) => join(blobs, hex));
  }

  async cleanup(): Promise<void> {
    await rm(this.root, { recursive: true, force: true });
  }
}

/** skopeo as nobody with a fresh HOME, so no blob-info cache carries over between runs. */
export class SkopeoTool implements PullTool {
  readonly id: string;
  readonly label: string;
  private dest = "";
  private home = "";
  private n = 0;

  constructor(
    private readonly workDir: string,
    private readonly transport: "oci" | "dir",
  ) {
    this.id = `skopeo-${transport}`;
    this.label = `skopeo copy → ${transport}:`;
  }

  async prepare(): Promise<void> {
    const n = this.n++;
    this.dest = join(this.workDir, `${this.id}-dest-${n}`);
    this.home = join(this.workDir, `${this.id}-home-${n}`);
    for (const d of [this.dest, this.home]) {
      await rm(d, { recursive: true, force: true });
      await mkdir(d, { recursive: true });
      await chown(d, NOBODY, NOBODY);
    }
  }

  command(ref: string): Timed {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env["PATH"] ?? "/usr/bin:/bin",
      HOME: this.home,
      XDG_DATA_HOME: join(this.home, "share"),
      XDG_CONFIG_HOME: join(this.home, "config"),
      XDG_RUNTIME_DIR: this.home,
      TMPDIR: this.home,
    };
    const dest = this.transport === "oci" ? `oci:${this.dest}:latest` : `dir:${this.dest}`;
    // uncompressed layers stay uncompressed (an oci: destination would gzip them otherwise)
    const keep = this.transport === "oci" ? ["--dest-oci-accept-uncompressed-layers"] : [];
    const args = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", "--", "skopeo", "copy", "-q", "--preserve-digests", "--src-tls-verify=false", ...keep, `docker://${ref}`, dest];
    return { cmd: "setpriv", args, env };
  }

  async verify(_ref: string, layout: Layout): Promise<string | undefined> {
    if (this.transport === "oci") {
      const index = JSON.parse(await readFile(join(this.dest, "index.json"), "utf8")) as { manifests?: { digest?: string }[] };
      if (index.manifests?.[0]?.digest !== layout.manifest.digest) return `index.json names ${index.manifests?.[0]?.digest}`;
      return checkBlobs(layout, (hex) => join(this.dest, "blobs", "sha256", hex));
    }
    const manifest = await readFile(join(this.dest, "manifest.json"));
    const digest = `sha256:${createHash("sha256").update(manifest).digest("hex")}`;
    if (digest !== layout.manifest.digest) return `manifest.json is ${digest}`;
    return checkBlobs(layout, (hex) => join(this.dest, hex));
  }

  async cleanup(): Promise<void> {
    await rm(this.dest, { recursive: true, force: true });
    await rm(this.home, { recursive: true, force: true });
  }
}

export class DockerTool implements PullTool {
  readonly id = "docker";
  readonly label = "docker pull";
  private ref = "";

  constructor(private readonly daemon: DockerDaemon) {}

  async prepare(): Promise<void> {
    if (this.ref !== "") await this.daemon.docker(["rmi", "-f", this.ref], true);
  }

  command(ref: string): Timed {
    this.ref = ref;
    return { cmd: "docker", args: ["pull", "-q", ref], env: this.daemon.env };
  }

  async verify(ref: string, layout: Layout): Promise<string | undefined> {
    const m = await manifestOf(layout);
    const r = await this.daemon.docker(["image", "inspect", "--format", "{{.Id}}", ref], true);
    return r.stdout.trim() === m.config.digest ? undefined : `docker image id ${r.stdout.trim()} != ${m.config.digest}`;
  }

  async cleanup(): Promise<void> {
    await this.daemon.docker(["rmi", "-f", this.ref], true);
  }
}

/** podman with a private containers-storage root (overlay) and config, fresh per pull. */
export class PodmanTool implements PullTool {
  readonly id = "podman";
  readonly label = "podman pull";
  private dir = "";
  private env: NodeJS.ProcessEnv = {};
  private flags: string[] = [];

  constructor(private readonly workDir: string) {}

  async prepare(): Promise<void> {
    this.dir = await mkdtemp(join(this.workDir, "podman-"));
    const d = (name: string): string => join(this.dir, name);
    for (const name of ["storage", "run", "tmp", "net"]) await mkdir(d(name));
    await writeFile(d("storage.conf"), `[storage]\ndriver = "overlay"\nrunroot = "${d("run")}"\ngraphroot = "${d("storage")}"\n`);
    await writeFile(d("registries.conf"), 'unqualified-search-registries = []\nshort-name-mode = "disabled"\n');
    await writeFile(
      d("containers.conf"),
      ["[engine]", 'cgroup_manager = "cgroupfs"', 'events_logger = "file"', `events_logfile_path = "${d("tmp/events.log")}"`, `tmp_dir = "${d("tmp")}"`, "[network]", `network_config_dir = "${d("net")}"`, ""].join("\n"),
    );
    await writeFile(d("auth.json"), '{"auths":{}}');
    this.env = {
      ...process.env,
      CONTAINERS_STORAGE_CONF: d("storage.conf"),
      CONTAINERS_REGISTRIES_CONF: d("registries.conf"),
      CONTAINERS_CONF: d("containers.conf"),
      REGISTRY_AUTH_FILE: d("auth.json"),
      TMPDIR: d("tmp"),
    };
    this.flags = ["--root", d("storage"), "--runroot", d("run"), "--storage-driver", "overlay", "--tmpdir", d("tmp"), "--cgroup-manager", "cgroupfs", "--events-backend", "file"];
  }

  command(ref: string): Timed {
    return { cmd: "podman", args: [...this.flags, "pull", "-q", "--tls-verify=false", `docker://${ref}`], env: this.env };
  }

  async verify(ref: string, layout: Layout): Promise<string | undefined> {
    const m = await manifestOf(layout);
    const r = await run("podman", [...this.flags, "image", "inspect", "--format", "{{.Id}}", ref], { env: this.env });
    return `sha256:${r.stdout.trim()}` === m.config.digest ? undefined : `podman image id ${r.stdout.trim()} != ${m.config.digest}: ${r.stderr.slice(-300)}`;
  }

  async cleanup(): Promise<void> {
    // unmounts whatever c/storage left mounted below the dir, then deletes it
    removeTempDir(this.dir);
    await Promise.resolve();
  }
}

/** Not a pull: `node -e 0`, the floor under any Node CLI's time on this machine. */
export class NodeFloor implements PullTool {
  readonly id = "node";
  readonly label = "node -e 0";

  async prepare(): Promise<void> {}

  command(_ref: string, env: NodeJS.ProcessEnv = process.env): Timed {
    return { cmd: process.execPath, args: ["-e", "0"], env };
  }

  async verify(): Promise<string | undefined> {
    return Promise.resolve(undefined);
  }

  async cleanup(): Promise<void> {}
}
