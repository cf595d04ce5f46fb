import type { Writable } from 'node:stream';
import type { ByteRange } from '../blob-store.js';
import { BufferPool } from '../buffer-pool.js';
import { answerError, answeredRange, ConnectionError, contentLength, parseHead, S3AnswerError, type AnswerHead } from './answer.js';
import type { Connection, ConnectionPool, ConnectionUser } from './connections.js';

/**
 * Body reads go into a ring of RING buffers of SLOT bytes, each reused once the
 * destination flushed it: 256 KiB per relay. Larger slots (up to 1 MiB) measured no less
 * CPU: a socket read rarely returns more than 64 KiB.
 */
const SLOT = 64 * 1024;
const RING = 4;
const BUFFERS = new BufferPool(SLOT, 256);
const MAX_HEAD = 64 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

export interface Relay {
  /** Settles once the destination took the last byte; rejects when S3, the connection or the destination fails midway. */
  readonly done: Promise<void>;
}

export interface RelayOptions {
  /** A connection idle this long (nothing read while reading is wanted) fails with ETIMEDOUT. */
  readonly timeout: number;
  /** Aborts the request until S3 has answered. */
  readonly signal: AbortSignal;
}

/**
 * GETs bytes `range` of `url` (a pre-signed S3 URL) over a pooled keep-alive connection
 * and relays them into `dest` (which it does not end), allocating nothing per chunk:
 * the socket reads straight into a ring of pooled buffers, each written to `dest` as it
 * is and read into again only after `dest` flushed it (that is the backpressure). Node's
 * HTTP client instead allocates a buffer per socket read and runs its parser and a
 * Readable per chunk, which costs several times the CPU on large blobs.
 *
 * Resolves once S3 answered with the bytes asked for (a server answering a wider range,
 * or ignoring Range, is cut to it), before any byte reached `dest`. Resolves undefined
 * when the answer has no Content-Length (chunked): the caller reads it another way.
 * Rejects with S3AnswerError for an S3 error answer, ConnectionError for a connection
 * that failed or timed out, or the signal's reason.
 */
export function relayGet(pool: ConnectionPool, url: URL, range: ByteRange, dest: Writable, options: RelayOptions): Promise<Relay | undefined> {
  return new Promise((resolve, reject) => {
    new Exchange(pool, url, range, dest, options, resolve, reject).begin(false);
  });
}

type State = 'head' | 'error-body' | 'body' | 'draining' | 'done' | 'failed';

class Exchange implements ConnectionUser {
  private state: State = 'head';
  private conn: Connection | undefined;
  private retried = false;
  private sawBytes = false;
  private headText = '';
  private head: AnswerHead | undefined;
  private errorParts: Buffer[] = [];
  private errorLeft = 0;
  /** Bytes to drop before the range (a wider answer), bytes of the range still to relay, bytes of the answer still on the wire. */
  private skip = 0;
  private want = 0;
  private left = 0;
  private ring: Buffer[] = [];
  private readonly pending = new Array<number>(RING).fill(0);
  /** The ring slot the next read goes into. */
  private cur = 0;
  private paused = false;
  private writes = 0;
  private settleDone: { resolve: () => void; reject: (err: Error) => void } | undefined;

  constructor(
    private readonly pool: ConnectionPool,
    private readonly url: URL,
    private readonly range: ByteRange,
    private readonly dest: Writable,
    private readonly options: RelayOptions,
    private readonly resolveHead: (relay: Relay | undefined) => void,
    private readonly rejectHead: (err: unknown) => void,
  ) {}

  private readonly onAbort = (): void => this.fail(toError(this.options.signal.reason));
  private readonly onDestClose = (): void => this.fail(new Error('the destination closed before the blob was sent'));
  private readonly onDestError = (err: Error): void => this.fail(err);

