import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

/** Small HTTP(S) helpers on node:http; a new connection per request unless an agent is given. */

export interface RequestOptions {
  readonly headers?: Record<string, string | number>;
  readonly body?: Buffer | string | Readable;
  /** CA certificate (PEM) for https URLs. */
  readonly ca?: string | undefined;
  readonly agent?: http.Agent | false;
  readonly timeoutMs?: number;
}

export interface Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  /** A response header as a single string ('' when absent). */
  header(name: string): string;
  json(): unknown;
}

export interface DigestResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** sha256 hex of the body and its length, computed while streaming. */
  readonly sha256: string;
  readonly length: number;
}

function open(
  method: string,
  url: string,
  options: RequestOptions,
  onResponse: (res: IncomingMessage) => void,
  onError: (err: Error) => void,
  manual = false,
): http.ClientRequest {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  const req = lib.request(u, {
    method,
    headers: options.headers,
    agent: options.agent ?? false,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
  });
  req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${url}: timed out`)));
  req.once('response', onResponse);
  req.once('error', onError);
  const body = options.body;
  if (manual) return req;
  if (body === undefined) req.end();
  else if (typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
  else {
    body.once('error', (err) => req.destroy(err));
    body.pipe(req);
  }
  return req;
}

function wrap(status: number, headers: IncomingHttpHeaders, body: Buffer): Response {
  return {
    status,
    headers,
    body,
    header: (name) => {
      const v = headers[name.toLowerCase()];
      return Array.isArray(v) ? v.join(', ') : (v ?? '');
    },
    json: () => JSON.parse(body.toString('utf8')) as unknown,
  };
}

/** Sends a request and reads the whole response body. */
export function request(method: string, url: string, options: RequestOptions = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    open(
      method,
      url,
      options,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () => resolve(wrap(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
      },
      reject,
    );
  });
}

/** Sends a request and hashes the response body as it streams (for big blobs). */
export function requestDigest(method: string, url: string, options: RequestOptions = {}): Promise<DigestResponse> {
  return new Promise((resolve, reject) => {
    open(
      method,
      url,
      options,
      (res) => {
        const hash = createHash('sha256');
        let length = 0;
        res.on('data', (c: Buffer) => {
          hash.update(c);
          length += c.length;
        });
        res.once('error', reject);
        res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, sha256: hash.digest('hex'), length }));
      },
      reject,
    );
  });
}

export interface SlowRequest {
  readonly req: http.ClientRequest;
  /** Resolves with the response, or rejects when the connection fails. */
  readonly response: Promise<Response>;
  write(chunk: Buffer): Promise<void>;
  end(): void;
}

/**
 * A request whose body the caller writes piece by piece (a slow or interrupted upload).
 * Set Content-Length in `headers` for a fixed-length body, or leave it out for chunked.
 */
export function slowRequest(method: string, url: string, options: Omit<RequestOptions, 'body'> = {}): SlowRequest {
  let req!: http.ClientRequest;
  const response = new Promise<Response>((resolve, reject) => {
    req = open(
      method,
      url,
      { ...options, body: undefined },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.once('error', reject);
        res.once('end', () => resolve(wrap(res.statusCode ?? 0, res.headers, Buffer.concat(chunks))));
      },
      reject,
      true,
    );
  });
  return {
    req,
    response,
    write: (chunk) =>
      new Promise<void>((resolve, reject) => {
        req.write(chunk, (err) => (err ? reject(err) : resolve()));
      }),
    end: () => req.end(),
  };
}
