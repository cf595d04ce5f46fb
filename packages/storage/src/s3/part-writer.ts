import { open, rm, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';
import type { UploadPart } from '../catalog.js';

/** A spool file: bytes gathered on local disk until they make a part. */
export interface SpoolFile {
  readonly seq: number;
  readonly path: string;
  readonly length: number;
}

export interface PartWriterOptions {
  /** The upload's tail file, whose first `length` bytes are kept; writing continues after them. */
  readonly first: SpoolFile;
  /** Path of the spool file with sequence number `seq`. */
  readonly pathOf: (seq: number) => string;
  /** Number of the first part this writer cuts. */
  readonly firstPart: number;
  readonly partSize: (partNumber: number) => number;
  readonly concurrency: number;
  /** Sends a full spool file as a part. */
  readonly upload: (partNumber: number, file: SpoolFile, signal: AbortSignal) => Promise<UploadPart>;
}

/**
 * Gathers a stream on local disk into parts of partSize and sends each full part while
 * the next one fills, at most `concurrency` at once (the stream waits beyond that, so
 * disk use stays bounded). Memory holds only the chunk in flight. After `finish`,
 * `parts` are the parts sent and `remainder` the file holding the bytes after them.
 * Spool files other than `first` are removed once sent; `first` is left for the caller
 * (it is the state to return to if this append fails). On failure `created()` lists
 * what to remove.
 */
export class PartWriter extends Writable {
  readonly parts: UploadPart[] = [];
  private cur: { seq: number; path: string; length: number; fh: FileHandle | undefined };
  private nextPart: number;
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private failure: unknown;
  private readonly made: string[] = [];

  constructor(private readonly opts: PartWriterOptions) {
    super({ highWaterMark: 1024 * 1024 });
    this.cur = { ...opts.first, fh: undefined };
    this.nextPart = opts.firstPart;
  }

  get remainder(): SpoolFile {
    return { seq: this.cur.seq, path: this.cur.path, length: this.cur.length };
  }

  /** Spool files this writer created (not `first`). */
  created(): readonly string[] {
    return this.made;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.take(chunk).then(() => cb(), (err: unknown) => cb(asError(err)));
  }

  override _final(cb: (err?: Error | null) => void): void {
    (async () => {
      await Promise.all([...this.inflight]);
      if (this.failure !== undefined) throw asError(this.failure);
      await this.closeCurrent();
    })().then(() => cb(), (err: unknown) => cb(asError(err)));
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.abort.abort(err ?? new Error('part writer destroyed'));
    (async () => {
      await Promise.allSettled([...this.inflight]);
      await this.closeCurrent().catch(() => undefined);
    })().then(() => cb(err), () => cb(err));
  }

  private async take(chunk: Buffer): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      if (this.failure !== undefined) throw asError(this.failure);
      const fh = (this.cur.fh ??= await open(this.cur.path, this.cur.seq === this.opts.first.seq ? 'r+' : 'w'));
      const room = this.opts.partSize(this.nextPart) - this.cur.length;
      const piece = rest.subarray(0, room);
      let written = 0;
      while (written < piece.length) {
        const { bytesWritten } = await fh.write(piece, written, piece.length - written, this.cur.length + written);
        written += bytesWritten;
      }
      this.cur.length += piece.length;
      rest = rest.subarray(piece.length);
      if (this.cur.length === this.opts.partSize(this.nextPart)) await this.cut();
    }
  }

  /** Sends the current file as the next part and starts a new one. */
  private async cut(): Promise<void> {
    await this.closeCurrent();
    const file: SpoolFile = { seq: this.cur.seq, path: this.cur.path, length: this.cur.length };
    const number = this.nextPart++;
    const isFirst = file.seq === this.opts.first.seq;
    const sending = this.opts.upload(number, file, this.abort.signal).then(
      async (part) => {
        this.parts.push(part);
        if (!isFirst) await rm(file.path, { force: true });
      },
      (err: unknown) => {
        this.failure ??= err;
        this.abort.abort(err);
      },
    );
    const tracked: Promise<void> = sending.finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
    const seq = this.cur.seq + 1;
    const path = this.opts.pathOf(seq);
    this.made.push(path);
    this.cur = { seq, path, length: 0, fh: undefined };
    while (this.inflight.size >= this.opts.concurrency) await Promise.race([...this.inflight]);
  }

  private async closeCurrent(): Promise<void> {
    const fh = this.cur.fh;
    this.cur.fh = undefined;
    await fh?.close();
  }
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
