import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rm, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  PutObjectCommand,
  UploadPartCommand,
  UploadPartCopyCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { BlobInfo, BlobStore, ByteRange } from '../blob-store.js';
import type { BlobCatalog, UploadPart, UploadState } from '../catalog.js';
import { BlobNotFoundError, StorageUnavailableError, UploadNotFoundError, UploadOffsetError } from '../errors.js';
import { checkDigest, checkUploadId, isUploadId } from '../keys.js';
import { createS3Client } from './client.js';
import { MAX_PARTS, MIN_PART_SIZE, type S3StoreOptions } from './options.js';
import { PartWriter, type SpoolFile } from './part-writer.js';
import { UrlSigner } from './presign.js';
import { relayGet } from './relay.js';
import { ConnectionPool } from './connections.js';
import { pumpInto } from './pump.js';
import { exactRange } from './slice.js';
import { isNotFound, withRetry } from './retry.js';

/**
 * Blobs in an S3 bucket:
 *
 *   <prefix>/uploads/<upload id>     one object per upload, written by a multipart upload
 *
 * and, on local disk, <spoolDir>/<upload id>.<seq>: the bytes of an upload not yet sent
 * as a part. An upload streams into an S3 multipart upload whose parts are gathered on
 * local disk (never in memory); its state (multipart id, parts and their ETags, the
 * spool file) is kept in the catalog after every append, so it resumes after a restart.
 *
 * Commit does not copy: the multipart upload is completed to the upload's own key and
 * the catalog records that key as the digest's location, in the same transaction that
 * ends the upload state. A digest already located keeps its object; the new upload is
 * aborted. stat answers from the catalog alone; reads are ranged GETs of the located key:
 * `read` through the SDK, `writeTo` (the registry's streamed blob GETs) through relay.ts,
 * which fetches a locally pre-signed URL over its own pooled connections at a fraction
 * of the CPU. presignedUrl signs locally too (presign.ts): no S3 call.
 * Every S3 call has a deadline and bounded retries (withRetry); when they run out the
 * operation fails with StorageUnavailableError, having changed nothing visible.
 */
/** Lifetime of the pre-signed URLs writeTo fetches itself (used at once). */
const RELAY_URL_SECONDS = 900;

export class S3BlobStore implements BlobStore {
  readonly driverName = 's3';
  private readonly client: S3Client;
  private readonly catalog: BlobCatalog;
  private readonly prefix: string;
  private readonly signer: UrlSigner;
  private readonly connections = new ConnectionPool();

  private constructor(private readonly options: S3StoreOptions) {
    if (options.partSize < MIN_PART_SIZE) throw new RangeError(`S3 part size must be at least ${MIN_PART_SIZE} bytes`);
    this.client = createS3Client(options);
    this.signer = new UrlSigner(this.client, options.bucket);
    this.catalog = options.catalog;
    const p = options.prefix.replace(/^\/+|\/+$/g, '');
    this.prefix = p === '' ? '' : `${p}/`;
  }

  static async open(options: S3StoreOptions): Promise<S3BlobStore> {
    await mkdir(options.spoolDir, { recursive: true });
    return new S3BlobStore(options);
  }

  /** Closes the client's sockets and the relay's idle connections. */
  destroy(): void {
    this.client.destroy();
    this.connections.close();
  }

  private uploadKey(id: string): string {
    return `${this.prefix}uploads/${checkUploadId(id)}`;
  }

  private spoolPath(id: string, seq: number): string {
    return join(this.options.spoolDir, `${id}.${seq}`);
  }

  /**
   * One S3 call with bounded retries. `work` scales the deadline of calls that move
   * bytes: `bytes` sent at no less than 256 KiB/s (a stalled socket is cut sooner, by
   * the idle timeout), or `slow` for S3's own long operations (completing a multipart
   * upload may take minutes on AWS).
   */
  private send<T>(operation: string, call: (signal: AbortSignal) => Promise<T>, cancel?: AbortSignal, work?: { bytes?: number; slow?: boolean }): Promise<T> {
    const base = this.options.retry.timeout;
    const timeout = work?.slow === true ? base * 10 : base + Math.round(((work?.bytes ?? 0) / (256 * 1024)) * 1000);
    return withRetry(operation, { ...this.options.retry, timeout }, call, cancel);
  }

  /** The size parts have from `number` on: partSize, doubling every 2,000 parts (so 10,000 parts reach about 1 TiB at 16 MiB). */
  private partSize(number: number): number {
    return this.options.partSize * 2 ** Math.floor((number - 1) / 2000);
  }

