import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { InvalidTarError } from './errors.js';

export type Compression = 'gzip' | 'zstd' | 'none';

const CHUNK = 512 * 1024;

/** A decompressed layer: iterate `chunks` to the end, then await `done()` (the decoder's verdict). */
export interface LayerSource {
  readonly compression: Compression;
  readonly chunks: AsyncIterable<Buffer>;
  done(): Promise<void>;
  /** Stops early (on an error elsewhere): closes the file or stream and any decoder process. */
  destroy(): void;
}

/** Where a layer's compressed bytes come from: a blob file, or a stream (a download being teed). */
export type LayerInput = { readonly path: string } | { readonly stream: AsyncIterable<Buffer> };

/**
 * Opens a layer and decompresses it by its magic bytes (gzip 1f 8b, zstd 28 b5 2f fd,
 * else a plain tar), not by the manifest's media type, which docker-era images get wrong.
 * gzip: node:zlib. zstd: Node 20's zlib has none; Debian's `zstd -dc` as a child process
 * (reading a blob's file descriptor directly) decodes ~4x faster than the pure-JS fzstd
 * (≈230 vs ≈60 MB/s measured here) and runs on the other core while we write files.
 */
export async function openLayer(input: LayerInput): Promise<LayerSource> {
  if ('path' in input) {
    const handle = await open(input.path, 'r');
    try {
      const magic = Buffer.alloc(4);
      const { bytesRead } = await handle.read(magic, 0, 4, 0);
      return decode(compressionOf(magic.subarray(0, bytesRead)), { handle });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }
  // peek at the first bytes of the stream, then hand the decoder all of it
  const it = input.stream[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let have = 0;
  let ended = false;
  while (have < 4) {
    const next = await it.next();
    if (next.done === true) {
      ended = true;
      break;
    }
    head.push(next.value);
    have += next.value.length;
  }
  async function* all(): AsyncGenerator<Buffer> {
    yield* head;
    if (ended) return;
    for (let next = await it.next(); next.done !== true; next = await it.next()) yield next.value;
  }
  const stream = Readable.from(all(), { objectMode: false });
  stream.once('close', () => void it.return?.());
  return decode(compressionOf(Buffer.concat(head).subarray(0, 4)), { stream });
}

function compressionOf(magic: Buffer): Compression {
  if (magic.length >= 2 && magic[0] === 0x1f && magic[1] === 0x8b) return 'gzip';
  if (magic.length === 4 && magic.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  return 'none';
}

function decode(compression: Compression, from: { handle: FileHandle } | { stream: Readable }): LayerSource {
  const closeInput = (): void => {
    if ('handle' in from) void from.handle.close().catch(() => undefined);
    else from.stream.destroy();
  };
  if (compression === 'zstd') return zstd(from, closeInput);
  const input = 'handle' in from ? createReadStream('', { fd: from.handle, highWaterMark: CHUNK, autoClose: true }) : from.stream;
  if (compression === 'none') return { compression, chunks: input, async done() {}, destroy: () => input.destroy() };
  const gunzip = process.getBuiltinModule('node:zlib').createGunzip({ chunkSize: CHUNK });
  input.on('error', (err: Error) => gunzip.destroy(err));
  input.pipe(gunzip);
  return {
    compression,
    chunks: gunzip,
    async done() {},
    destroy() {
      input.destroy();
      gunzip.destroy();
    },
  };
}

function zstd(from: { handle: FileHandle } | { stream: Readable }, closeInput: () => void): LayerSource {
  const child = spawn('zstd', ['-d', '-c', '-q'], { stdio: ['handle' in from ? from.handle.fd : 'pipe', 'pipe', 'pipe'] });
  const { stdin, stdout, stderr: errStream } = child;
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
  // a stream is fed to zstd's stdin; its failure (a broken download) must fail the unpack
  const fed = 'stream' in from && stdin !== null ? pipeline(from.stream, stdin) : Promise.resolve();
  fed.catch(() => child.kill());
  return {
    compression: 'zstd',
    chunks: stdout,
    async done() {
      try {
        await fed;
        const code = await exited.catch((err: Error) => {
          throw new Error(`zstd: ${err.message} (is Debian's zstd installed?)`);
        });
        if (code !== 0) throw new InvalidTarError(`zstd layer does not decompress: ${stderr.trim() || `exit ${code}`}`);
      } finally {
        closeInput();
      }
    },
    destroy() {
      child.kill();
      closeInput();
    },
  };
}
