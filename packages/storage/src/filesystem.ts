import { close as closeCb, createReadStream, createWriteStream, open as openCb } from 'node:fs';
import { promisify } from 'node:util';
import { mkdir, open, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobInfo, BlobStore, ByteRange } from './blob-store.js';
import { BackgroundSync } from './background-sync.js';
import { BlobNotFoundError, UploadNotFoundError, UploadOffsetError } from './errors.js';
import { sendFile } from './send-file.js';
import { checkDigest, checkUploadId, isUploadId } from './keys.js';

/**
 * Blobs as plain files under one root:
 *
 *   <root>/
 *     blobs/<algorithm>/<first two hex>/<hex>   committed blob bytes, never rewritten
 *     uploads/<uuid>                            an upload in progress
 *
 * Both trees are on the same file system, so a commit is fsync(upload) + rename +
 * fsync(directory): a blob is either complete and durable under its name or absent.
 */
const openFd = promisify(openCb);

/** Uploads start writing back to disk every this many bytes (see BackgroundSync). */
const BACKGROUND_SYNC_BYTES = 32 * 1024 * 1024;

export class FilesystemBlobStore implements BlobStore {
  readonly driverName = 'filesystem';
  private readonly blobsDir: string;
  private readonly uploadsDir: string;

  private constructor(readonly root: string) {
    this.blobsDir = join(root, 'blobs');
    this.uploadsDir = join(root, 'uploads');
  }

  static async open(root: string): Promise<FilesystemBlobStore> {
    const store = new FilesystemBlobStore(root);
    await mkdir(store.blobsDir, { recursive: true });
    await mkdir(store.uploadsDir, { recursive: true });
    return store;
  }

  private blobPath(digest: string): string {
    const { algorithm, hex } = checkDigest(digest);
    return join(this.blobsDir, algorithm, hex.slice(0, 2), hex);
  }

  private uploadPath(id: string): string {
    return join(this.uploadsDir, checkUploadId(id));
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const s = await stat(this.blobPath(digest));
      return { size: s.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A plain descriptor of a committed blob (cheaper per request than a FileHandle). */
  private async openBlob(digest: string): Promise<number> {
    try {
      return await openFd(this.blobPath(digest), 'r');
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(digest);
      throw err;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    // The stream closes the descriptor.
    return createReadStream('', {
      fd: await this.openBlob(digest),
      highWaterMark: 1024 * 1024,
      ...(range !== undefined ? { start: range.start, end: range.end } : {}),
    });
  }

  async writeTo(digest: string, range: ByteRange | undefined, size: number, dest: Writable): Promise<void> {
    const fd = await this.openBlob(digest);
    if (size === 0 && range === undefined) {
      closeCb(fd, () => undefined);
      return;
    }
    await sendFile(fd, range?.start ?? 0, range?.end ?? size - 1, dest);
  }

  async startUpload(id: string): Promise<void> {
    const fh = await open(this.uploadPath(id), 'wx');
    await fh.close();
  }

  async append(id: string, offset: number, data: Readable, signal?: AbortSignal): Promise<number> {
    const path = this.uploadPath(id);
    let fh;
    try {
      fh = await open(path, 'r+');
    } catch (err) {
      if (isNotFound(err)) throw new UploadNotFoundError(id);
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      if (offset > size) throw new UploadOffsetError(id, size, offset);
      // Drop whatever a failed or unrecorded append left past the accepted size.
      if (size > offset) await fh.truncate(offset);
      // The stream has a descriptor of its own: destroying it must not close `fh`.
      const out = createWriteStream(path, { flags: 'r+', start: offset, highWaterMark: 1024 * 1024 });
      const syncer = new BackgroundSync(fh, BACKGROUND_SYNC_BYTES);
      try {
        await pipeline(data, syncer, out, ...(signal !== undefined ? [{ signal }] : []));
      } catch (err) {
        // pipeline settles after `out` closed, so no write of it can land after this.
        await syncer.settled();
        await fh.truncate(offset);
        throw err;
      }
      await syncer.settled();
      return offset + out.bytesWritten;
    } finally {
      await fh.close();
    }
  }

  async uploadSize(id: string): Promise<number | undefined> {
    try {
      return (await stat(this.uploadPath(id))).size;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async readUpload(id: string): Promise<Readable> {
    try {
      const fd = await open(this.uploadPath(id), 'r');
      return createReadStream('', { fd, highWaterMark: 1024 * 1024 });
    } catch (err) {
      if (isNotFound(err)) throw new UploadNotFoundError(id);
      throw err;
    }
  }

  async commit(id: string, digest: string): Promise<void> {
    const from = this.uploadPath(id);
    const to = this.blobPath(digest);
    let fh;
    try {
      fh = await open(from, 'r+');
    } catch (err) {
      if (isNotFound(err)) throw new UploadNotFoundError(id);
      throw err;
    }
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const dir = join(to, '..');
    await mkdir(dir, { recursive: true });
    // Same content under the same digest: replacing an existing blob is harmless.
    await rename(from, to);
    await syncDir(dir);
  }

  async cancel(id: string): Promise<void> {
    await rm(this.uploadPath(id), { force: true });
  }

  async delete(digest: string): Promise<boolean> {
    try {
      await unlink(this.blobPath(digest));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async *list(): AsyncIterable<string> {
    for (const algorithm of await readdirOrEmpty(this.blobsDir)) {
      for (const shard of await readdirOrEmpty(join(this.blobsDir, algorithm))) {
        for (const hex of await readdirOrEmpty(join(this.blobsDir, algorithm, shard))) {
          const digest = `${algorithm}:${hex}`;
          if (typeof checkDigestSafe(digest) === 'string') yield digest;
        }
      }
    }
  }

  async *listUploads(): AsyncIterable<string> {
    for (const name of await readdirOrEmpty(this.uploadsDir)) {
      if (isUploadId(name)) yield name;
    }
  }
}

function checkDigestSafe(digest: string): string | undefined {
  try {
    return checkDigest(digest).digest;
  } catch {
    return undefined;
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'ENOENT';
}
