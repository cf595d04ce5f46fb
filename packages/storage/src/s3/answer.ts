/** The head of an HTTP/1.1 answer, as relay.ts reads it off the socket. */
export interface AnswerHead {
  readonly status: number;
  /** Header names lowercased; a repeated header keeps its last value. */
  readonly headers: ReadonlyMap<string, string>;
  /** Whether the connection may carry another request after this answer. */
  readonly keepAlive: boolean;
}

/**
 * An S3 error answer, shaped like the SDK's errors (`name` is S3's error code, e.g.
 * NoSuchKey or SlowDown, `$metadata.httpStatusCode` the status) so that retry.ts
 * classifies both alike.
 */
export class S3AnswerError extends Error {
  readonly $metadata: { readonly httpStatusCode: number };

  constructor(status: number, code: string, message: string) {
    super(message);
    this.name = code;
    this.$metadata = { httpStatusCode: status };
  }
}

/** A connection failure with a Node-style `code` (ECONNRESET, ETIMEDOUT...), which retry.ts treats as retryable. */
export class ConnectionError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'ConnectionError';
  }
}

/** Parses `HTTP/1.x <status> <reason>` and the header lines after it (without the blank line). */
export function parseHead(text: string): AnswerHead {
  const lines = text.split('\r\n');
  const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '');
  if (m === null) throw new ConnectionError('EPROTO', `not an HTTP/1.x answer: ${JSON.stringify((lines[0] ?? '').slice(0, 100))}`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new ConnectionError('EPROTO', `bad header line: ${JSON.stringify(line.slice(0, 100))}`);
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const connection = (headers.get('connection') ?? '').toLowerCase();
  const keepAlive = m[1] === '1' ? connection !== 'close' : connection === 'keep-alive';
  return { status: Number(m[2]), headers, keepAlive };
}

/** The length an answer declares; undefined when it has none or is chunked (the relay needs a length). */
export function contentLength(head: AnswerHead): number | undefined {
  if (head.headers.has('transfer-encoding')) return undefined;
  const v = head.headers.get('content-length');
  return v !== undefined && /^\d{1,15}$/.test(v) ? Number(v) : undefined;
}

/** The bytes [from, to] a 200 or 206 answer of `length` bytes holds. */
export function answeredRange(head: AnswerHead, length: number): { from: number; to: number } | undefined {
  if (head.status === 200) return { from: 0, to: length - 1 };
  const m = /^bytes (\d+)-(\d+)\/(?:\d+|\*)$/.exec(head.headers.get('content-range') ?? '');
  if (m === null) return undefined;
  const range = { from: Number(m[1]), to: Number(m[2]) };
  return range.to - range.from + 1 === length ? range : undefined;
}

/** The error an S3 error answer stands for, from its XML body (Code and Message), or its status alone. */
export function answerError(status: number, body: string): S3AnswerError {
  const code = /<Code>([^<]{1,100})<\/Code>/.exec(body)?.[1];
  const message = /<Message>([^<]{0,300})<\/Message>/.exec(body)?.[1];
  return new S3AnswerError(status, code ?? (status === 404 ? 'NotFound' : `HTTP${status}`), message ?? `S3 answered ${status}`);
}
