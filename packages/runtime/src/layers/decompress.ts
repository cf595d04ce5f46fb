import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import { InvalidTarError } from './errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const CHUNK = 512 * 1024;

/** A decompressed layer: iterate `chunks` to the end, then await `done()` (the decoder's verdict). */
export interface LayerSource {
  readonly compression: Compression;
  readonly chunks: AsyncIterable<Buffer>;
  done(): Promise<void>;
  /** Stops early (on an error elsewhere): closes the file and any decoder process. */
  destroy(): void;
}

/**
 * Opens a layer blob and decompresses it by its magic bytes (gzip 1f 8b, zstd 28 b5 2f fd,
 * else a plain tar), not by the manifest's media type, which docker-era images get wrong.
 * gzip: node:zlib. zstd: Node 20's zlib has none; Debian's `zstd -dc` as a child process
 * reading the blob's file descriptor directly decodes ~4x faster than the pure-JS fzstd
 * (≈230 vs ≈60 MB/s measured here) and runs on the other core while we write files.
 */
export async function openLayer(path: string): Promise<LayerSource> {
  const handle = await open(path, 'r');
  const magic = Buffer.alloc(4);
  const { bytesRead } = await handle.read(magic, 0, 4, 0);
  const compression: Compression =
    bytesRead >= 2 && magic[0] === 0x1f && magic[1] === 0x8b ? 'gzip' : bytesRead === 4 && magic.readUInt32LE(0) === 0xfd2fb528 ? 'zstd' : 'none';
  if (compression === 'zstd') {
    const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: [handle.fd, 'pipe', 'pipe'] });
    const { stdout, stderr: errStream } = child;
    if (stdout === null || errStream === null) throw new Error('zstd: no pipes');
    let stderr = '';
    errStream.setEncoding('utf8').on('data', (d: string) => {
      if (stderr.length < 2000) stderr += d;
    });
    const exited = new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code) => resolve(code));
    });
    exited.catch(() => undefined);
    return {
      compression,
      chunks: stdout,
      async done() {
        try {
          const code = await exited.catch((err: Error) => {
            throw new Error(`zstd: ${err.message} (is Debian's zstd installed?)`);
          });
          if (code !== 0) throw new InvalidTarError(`zstd layer does not decompress: ${stderr.trim() || `exit ${code}`}`);
        } finally {
          await handle.close();
        }
      },
      destroy() {
        child.kill();
        void handle.close().catch(() => undefined);
      },
    };
  }
  const file = createReadStream('', { fd: handle, highWaterMark: CHUNK, autoClose: true });
  if (compression === 'none') {
    return { compression, chunks: file, async done() {}, destroy: () => file.destroy() };
  }
  const gunzip = createGunzip({ chunkSize: CHUNK });
  file.on('error', (err) => gunzip.destroy(err));
  file.pipe(gunzip);
  return {
    compression,
    chunks: gunzip,
    async done() {},
    destroy() {
      file.destroy();
      gunzip.destroy();
    },
  };
}