  /** Sends the request, on a fresh connection when `fresh` (a reused one was found closed). */
  begin(fresh: boolean): void {
    if (!fresh) {
      if (this.options.signal.aborted) return this.rejectHead(this.options.signal.reason);
      if (this.dest.destroyed || this.dest.writableEnded) return this.rejectHead(new Error('the destination is closed'));
      this.options.signal.addEventListener('abort', this.onAbort, { once: true });
      this.dest.once('close', this.onDestClose);
      this.dest.once('error', this.onDestError);
    }
    const conn = fresh ? this.pool.fresh(this.url) : this.pool.take(this.url);
    this.conn = conn;
    conn.attach(this, this.options.timeout);
    const u = this.url;
    conn.socket.write(`GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nRange: bytes=${this.range.start}-${this.range.end}\r\nUser-Agent: berth-registry\r\n\r\n`, 'latin1');
  }

  onGone(err: Error): void {
    const conn = this.conn;
    // A kept-alive connection the server closed meanwhile: once more on a new one.
    if (this.state === 'head' && !this.sawBytes && !this.retried && conn !== undefined && conn.uses > 0) {
      this.retried = true;
      this.begin(true);
      return;
    }
    this.fail(err);
  }

  onRead(n: number, buf: Buffer): boolean {
    this.sawBytes = true;
    try {
      switch (this.state) {
        case 'head':
          return this.readHead(buf.toString('latin1', 0, n));
        case 'error-body':
          return this.readErrorBody(Buffer.from(buf.subarray(0, n)));
        case 'body':
          return this.readBody(buf.subarray(0, n), this.cur);
        default:
          this.fail(new ConnectionError('EPROTO', 'S3 sent more than its answer'));
          return false;
      }
    } catch (err) {
      this.fail(toError(err));
      return false;
    }
  }