  private encryption(): Record<string, string> {
    const o = this.options;
    return {
      ...(o.storageClass !== undefined ? { StorageClass: o.storageClass } : {}),
      ...(o.serverSideEncryption !== undefined ? { ServerSideEncryption: o.serverSideEncryption } : {}),
      ...(o.kmsKeyId !== undefined ? { SSEKMSKeyId: o.kmsKeyId } : {}),
    };
  }

  // --- reader ---

  async stat(digest: string): Promise<BlobInfo | undefined> {
    const loc = await this.catalog.location(checkDigest(digest).digest);
    return loc === undefined ? undefined : { size: loc.size };
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    const loc = await this.catalog.location(checkDigest(digest).digest);
    if (loc === undefined) throw new BlobNotFoundError(digest);
    if (loc.size === 0) return Readable.from([]);
    return this.getObject(loc.key, range, digest);
  }

  private async getObject(key: string, range: ByteRange | undefined, digest?: string): Promise<Readable> {
    try {
      const out = await this.send('GetObject', (abortSignal) =>
        this.client.send(
          new GetObjectCommand({ Bucket: this.options.bucket, Key: key, ...(range !== undefined ? { Range: `bytes=${range.start}-${range.end}` } : {}) }),
          { abortSignal },
        ),
      );
      if (!(out.Body instanceof Readable)) throw new StorageUnavailableError('GetObject', 'no body');
      return range === undefined ? out.Body : exactRange(out.Body, range, out.ContentRange);
    } catch (err) {
      if (isNotFound(err) && digest !== undefined) throw new BlobNotFoundError(digest);
      throw err;
    }
  }

  /**
   * Relays the blob (or `range`) from S3 into `dest` (relay.ts: pooled connections,
   * no allocation per chunk), retrying until S3 answered; then bytes flow and a failure
   * cuts `dest` off. The client leaving ends it at once.
   */
  async writeTo(digest: string, range: ByteRange | undefined, _size: number, dest: Writable): Promise<void> {
    const loc = await this.catalog.location(checkDigest(digest).digest);
    if (loc === undefined) throw new BlobNotFoundError(digest);
    if (loc.size === 0) return;
    if (dest.destroyed || dest.writableEnded) throw new Error('the destination is closed');
    const want = range ?? { start: 0, end: loc.size - 1 };
    const gone = new AbortController();
    const onClose = (): void => gone.abort(new Error('the destination closed before the blob was sent'));
    dest.once('close', onClose);
    let relay;
    try {
      relay = await this.send(
        'GetObject',
        async (signal) => relayGet(this.connections, new URL(await this.signer.url(loc.key, RELAY_URL_SECONDS)), want, dest, { timeout: this.options.retry.timeout, signal }),
        gone.signal,
      );
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFoundError(digest);
      throw err;
    } finally {
      dest.off('close', onClose);
    }
    // An answer without a length (chunked) is read through the SDK instead.
    if (relay === undefined) return pumpInto(await this.getObject(loc.key, range, digest), dest);
    await relay.done;
  }

  /** A pre-signed GET URL of a committed blob, valid presignExpiry seconds; made without calling S3. */
  async presignedUrl(digest: string): Promise<string | undefined> {
    const loc = await this.catalog.location(checkDigest(digest).digest);
    if (loc === undefined) return undefined;
    return this.signer.url(loc.key, this.options.presignExpiry);
  }

  // --- ingester ---

  private async state(id: string): Promise<UploadState> {
    const state = await this.catalog.uploadState(checkUploadId(id));
    if (state === undefined) throw new UploadNotFoundError(id);
    return state;
  }

  async startUpload(id: string): Promise<void> {
    checkUploadId(id);
    await this.catalog.saveUploadState(id, { sealed: 0, parts: [], tail: 0, segment: 0 });
    await (await open(this.spoolPath(id, 0), 'w')).close();
  }

  async uploadSize(id: string): Promise<number | undefined> {
    const state = await this.catalog.uploadState(checkUploadId(id));
    return state === undefined ? undefined : sizeOf(state);
  }

