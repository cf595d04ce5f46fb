// Generates OCI image layouts (image-spec v1.1 "oci-layout" directories) with
// random, incompressible, uncompressed layers. Blobs are streamed to disk in
// 4 MiB chunks and hashed on the way; nothing is ever held whole in memory.
// Layouts are cached between runs (keyed by their spec) since they are large.
import { createHash, randomFillSync } from "node:crypto";
import { chmod, mkdir, open, readFile, rename, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { MiB } from "./util/stats.js";

export const LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar";
export const MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json";
export const CONFIG_MEDIA_TYPE = "application/vnd.oci.image.config.v1+json";
export const TAG = "latest";

export interface ImageSpec {
  /** short id used for repo names and row labels */
  id: string;
  label: string;
  layers: number;
  layerBytes: number;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface Layout {
  spec: ImageSpec;
  dir: string;
  manifest: Descriptor;
  totalBytes: number;
}

export const IMAGES: readonly ImageSpec[] = [
  { id: "tiny", label: "tiny image (1 × 1 KiB)", layers: 1, layerBytes: 1024 },
  { id: "layers100", label: "100 × 1 MiB layers", layers: 100, layerBytes: MiB },
  { id: "big512", label: "512 MiB single layer", layers: 1, layerBytes: 512 * MiB },
];

const CHUNK = 4 * MiB;

async function writeRandomBlob(blobDir: string, size: number, chunk: Buffer): Promise<Descriptor> {
  const tmp = join(blobDir, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const hash = createHash("sha256");
  const fh = await open(tmp, "w", 0o644);
  try {
    let left = size;
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      const view = chunk.subarray(0, n);
      randomFillSync(view);
      hash.update(view);
      await fh.write(view, 0, n);
      left -= n;
    }
  } finally {
    await fh.close();
  }
  const hex = hash.digest("hex");
  await rename(tmp, join(blobDir, hex));
  return { mediaType: LAYER_MEDIA_TYPE, digest: `sha256:${hex}`, size };
}

/** A JSON blob (config, manifest) written into an OCI layout's blob directory. */
export async function writeJsonBlob(blobDir: string, value: unknown, mediaType: string): Promise<Descriptor> {
  const bytes = Buffer.from(JSON.stringify(value));
  const hex = createHash("sha256").update(bytes).digest("hex");
  await writeFile(join(blobDir, hex), bytes, { mode: 0o644 });
  return { mediaType, digest: `sha256:${hex}`, size: bytes.length };
}

async function generate(spec: ImageSpec, dir: string): Promise<Layout> {
  const blobDir = await startLayout(dir);
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK, spec.layerBytes));
  const layers: Descriptor[] = [];
  for (let i = 0; i < spec.layers; i++) layers.push(await writeRandomBlob(blobDir, spec.layerBytes, chunk));
  return finishLayout(spec, dir, layers, { config: {}, createdBy: "berth bench", comment: "random data" });
}

/** An empty layout directory (whatever was there is removed); returns its blob directory. */
export async function startLayout(dir: string): Promise<string> {
  await rm(dir, { recursive: true, force: true });
  const blobDir = join(dir, "blobs", "sha256");
  await mkdir(blobDir, { recursive: true, mode: 0o755 });
  return blobDir;
}

/**
 * Writes config, manifest, oci-layout and index.json for `layers` (uncompressed, so their
 * digests are the diff_ids), then the `.complete.json` marker that makes the layout reusable.
 */
export async function finishLayout(
  spec: ImageSpec,
  dir: string,
  layers: readonly Descriptor[],
  image: { readonly config: Record<string, unknown>; readonly createdBy: string; readonly comment: string },
): Promise<Layout> {
  const blobDir = join(dir, "blobs", "sha256");
  const config = await writeJsonBlob(
    blobDir,
    {
      architecture: "amd64",
      os: "linux",
      config: image.config,
      rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
      history: layers.map(() => ({ created_by: image.createdBy, comment: image.comment })),
    },
    CONFIG_MEDIA_TYPE,
  );
  const manifest = await writeJsonBlob(blobDir, { schemaVersion: 2, mediaType: MANIFEST_MEDIA_TYPE, config, layers }, MANIFEST_MEDIA_TYPE);
  await writeFile(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }), { mode: 0o644 });
  const index = {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: [{ ...manifest, annotations: { "org.opencontainers.image.ref.name": TAG } }],
  };
  await writeFile(join(dir, "index.json"), JSON.stringify(index), { mode: 0o644 });
  for (const d of [dir, join(dir, "blobs"), blobDir]) await chmod(d, 0o755);
  const layout: Layout = { spec, dir, manifest, totalBytes: layers.reduce((n, l) => n + l.size, 0) };
  await writeFile(join(dir, ".complete.json"), JSON.stringify(layout), { mode: 0o644 });
  return layout;
}

/** Returns the cached layout if it matches the spec, otherwise generates it. */
export async function ensureLayout(spec: ImageSpec, root: string, regen: boolean): Promise<Layout> {
  const dir = join(root, spec.id);
  if (!regen) {
    try {
      const cached = JSON.parse(await readFile(join(dir, ".complete.json"), "utf8")) as Layout;
      if (JSON.stringify(cached.spec) === JSON.stringify(spec)) return cached;
    } catch {
      // not there or unreadable: generate
    }
  }
  return generate(spec, dir);
}
