import { randomUUID, type Hash } from 'node:crypto';
import { Readable, Writable, pipeline as pipelineCb } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryError, createDigester, type DigestAlgorithm, type ParsedDigest } from '@berth/oci';
import type { MetadataStore, UploadSession } from '@berth/metadata';
import { isUploadId, type BlobStore } from '@berth/storage';
import { HashingCounter } from './hashing.js';
import { fromStorageError } from './storage-errors.js';

export interface UploadLimits {
  /** Largest blob accepted, in bytes. */
  readonly maxBlobSize: number;
  /** Upload sessions open at once. */
  readonly maxSessions: number;
}

/** The position a chunk claims (from Content-Range), inclusive. */
export interface ChunkRange {
  readonly start: number;
  readonly end: number;
}

/** Hash state of an upload, valid only while `offset` equals the upload's size. */
interface RunningHash {
  readonly algorithm: DigestAlgorithm;
  readonly hash: Hash;
  offset: number;
}

/**
 * Blob upload sessions: start, append chunks in order, complete with a digest, cancel.
 * Each session is a metadata row plus an upload in the blob store. Bytes are hashed as
 * they stream in; after a restart (no hash in memory) the stored bytes are hashed again
 * at completion. A blob becomes visible only after its size and digest are verified,
 * the store committed it, and the metadata linked it, in that order.
 */
export class UploadService {
  private readonly hashes = new Map<string, RunningHash>();
  /** Sessions with a request streaming into them; a second one is refused. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly blobs: BlobStore,
    private readonly metadata: MetadataStore,
    private readonly limits: UploadLimits,
  ) {}

  async start(repository: string): Promise<UploadSession> {
    if ((await this.metadata.countUploads()) >= this.limits.maxSessions) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many upload sessions are open; retry later', undefined, { 'Retry-After': '10' });
    }
    const id = randomUUID();
    try {
      await this.blobs.startUpload(id);
    } catch (err) {
      throw fromStorageError(err);
    }
    const now = Date.now();
    await this.metadata.createUpload(id, repository, now);
    return { id, repository, size: 0, createdAt: now, updatedAt: now };
  }

  /** The session, if `id` names one of this repository's uploads. */
  async get(repository: string, id: string): Promise<UploadSession> {
    const session = isUploadId(id) ? await this.metadata.getUpload(id) : undefined;
    if (session === undefined || session.repository !== repository) throw new RegistryError('BLOB_UPLOAD_UNKNOWN', undefined, { uuid: id.slice(0, 100) });
    return session;
  }

  /** Appends a chunk. `range`, when the client sent one, must start at the current size. */
  async append(repository: string, id: string, body: Readable, range: ChunkRange | undefined, signal?: AbortSignal): Promise<UploadSession> {
    const session = await this.get(repository, id);
    return this.exclusive(session, async () => this.appendChunk(session, body, range, signal));
  }

  /**
   * Completes an upload: appends the optional last chunk, verifies every given digest,
   * commits the blob and links it to the repository. On a digest mismatch the upload
   * is cancelled, as Distribution does.
   */
  async complete(
    repository: string,
    id: string,
    digests: readonly ParsedDigest[],
    body: Readable | undefined,
    range: ChunkRange | undefined,
    signal?: AbortSignal,
  ): Promise<{ digest: string; size: number }> {
    const session = await this.get(repository, id);
    return this.exclusive(session, async () => {
      const current = body === undefined ? session : await this.appendChunk(session, body, range, signal, digests[0]?.algorithm);
      try {
        return await this.finish(current, digests);
      } catch (err) {
        throw fromStorageError(err);
      }
    });
  }

  /** A monolithic upload in one request (POST ?digest=): a session that lives one request. */
  async monolithic(repository: string, digests: readonly ParsedDigest[], body: Readable, signal?: AbortSignal): Promise<{ digest: string; size: number }> {
    const session = await this.start(repository);
    try {
      return await this.complete(repository, session.id, digests, body, undefined, signal);
    } catch (err) {
      await this.cancel(repository, session.id).catch(() => undefined);
      throw err;
    }
  }

  async cancel(repository: string, id: string): Promise<void> {
    const session = await this.get(repository, id);
    try {
      await this.drop(session.id);
    } catch (err) {
      throw fromStorageError(err);
    }
  }

  /**
   * Ends every session untouched since `before`; returns how many. A session whose data
   * cannot be removed now (storage unavailable) stays, and the next purge tries again.
   */
  async purge(before: number, batch = 500): Promise<number> {
    let n = 0;
    for (;;) {
      const ids = (await this.metadata.listStaleUploads(before, batch)).filter((id) => !this.busy.has(id));
      let dropped = 0;
      for (const id of ids) {
        try {
          await this.drop(id);
          dropped++;
        } catch {
          // Left for the next purge.
        }
      }
      n += dropped;
      if (ids.length < batch || dropped === 0) return n;
    }
  }

  /** Removes upload data the metadata does not know (left by a crash between the two). */
  async removeOrphans(): Promise<number> {
    let n = 0;
    for await (const id of this.blobs.listUploads()) {
      if ((await this.metadata.getUpload(id)) === undefined) {
        await this.blobs.cancel(id);
        n++;
      }
    }
    return n;
  }