  async append(id: string, offset: number, data: Readable, signal?: AbortSignal): Promise<number> {
    let state = await this.state(id);
    const size = sizeOf(state);
    const sent = size - state.tail;
    // Bytes already sent as parts cannot be taken back; an append may only rewind its tail.
    if (offset > size || offset < sent) throw new UploadOffsetError(id, size, offset);
    signal?.throwIfAborted();
    if (offset < size) {
      state = { ...state, tail: offset - sent };
      await this.catalog.saveUploadState(id, state);
    }
    const first: SpoolFile = { seq: state.segment, path: this.spoolPath(id, state.segment), length: state.tail };
    await truncateOrCreate(first.path, first.length);
    // A sealed upload continues in a new multipart upload that starts with its sealed bytes.
    if (state.sealed > 0) state = await this.startMultipart(id, await this.dropUnfinishedStart(id, state));
    let current = state;
    // Parts are sent concurrently: the first one to need the multipart upload creates it, once.
    let starting: Promise<UploadState> | undefined;
    const writer = new PartWriter({
      first,
      pathOf: (seq) => this.spoolPath(id, seq),
      firstPart: state.parts.length + 1,
      partSize: (n) => this.partSize(n),
      concurrency: this.options.concurrency,
      upload: async (number, file, partSignal) => {
        if (current.multipartId === undefined) {
          starting ??= this.startMultipart(id, current);
          current = await starting;
        }
        return this.uploadPart(id, current.multipartId as string, number, file, partSignal);
      },
    });
    try {
      await pipeline(data, writer, ...(signal !== undefined ? [{ signal }] : []));
    } catch (err) {
      await Promise.all(writer.created().map((p) => rm(p, { force: true })));
      await truncate(first.path, first.length).catch(() => undefined);
      throw err;
    }
    const rest = writer.remainder;
    await truncateOrCreate(rest.path, rest.length);
    const parts = [...current.parts, ...writer.parts].sort((a, b) => a.number - b.number);
    const next: UploadState = { ...current, parts, tail: rest.length, segment: rest.seq };
    await this.catalog.saveUploadState(id, next);
    if (rest.seq !== first.seq) await rm(first.path, { force: true });
    return sizeOf(next);
  }