  private readHead(text: string): boolean {
    this.headText += text;
    for (;;) {
      const end = this.headText.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.headText.length > MAX_HEAD) throw new ConnectionError('EPROTO', 'S3 answered a head over 64 KiB');
        return true;
      }
      const head = parseHead(this.headText.slice(0, end));
      this.headText = this.headText.slice(end + 4);
      // 1xx heads are followed by the real one.
      if (head.status >= 200) {
        this.head = head;
        break;
      }
    }
    // Bytes read past the head are in the connection's head buffer: copied, as it is read into again.
    const rest = Buffer.from(this.headText, 'latin1');
    this.headText = '';
    const head = this.head;
    if (head.status === 200 || head.status === 206) return this.startBody(head, rest);
    const length = contentLength(head);
    if (length === undefined || length > MAX_ERROR_BODY) {
      this.failHead(answerError(head.status, rest.toString('utf8')));
      return false;
    }
    this.state = 'error-body';
    this.errorLeft = length;
    return this.readErrorBody(rest);
  }

  private readErrorBody(chunk: Buffer): boolean {
    this.errorParts.push(chunk);
    this.errorLeft -= chunk.length;
    if (this.errorLeft > 0) return true;
    const head = this.head as AnswerHead;
    this.finishHead(this.errorLeft === 0 && head.keepAlive);
    this.state = 'failed';
    this.rejectHead(answerError(head.status, Buffer.concat(this.errorParts).toString('utf8')));
    return this.errorLeft === 0;
  }

  private startBody(head: AnswerHead, first: Buffer): boolean {
    const length = contentLength(head);
    if (length === undefined) {
      this.finishHead(false);
      this.state = 'done';
      this.resolveHead(undefined);
      return false;
    }
    const got = answeredRange(head, length);
    if (got === undefined || got.from > this.range.start || got.to < this.range.end) {
      const what = head.headers.get('content-range') ?? `${length} bytes`;
      this.failHead(new S3AnswerError(head.status, 'InvalidRangeAnswer', `S3 answered ${what} for bytes=${this.range.start}-${this.range.end}`));
      return false;
    }
    this.skip = this.range.start - got.from;
    this.want = this.range.end - this.range.start + 1;
    this.left = length;
    this.state = 'body';
    this.options.signal.removeEventListener('abort', this.onAbort);
    const done = new Promise<void>((resolve, reject) => {
      this.settleDone = { resolve, reject };
    });
    // Settled before the caller may await it (a failure right away is not unhandled).
    done.catch(() => undefined);
    this.resolveHead({ done });
    for (let i = 0; i < RING; i++) this.ring.push(BUFFERS.take());
    (this.conn as Connection).next = this.ring[0] as Buffer;
    return this.readBody(first, -1);
  }

  /** Relays `chunk`, read into ring slot `slot` (-1: a copy of its own), and points the next read at the next free slot. */
  private readBody(chunk: Buffer, slot: number): boolean {
    if (chunk.length > this.left) throw new ConnectionError('EPROTO', 'S3 sent more than its Content-Length');
    this.left -= chunk.length;
    let c = chunk;
    if (this.skip > 0) {
      const n = Math.min(this.skip, c.length);
      this.skip -= n;
      c = c.subarray(n);
    }
    if (this.want > 0 && c.length > 0) {
      const piece = c.subarray(0, this.want);
      this.want -= piece.length;
      this.write(piece, slot);
    }
    if (this.want === 0) {
      // The rest of a wider answer is not read: that connection is closed, not reused.
      this.state = 'draining';
      this.finishHead(this.left === 0 && (this.head as AnswerHead).keepAlive);
      this.complete();
      return this.left === 0;
    }
    if (slot === -1) return true;
    this.cur = (slot + 1) % RING;
    (this.conn as Connection).next = this.ring[this.cur] as Buffer;
    if ((this.pending[this.cur] ?? 0) > 0) {
      this.pause();
      return false;
    }
    return true;
  }

  private write(piece: Buffer, slot: number): void {
    this.writes++;
    if (slot >= 0) this.pending[slot] = (this.pending[slot] ?? 0) + 1;
    this.dest.write(piece, (err) => {
      this.writes--;
      if (slot >= 0) this.pending[slot] = (this.pending[slot] ?? 0) - 1;
      if (err !== undefined && err !== null) {
        this.fail(err);
        return;
      }
      if (this.paused && slot === this.cur && this.pending[slot] === 0) this.resume();
      this.complete();
    });
  }

  /** Stops reading until the slot the next read goes into is flushed; no idle deadline meanwhile (a slow client is not S3's fault). */
  private pause(): void {
    this.paused = true;
    this.conn?.socket.setTimeout(0);
  }

  private resume(): void {
    this.paused = false;
    if (this.state !== 'body' || this.conn === undefined) return;
    this.conn.socket.setTimeout(this.options.timeout);
    this.conn.socket.resume();
  }

  /** Resolves `done` once every byte was relayed and flushed. */
  private complete(): void {
    if (this.state !== 'draining' || this.writes > 0) return;
    this.state = 'done';
    for (const b of this.ring) BUFFERS.give(b);
    this.ring = [];
    this.settleDone?.resolve();
  }

  /** Gives the connection back (kept alive when `reusable`) and stops listening to the caller's signal and destination. */
  private finishHead(reusable: boolean): void {
    this.options.signal.removeEventListener('abort', this.onAbort);
    this.dest.off('close', this.onDestClose);
    this.dest.off('error', this.onDestError);
    const conn = this.conn;
    this.conn = undefined;
    conn?.release(reusable);
  }

  private failHead(err: Error): void {
    this.finishHead(false);
    this.state = 'failed';
    this.rejectHead(err);
  }

  private fail(err: Error): void {
    const was = this.state;
    if (was === 'done' || was === 'failed') return;
    this.state = 'failed';
    this.options.signal.removeEventListener('abort', this.onAbort);
    this.dest.off('close', this.onDestClose);
    this.dest.off('error', this.onDestError);
    this.conn?.destroy();
    this.conn = undefined;
    // Buffers a write may still hold are left to the collector, never reused.
    this.ring = [];
    if (was === 'head' || was === 'error-body') this.rejectHead(err);
    else this.settleDone?.reject(err);
  }
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}
