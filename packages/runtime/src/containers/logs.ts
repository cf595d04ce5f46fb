/**
 * Reading a detached container's log, written by conmon in the k8s-file format: one record
 * per line, "<RFC 3339 time> <stdout|stderr> <F|P> <text>", where P marks a partial line
 * (the text had no newline yet). Records are streamed, never the whole file in memory;
 * --tail keeps only the last N full lines.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

export interface LogRecord {
  readonly time: string;
  readonly stream: 'stdout' | 'stderr';
  /** The text, with its newline when the record ends a line. */
  readonly text: string;
}

export interface LogSink {
  write(record: LogRecord): void;
}

export interface ReadLogOptions {
  /** Only the last N lines (undefined: all). */
  readonly tail?: number;
  /** Keep reading as the log grows, until `ended()` answers true and nothing new came. */
  readonly follow?: boolean;
  readonly ended?: () => boolean | Promise<boolean>;
  /** Start at this byte offset (attach: only what comes from now on). */
  readonly offset?: number;
  readonly signal?: AbortSignal;
}

const POLL_MS = 50;
const CHUNK = 64 * 1024;
/** A record longer than this is cut (conmon writes at most 8 KiB per record). */
const MAX_LINE = 1024 * 1024;

export function parseRecord(line: string): LogRecord | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a <= 0 || b <= a || c <= b) return undefined;
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = line.slice(b + 1, c);
  const text = line.slice(c + 1);
  return { time: line.slice(0, a), stream, text: tag.startsWith('P') ? text : `${text}\n` };
}

/** Streams the log's records to `sink`; resolves when the file is read (and, with follow, the container ended). */
export async function readLog(path: string, sink: LogSink, o: ReadLogOptions = {}): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    let pos = o.offset ?? 0;
    let pending = '';
    const buffer = Buffer.alloc(CHUNK);
    const tail: LogRecord[] = [];
    let tailing = o.tail !== undefined;
    let lines = 0;
    const emit = (line: string): void => {
      const r = parseRecord(line);
      if (r === undefined) return;
      if (!tailing) {
        sink.write(r);
        return;
      }
      tail.push(r);
      if (r.text.endsWith('\n')) lines++;
      // drop whole lines from the front once more than N are held
      while (lines > (o.tail ?? 0) && tail.length > 0) {
        const dropped = tail.shift();
        if (dropped?.text.endsWith('\n') === true) lines--;
      }
    };
    const drain = async (): Promise<boolean> => {
      let any = false;
      for (;;) {
        const { bytesRead } = await fh.read(buffer, 0, CHUNK, pos);
        if (bytesRead === 0) return any;
        any = true;
        pos += bytesRead;
        pending += buffer.toString('utf8', 0, bytesRead);
        let nl: number;
        while ((nl = pending.indexOf('\n')) !== -1) {
          emit(pending.slice(0, nl));
          pending = pending.slice(nl + 1);
        }
        if (pending.length > MAX_LINE) {
          emit(pending);
          pending = '';
        }
      }
    };
    await drain();
    for (const r of tail.splice(0)) sink.write(r);
    // from here every record goes straight out
    tailing = false;
    if (o.follow !== true) return;
    for (;;) {
      if (o.signal?.aborted === true) return;
      const got = await drain();
      if (!got) {
        if (o.ended !== undefined && (await o.ended())) {
          // one more read: output written just before the end
          await drain();
          return;
        }
        await sleep(POLL_MS);
      }
    }
  } finally {
    await fh.close();
  }
}