  /** Creates the multipart upload (recorded at once, so a cancel can abort it), carrying sealed bytes over by server-side part copies. */
  private async startMultipart(id: string, state: UploadState): Promise<UploadState> {
    const key = this.uploadKey(id);
    const created = await this.send('CreateMultipartUpload', (abortSignal) =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket: this.options.bucket, Key: key, ...this.encryption() }), { abortSignal }),
    );
    const multipartId = created.UploadId;
    if (multipartId === undefined) throw new StorageUnavailableError('CreateMultipartUpload', 'no upload id');
    let next: UploadState = { ...state, multipartId };
    await this.catalog.saveUploadState(id, next);
    if (state.sealed > 0) {
      const parts: UploadPart[] = [];
      const copyMax = 5 * 1024 ** 3;
      for (let start = 0, number = 1; start < state.sealed; start += copyMax, number++) {
        const end = Math.min(state.sealed, start + copyMax) - 1;
        const out = await this.send('UploadPartCopy', (abortSignal) =>
          this.client.send(
            new UploadPartCopyCommand({
              Bucket: this.options.bucket,
              Key: key,
              UploadId: multipartId,
              PartNumber: number,
              CopySource: `${this.options.bucket}/${key}`,
              CopySourceRange: `bytes=${start}-${end}`,
            }),
            { abortSignal },
          ),
          undefined,
          { slow: true },
        );
        const etag = out.CopyPartResult?.ETag;
        if (etag === undefined) throw new StorageUnavailableError('UploadPartCopy', 'no ETag');
        parts.push({ number, etag, size: end - start + 1 });
      }
      next = { ...next, sealed: 0, parts };
      await this.catalog.saveUploadState(id, next);
    }
    return next;
  }

  /**
   * A sealed upload whose next multipart upload was created but not yet given the sealed
   * bytes (a crash in startMultipart): that multipart upload is aborted and forgotten.
   */
  private async dropUnfinishedStart(id: string, state: UploadState): Promise<UploadState> {
    if (state.sealed === 0 || state.multipartId === undefined) return state;
    await this.abortMultipart(id, state.multipartId);
    const next: UploadState = { sealed: state.sealed, parts: [], tail: state.tail, segment: state.segment };
    await this.catalog.saveUploadState(id, next);
    return next;
  }

  private async uploadPart(id: string, multipartId: string, number: number, file: SpoolFile, signal?: AbortSignal): Promise<UploadPart> {
    if (number > MAX_PARTS) throw new StorageUnavailableError('UploadPart', `an upload has at most ${MAX_PARTS} parts`);
    const out = await this.send(
      'UploadPart',
      (abortSignal) =>
        this.client.send(
          new UploadPartCommand({
            Bucket: this.options.bucket,
            Key: this.uploadKey(id),
            UploadId: multipartId,
            PartNumber: number,
            ContentLength: file.length,
            // A fresh stream per attempt: a retry sends the part again from disk.
            Body: file.length === 0 ? Buffer.alloc(0) : createReadStream(file.path, { start: 0, end: file.length - 1, highWaterMark: 1024 * 1024 }),
          }),
          { abortSignal },
        ),
      signal,
      { bytes: file.length },
    );
    if (out.ETag === undefined) throw new StorageUnavailableError('UploadPart', 'no ETag');
    return { number, etag: out.ETag, size: file.length };
  }

  /**
   * The upload's bytes so far. Parts of a multipart upload in progress cannot be read
   * back from S3, so the upload is sealed first: its parts are completed into the
   * upload's object, which later appends copy server-side into a new multipart upload.
   * Only a restart (the running hash lost) makes the registry read an upload back.
   */
  async readUpload(id: string): Promise<Readable> {
    let state = await this.state(id);
    if (state.multipartId !== undefined) state = await this.seal(id, state);
    const tailPath = this.spoolPath(id, state.segment);
    const tail = state.tail;
    const sealed = state.sealed > 0 ? await this.getObject(this.uploadKey(id), { start: 0, end: state.sealed - 1 }) : undefined;
    async function* bytes(): AsyncGenerator<Buffer> {
      if (sealed !== undefined) for await (const chunk of sealed) yield chunk as Buffer;
      if (tail > 0) for await (const chunk of createReadStream(tailPath, { start: 0, end: tail - 1, highWaterMark: 1024 * 1024 })) yield chunk as Buffer;
    }
    return Readable.from(bytes(), { objectMode: false });
  }

  private async seal(id: string, state: UploadState): Promise<UploadState> {
    const multipartId = state.multipartId as string;
    if (state.parts.length === 0) {
      await this.abortMultipart(id, multipartId);
    } else {
      await this.completeMultipart(id, multipartId, state.parts);
    }
    const sealed = state.sealed + state.parts.reduce((n, p) => n + p.size, 0);
    const next: UploadState = { sealed, parts: [], tail: state.tail, segment: state.segment };
    await this.catalog.saveUploadState(id, next);
    return next;
  }

  private async completeMultipart(id: string, multipartId: string, parts: readonly UploadPart[]): Promise<void> {
    const key = this.uploadKey(id);
    const expected = parts.reduce((n, p) => n + p.size, 0);
    try {
      await this.send('CompleteMultipartUpload', (abortSignal) =>
        this.client.send(
          new CompleteMultipartUploadCommand({
            Bucket: this.options.bucket,
            Key: key,
            UploadId: multipartId,
            MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.number, ETag: p.etag })) },
          }),
          { abortSignal },
        ),
        undefined,
        { slow: true },
      );
    } catch (err) {
      // Completed before, and the answer (or our record of it) was lost: the object is there.
      if (isNotFound(err) && (await this.objectSize(key)) === expected) return;
      throw err;
    }
  }

  private async objectSize(key: string): Promise<number | undefined> {
    try {
      const head = await this.send('HeadObject', (abortSignal) => this.client.send(new HeadObjectCommand({ Bucket: this.options.bucket, Key: key }), { abortSignal }));
      return head.ContentLength;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private async abortMultipart(id: string, multipartId: string): Promise<void> {
    try {
      await this.send('AbortMultipartUpload', (abortSignal) =>
        this.client.send(new AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: this.uploadKey(id), UploadId: multipartId }), { abortSignal }),
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  async commit(id: string, digest: string): Promise<void> {
    const { digest: canonical } = checkDigest(digest);
    let state = await this.state(id);
    if ((await this.catalog.location(canonical)) !== undefined) {
      // The blob is stored already: this upload's bytes are not needed.
      await this.cancel(id);
      return;
    }
    const key = this.uploadKey(id);
    const size = sizeOf(state);
    const tail: SpoolFile = { seq: state.segment, path: this.spoolPath(id, state.segment), length: state.tail };
    if (state.sealed > 0) {
      state = await this.dropUnfinishedStart(id, state);
      // With no tail, the sealed object is the whole blob already.
      if (state.tail > 0) state = await this.startMultipart(id, state);
    }
    if (state.multipartId !== undefined) {
      const parts = [...state.parts];
      if (tail.length > 0 || parts.length === 0) parts.push(await this.uploadPart(id, state.multipartId, parts.length + 1, tail));
      await this.completeMultipart(id, state.multipartId, parts);
    } else if (state.sealed === 0) {
      await this.send('PutObject', (abortSignal) =>
        this.client.send(
          new PutObjectCommand({
            Bucket: this.options.bucket,
            Key: key,
            ContentLength: tail.length,
            Body: tail.length === 0 ? Buffer.alloc(0) : createReadStream(tail.path, { start: 0, end: tail.length - 1, highWaterMark: 1024 * 1024 }),
            ...this.encryption(),
          }),
          { abortSignal },
        ),
        undefined,
        { bytes: tail.length },
      );
    }
    // The object is complete under `key`; recording it is what makes the blob visible.
    const added = await this.catalog.addLocation(canonical, { key, size }, id);
    if (!added) await this.deleteObject(key);
    await this.removeSpool(id);
  }

  async cancel(id: string): Promise<void> {
    const state = await this.catalog.uploadState(checkUploadId(id));
    if (state !== undefined) {
      if (state.multipartId !== undefined) await this.abortMultipart(id, state.multipartId);
      // A sealed upload, or one completed just before a crash, left an object.
      if (state.sealed > 0 || state.multipartId !== undefined) await this.deleteObject(this.uploadKey(id));
      await this.catalog.removeUploadState(id);
    }
    await this.removeSpool(id);
  }

  private async deleteObject(key: string): Promise<void> {
    try {
      await this.send('DeleteObject', (abortSignal) => this.client.send(new DeleteObjectCommand({ Bucket: this.options.bucket, Key: key }), { abortSignal }));
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  private async removeSpool(id: string): Promise<void> {
    const prefix = `${id}.`;
    for (const name of await readdir(this.options.spoolDir)) {
      if (name.startsWith(prefix)) await rm(join(this.options.spoolDir, name), { force: true });
    }
  }

  /**
   * Aborts multipart uploads under this store's prefix that no upload state names and
   * that were started before `before` (ms since the epoch): left by a crash between
   * S3 creating one and the state recording it. Resolves with how many were aborted.
   */
  async abortStrayMultipartUploads(before: number): Promise<number> {
    const prefix = `${this.prefix}uploads/`;
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    for (;;) {
      const out = await this.send('ListMultipartUploads', (abortSignal) =>
        this.client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.options.bucket,
            Prefix: prefix,
            ...(keyMarker !== undefined ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker !== undefined ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
          { abortSignal },
        ),
      );
      for (const u of out.Uploads ?? []) {
        const id = u.Key?.slice(prefix.length) ?? '';
        if (!isUploadId(id) || u.UploadId === undefined) continue;
        if (u.Initiated !== undefined && u.Initiated.getTime() >= before) continue;
        if ((await this.catalog.uploadState(id))?.multipartId === u.UploadId) continue;
        await this.abortMultipart(id, u.UploadId);
        aborted++;
      }
      if (out.IsTruncated !== true) return aborted;
      keyMarker = out.NextKeyMarker;
      uploadIdMarker = out.NextUploadIdMarker;
    }
  }

  // --- manager ---

  async delete(digest: string): Promise<boolean> {
    const { digest: canonical } = checkDigest(digest);
    const loc = await this.catalog.location(canonical);
    if (loc === undefined) return false;
    await this.deleteObject(loc.key);
    return (await this.catalog.removeLocation(canonical)) !== undefined;
  }

  list(): AsyncIterable<string> {
    return this.catalog.digests();
  }

  async *listUploads(): AsyncIterable<string> {
    const seen = new Set<string>();
    for await (const id of this.catalog.uploadIds()) {
      seen.add(id);
      yield id;
    }
    // Spool files without a state: left by a crash during a cancel.
    for (const name of await readdir(this.options.spoolDir)) {
      const id = name.slice(0, name.indexOf('.'));
      if (isUploadId(id) && !seen.has(id)) {
        seen.add(id);
        yield id;
      }
    }
  }
}

function sizeOf(state: UploadState): number {
  return state.sealed + state.parts.reduce((n, p) => n + p.size, 0) + state.tail;
}

/** Cuts a spool file to `length`, creating it (empty) when missing. */
async function truncateOrCreate(path: string, length: number): Promise<void> {
  const fh = await open(path, 'a');
  try {
    await fh.truncate(length);
  } finally {
    await fh.close();
  }
}