  /** Data first, then the session: if the store fails, the session stays to be dropped again. */
  private async drop(id: string): Promise<void> {
    this.hashes.delete(id);
    await this.blobs.cancel(id);
    await this.metadata.deleteUpload(id);
  }

  private async exclusive<T>(session: UploadSession, fn: () => Promise<T>): Promise<T> {
    if (this.busy.has(session.id)) {
      throw new RegistryError('RANGE_INVALID', 'another request is writing to this upload', undefined, rangeHeader(session.size));
    }
    this.busy.add(session.id);
    try {
      return await fn();
    } finally {
      this.busy.delete(session.id);
    }
  }

  private async appendChunk(
    session: UploadSession,
    body: Readable,
    range: ChunkRange | undefined,
    signal: AbortSignal | undefined,
    algorithm: DigestAlgorithm = 'sha256',
  ): Promise<UploadSession> {
    if (range !== undefined && range.start !== session.size) {
      throw new RegistryError('RANGE_INVALID', `chunk must start at ${session.size}`, undefined, rangeHeader(session.size));
    }
    let running = this.hashes.get(session.id);
    if (running !== undefined && running.offset !== session.size) {
      this.hashes.delete(session.id);
      running = undefined;
    }
    if (running === undefined && session.size === 0) {
      running = { algorithm, hash: createDigester(algorithm), offset: 0 };
      this.hashes.set(session.id, running);
    }
    const mismatch = (): Error =>
      new RegistryError('RANGE_INVALID', 'chunk length does not match Content-Range', undefined, rangeHeader(session.size));
    const counter = new HashingCounter(
      running?.hash,
      this.limits.maxBlobSize - session.size,
      range !== undefined ? { length: range.end - range.start + 1, error: mismatch } : undefined,
    );
    // Errors of the body (client gone) reach the store through `counter`.
    pipelineCb(body, counter, () => undefined);
    let size: number;
    try {
      size = await this.blobs.append(session.id, session.size, counter, signal);
    } catch (err) {
      // The hash has seen bytes the store dropped: it no longer describes the upload.
      this.hashes.delete(session.id);
      throw fromStorageError(err);
    }
    if (range !== undefined && size - session.size !== range.end - range.start + 1) {
      // The chunk's length disagrees with its Content-Range: undo it.
      this.hashes.delete(session.id);
      await this.discardTail(session);
      throw new RegistryError('RANGE_INVALID', 'chunk length does not match Content-Range', undefined, rangeHeader(session.size));
    }
    if (running !== undefined) running.offset = size;
    const now = Date.now();
    await this.metadata.setUploadSize(session.id, size, now);
    return { ...session, size, updatedAt: now };
  }

  private async finish(session: UploadSession, digests: readonly ParsedDigest[]): Promise<{ digest: string; size: number }> {
    const first = digests[0];
    if (first === undefined) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required');
    const stored = await this.blobs.uploadSize(session.id);
    if (stored === undefined) throw new RegistryError('BLOB_UPLOAD_UNKNOWN');
    if (stored < session.size) throw new RegistryError('BLOB_UPLOAD_INVALID', 'upload data is shorter than its recorded size; restart the upload');
    // A chunk cut off by a crash or a disconnect may have left bytes past the recorded size.
    if (stored > session.size) await this.discardTail(session);
    for (const d of digests) {
      const actual = await this.digestOf(session, d.algorithm);
      if (actual !== d.hex) {
        await this.drop(session.id);
        throw new RegistryError('DIGEST_INVALID', 'provided digest did not match uploaded content', { digest: d.digest });
      }
    }
    this.hashes.delete(session.id);
    if (await this.alreadyStored(first.digest, session.size)) {
      // Same digest, same bytes: keep the stored copy, drop the upload.
      await this.blobs.cancel(session.id);
    } else {
      await this.blobs.commit(session.id, first.digest);
    }
    await this.metadata.completeUpload(session.id, session.repository, first.digest, session.size);
    return { digest: first.digest, size: session.size };
  }

  /** True when the registry holds this blob already, in metadata and in the store. */
  private async alreadyStored(digest: string, size: number): Promise<boolean> {
    const known = await this.metadata.getAnyBlob(digest);
    if (known === undefined || known.size !== size) return false;
    return (await this.blobs.stat(digest))?.size === size;
  }

  /** Cuts the upload back to its recorded size (an empty append at that offset does). */
  private async discardTail(session: UploadSession): Promise<void> {
    this.hashes.delete(session.id);
    await this.blobs.append(session.id, session.size, Readable.from([]));
  }

  /** Hex digest of the upload's bytes: from the running hash, or by reading them again. */
  private async digestOf(session: UploadSession, algorithm: DigestAlgorithm): Promise<string> {
    const running = this.hashes.get(session.id);
    if (running !== undefined && running.algorithm === algorithm && running.offset === session.size) {
      return running.hash.copy().digest('hex');
    }
    const hash = createDigester(algorithm);
    await pipeline(
      await this.blobs.readUpload(session.id),
      new Writable({
        write(chunk: Buffer, _enc, cb) {
          hash.update(chunk);
          cb();
        },
      }),
    );
    return hash.digest('hex');
  }
}

/** The Range header the spec wants on upload responses: `0-<last byte>` (0-0 when empty). */
export function rangeHeader(size: number): Record<string, string> {
  return { Range: `0-${Math.max(0, size - 1)}` };
}

