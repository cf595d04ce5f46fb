// Seeds each registry over plain HTTP with the objects the load tests hit
// (a 1 MiB layer, a config, an OCI manifest tagged "latest" in bench/seed),
// checks the responses, and writes the 1 MiB bodies used by the upload test.
import { createHash, randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { CONFIG_MEDIA_TYPE, LAYER_MEDIA_TYPE, MANIFEST_MEDIA_TYPE, TAG } from "./layout.js";
import { describe, header, http } from "./util/net.js";
import type { HttpRequest } from "./util/net.js";
import { MiB } from "./util/stats.js";

export const SEED_REPO = "bench/seed";
export const UPLOAD_REPO = "bench/upload";

export interface SeedContent {
  layer: Buffer;
  layerDigest: string;
  config: Buffer;
  configDigest: string;
  manifest: Buffer;
  manifestDigest: string;
}

export interface SeedPaths {
  manifestPath: string;
  blobPath: string;
}

function sha(b: Buffer): string {
  return `sha256:${createHash("sha256").update(b).digest("hex")}`;
}

export function makeSeedContent(): SeedContent {
  const layer = randomBytes(MiB);
  const config = Buffer.from(
    JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [sha(layer)] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      config: { mediaType: CONFIG_MEDIA_TYPE, digest: sha(config), size: config.length },
      layers: [{ mediaType: LAYER_MEDIA_TYPE, digest: sha(layer), size: layer.length }],
    }),
  );
  return {
    layer,
    layerDigest: sha(layer),
    config,
    configDigest: sha(config),
    manifest,
    manifestDigest: sha(manifest),
  };
}

/** Writes n random 1 MiB blobs as <i>.bin (1-based) plus digests.txt, for bench/lua/upload.lua. */
export async function writeUploadBodies(dir: string, n: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const digests: string[] = [];
  for (let i = 1; i <= n; i++) {
    const b = randomBytes(MiB);
    digests.push(sha(b));
    await writeFile(join(dir, `${i}.bin`), b);
  }
  await writeFile(join(dir, "digests.txt"), `${digests.join("\n")}\n`);
}

class Checker {
  readonly anomalies: string[] = [];
  async expect(req: HttpRequest, statuses: number[], what: string): Promise<Awaited<ReturnType<typeof http>>> {
    const res = await http(req);
    if (!statuses.includes(res.status)) {
      const msg = `${what}: expected ${statuses.join("/")}: ${describe(req, res)}`;
      this.anomalies.push(msg);
      throw new Error(msg);
    }
    return res;
  }
}

/** Two-step upload (POST, then PUT ?digest= with the whole body), as a client would. */
async function uploadBlob(c: Checker, host: string, repo: string, body: Buffer, digest: string): Promise<void> {
  const post = await c.expect(
    { method: "POST", url: `http://${host}/v2/${repo}/blobs/uploads/`, headers: { "Content-Length": "0" } },
    [202],
    "start upload",
  );
  const loc = header(post, "location");
  if (loc === undefined) throw new Error(`POST upload: no Location header`);
  const url = new URL(loc, `http://${host}`);
  url.searchParams.set("digest", digest);
  const put = await c.expect(
    {
      method: "PUT",
      url: url.toString(),
      headers: { "Content-Type": "application/octet-stream", "Content-Length": String(body.length) },
      body,
    },
    [201],
    "finish upload",
  );
  const got = header(put, "docker-content-digest");
  if (got !== digest) c.anomalies.push(`PUT upload: Docker-Content-Digest ${got} != ${digest}`);
}

/** Seeds one registry and checks the three read paths. Throws on a hard failure. */
export async function seedRegistry(host: string, content: SeedContent): Promise<{ paths: SeedPaths; anomalies: string[] }> {
  const c = new Checker();
  const base = `http://${host}/v2/${SEED_REPO}`;
  await uploadBlob(c, host, SEED_REPO, content.layer, content.layerDigest);
  await uploadBlob(c, host, SEED_REPO, content.config, content.configDigest);
  await c.expect(
    {
      method: "PUT",
      url: `${base}/manifests/${TAG}`,
      headers: { "Content-Type": MANIFEST_MEDIA_TYPE, "Content-Length": String(content.manifest.length) },
      body: content.manifest,
    },
    [201],
    "put manifest",
  );
  const m = await c.expect(
    { method: "GET", url: `${base}/manifests/${TAG}`, headers: { Accept: MANIFEST_MEDIA_TYPE } },
    [200],
    "get manifest",
  );
  if (!m.body.equals(content.manifest)) c.anomalies.push("GET manifest: body differs from the pushed bytes");
  if (header(m, "docker-content-digest") !== content.manifestDigest) {
    c.anomalies.push(`GET manifest: Docker-Content-Digest ${header(m, "docker-content-digest")} != ${content.manifestDigest}`);
  }
  const h = await c.expect({ method: "HEAD", url: `${base}/blobs/${content.layerDigest}` }, [200], "head blob");
  if (header(h, "content-length") !== String(MiB)) c.anomalies.push(`HEAD blob: Content-Length ${header(h, "content-length")}`);
  const g = await c.expect({ method: "GET", url: `${base}/blobs/${content.layerDigest}` }, [200], "get blob");
  if (!g.body.equals(content.layer)) c.anomalies.push(`GET blob: body differs (${g.body.length} bytes)`);
  // the upload repo must exist for some registries' Location handling; harmless otherwise
  await uploadBlob(c, host, UPLOAD_REPO, content.config, content.configDigest);
  return {
    paths: { manifestPath: `/v2/${SEED_REPO}/manifests/${TAG}`, blobPath: `/v2/${SEED_REPO}/blobs/${content.layerDigest}` },
    anomalies: c.anomalies,
  };
}

/**
 * Does the registry accept a single-POST monolithic upload
 * (POST /blobs/uploads/?digest=... with the body -> 201)? Informational: the
 * upload load test always uses the two-step flow so both registries do the same.
 */
export async function probeMonolithicPost(host: string): Promise<{ supported: boolean; detail: string }> {
  const body = randomBytes(4096);
  const req: HttpRequest = {
    method: "POST",
    url: `http://${host}/v2/${UPLOAD_REPO}/blobs/uploads/?digest=${sha(body)}`,
    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(body.length) },
    body,
  };
  const res = await http(req);
  return { supported: res.status === 201, detail: describe(req, res) };
}
