// OCI layouts for the pull benchmark. Unlike layout.ts (raw random blobs, fine for
// registries and skopeo), docker and podman unpack what they pull, so every layer here
// is a real uncompressed tar holding one file of random (incompressible) bytes:
// `application/vnd.oci.image.layer.v1.tar`, diff_id = layer digest. Streamed to disk in
// 4 MiB chunks and hashed on the way; cached between runs under --layouts-dir.
import { createHash, randomFillSync } from "node:crypto";
import { open, readFile, rename } from "node:fs/promises";
import { join } from "node:path";
import { finishLayout, LAYER_MEDIA_TYPE, startLayout } from "./layout.js";
import type { Descriptor, ImageSpec, Layout } from "./layout.js";
import { MiB } from "./util/stats.js";

export const PULL_IMAGES: readonly ImageSpec[] = [
  { id: "tiny", label: "tiny (1 layer, 1 KiB file)", layers: 1, layerBytes: 1024 },
  { id: "layers100", label: "100 × 1 MiB layers", layers: 100, layerBytes: MiB },
  { id: "big512", label: "512 MiB single layer", layers: 1, layerBytes: 512 * MiB },
];

const CHUNK = 4 * MiB;
const BLOCK = 512;

/** A ustar header for one regular file (size < 8 GiB, so the octal field suffices). */
export function tarHeader(name: string, size: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  const field = (value: string, offset: number, length: number): void => {
    h.write(value, offset, length, "ascii");
  };
  const octal = (n: number, length: number): string => `${n.toString(8).padStart(length - 1, "0")}\0`;
  field(name, 0, 100);
  field(octal(0o644, 8), 100, 8);
  field(octal(0, 8), 108, 8);
  field(octal(0, 8), 116, 8);
  field(octal(size, 12), 124, 12);
  field(octal(1_700_000_000, 12), 136, 12);
  field("        ", 148, 8); // checksum counted as spaces
  field("0", 156, 1);
  field("ustar\u000000", 257, 8);
  let sum = 0;
  for (const b of h) sum += b;
  field(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

/** One tar layer: header, `fileBytes` random bytes, padding, two zero blocks. */
async function writeTarLayer(blobDir: string, fileName: string, fileBytes: number, chunk: Buffer): Promise<Descriptor> {
  const tmp = join(blobDir, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const hash = createHash("sha256");
  const fh = await open(tmp, "w", 0o644);
  let size = 0;
  const put = async (b: Buffer): Promise<void> => {
    hash.update(b);
    await fh.write(b, 0, b.length);
    size += b.length;
  };
  try {
    await put(tarHeader(fileName, fileBytes));
    let left = fileBytes;
    while (left > 0) {
      const view = chunk.subarray(0, Math.min(left, chunk.length));
      randomFillSync(view);
      await put(view);
      left -= view.length;
    }
    const pad = (BLOCK - (fileBytes % BLOCK)) % BLOCK;
    await put(Buffer.alloc(pad + 2 * BLOCK));
  } finally {
    await fh.close();
  }
  const hex = hash.digest("hex");
  await rename(tmp, join(blobDir, hex));
  return { mediaType: LAYER_MEDIA_TYPE, digest: `sha256:${hex}`, size };
}

async function generate(spec: ImageSpec, dir: string): Promise<Layout> {
  const blobDir = await startLayout(dir);
  const chunk = Buffer.allocUnsafe(Math.min(CHUNK, spec.layerBytes));
  const layers: Descriptor[] = [];
  for (let i = 0; i < spec.layers; i++) layers.push(await writeTarLayer(blobDir, `data/${spec.id}-${i}.bin`, spec.layerBytes, chunk));
  return finishLayout(spec, dir, layers, { config: { Cmd: ["/bin/sh"] }, createdBy: "berth pull bench", comment: "one file of random bytes" });
}

/** The cached layout when it was made for this spec, otherwise a new one. */
export async function ensurePullLayout(spec: ImageSpec, root: string): Promise<Layout> {
  const dir = join(root, spec.id);
  try {
    const cached = JSON.parse(await readFile(join(dir, ".complete.json"), "utf8")) as Layout;
    if (JSON.stringify(cached.spec) === JSON.stringify(spec)) return cached;
  } catch {
    // not there or unreadable: generate
  }
  return generate(spec, dir);
}
