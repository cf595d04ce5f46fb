import { Agent, request as plainRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type RequestOptions } from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { connectTunnel, proxyAuthorization, proxyFor } from './proxy.js';
import { trustedCas } from './trust.js';

/**
 * One HTTP/1.1 exchange on Node's own http/https modules, with keep-alive agents shared by
 * the process. (undici costs ~100 ms to import and its WebAssembly parser delays process
 * exit by as much again: too much for a CLI whose no-op pull should take a few tens of ms.)
 *
 * Contracts: the promise resolves once the response headers are in; the body is a
 * Readable the caller must consume, or `dump()` (drains small bodies so the connection is
 * reused, destroys big ones). GET and HEAD follow redirects (at most MAX_REDIRECTS), without
 * the Authorization header once the origin changes. A connection idle for IDLE_TIMEOUT_MS
 * (no bytes either way) fails with ETIMEDOUT. Socket errors keep their Node codes
 * (ECONNRESET, ECONNREFUSED, ...), which errors.ts classes as retryable.
 */
export interface ResponseBody extends Readable {
  /** The whole body as UTF-8 (at most TEXT_LIMIT bytes: it is an error message or a token). */
  text(): Promise<string>;
  json(): Promise<unknown>;
  dump(): Promise<void>;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: ResponseBody;
}

export interface HttpRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer | Readable | undefined;
  readonly signal?: AbortSignal | undefined;
}

const MAX_REDIRECTS = 5;
const IDLE_TIMEOUT_MS = 60_000;
const TEXT_LIMIT = 4 * 1024 * 1024;
/** dump() reads at most this much to keep the connection; a bigger body closes it. */
const DUMP_LIMIT = 256 * 1024;
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 16, scheduling: 'lifo' } as const;

let plainAgent: Agent | undefined;
let proxyAgent: Agent | undefined;
let tls: Promise<{ request: typeof plainRequest; agent: Agent }> | undefined;

/** node:https (and its TLS stack) is loaded only for the first https URL. */
async function transportFor(url: URL): Promise<{ request: typeof plainRequest; agent: Agent }> {
  if (url.protocol === 'http:') {
    plainAgent ??= new Agent(AGENT_OPTIONS);
    return { request: plainRequest, agent: plainAgent };
  }
  if (url.protocol !== 'https:') throw new Error(`unsupported URL scheme ${url.protocol}`);
  tls ??= import('node:https').then(async (https) => {
    const ca = await trustedCas();
    return { request: https.request, agent: new https.Agent({ ...AGENT_OPTIONS, ...(ca !== undefined ? { ca: [...ca] } : {}) }) };
  });
  return tls;
}

export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  let url = new URL(req.url);
  let headers: Record<string, string> = { ...req.headers };
  for (let redirects = 0; ; redirects++) {
    const res = await exchange(url, req.method, headers, req.body, req.signal);
    const location = res.headers.location;
    const follow = (req.method === 'GET' || req.method === 'HEAD') && [301, 302, 303, 307, 308].includes(res.statusCode ?? 0) && location !== undefined;
    if (!follow) return wrap(res, req.method);
    await dump(res);
    if (redirects >= MAX_REDIRECTS) throw new Error(`more than ${MAX_REDIRECTS} redirects from ${req.url.split('?')[0] ?? ''}`);
    const next = new URL(location, url);
    if (next.origin !== url.origin) {
      headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
    }
    url = next;
  }
}

async function exchange(url: URL, method: string, headers: Record<string, string>, body: Buffer | Readable | undefined, signal: AbortSignal | undefined): Promise<IncomingMessage> {
  const { request, agent } = await transportFor(url);
  const sent = { ...headers };
  if (Buffer.isBuffer(body) && !Object.keys(sent).some((k) => k.toLowerCase() === 'content-length')) sent['content-length'] = String(body.length);
  let target: URL | RequestOptions = url;
  let options: RequestOptions = { method, headers: sent, agent, ...(signal !== undefined ? { signal } : {}) };
  const proxy = proxyFor(url);
  if (proxy !== undefined && url.protocol === 'http:') {
    // plain HTTP through a proxy: the absolute URL as the request target
    proxyAgent ??= new Agent(AGENT_OPTIONS);
    target = { host: proxy.hostname, port: proxy.port !== '' ? proxy.port : 80, path: url.href };
    options = { ...options, agent: proxyAgent, headers: { ...sent, host: url.host, ...proxyAuthorization(proxy) } };
  } else if (proxy !== undefined) {
    // https through a proxy: TLS to the registry inside a CONNECT tunnel (one per request)
    const tunnel = await connectTunnel(proxy, url, signal);
    const ca = await trustedCas();
    const secure = (await import('node:tls')).connect({ socket: tunnel, servername: url.hostname, ...(ca !== undefined ? { ca: [...ca] } : {}) });
    // no agent at all: only then does node:http use createConnection (agent: false makes a new Agent)
    options = { method, headers: sent, ...(signal !== undefined ? { signal } : {}), createConnection: () => secure };
  }
  return new Promise<IncomingMessage>((resolve, reject) => {
    let req: ClientRequest;
    try {
      const onResponse = (res: IncomingMessage): void => {
        // an error before the caller reads (e.g. a reset mid-body) stays on the stream for
        // its reader (pipeline, for await) instead of crashing the process
        res.on('error', () => undefined);
        resolve(res);
      };
      req = target instanceof URL ? request(target, options, onResponse) : request({ ...options, ...target }, onResponse);
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    req.on('error', reject);
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error(`no data for ${IDLE_TIMEOUT_MS / 1000} s`), { code: 'ETIMEDOUT' })));
    if (body === undefined) req.end();
    else if (Buffer.isBuffer(body)) req.end(body);
    else {
      // a failure on either side destroys both (no file left open); the request's 'error' rejects
      pipeline(body, req, () => undefined);
    }
  });
}

function wrap(res: IncomingMessage, method: string): HttpResponse {
  const body = Object.assign(res, {
    text: () => text(res),
    json: async (): Promise<unknown> => JSON.parse(await text(res)) as unknown,
    dump: () => dump(res, method === 'HEAD'),
  });
  return { status: res.statusCode ?? 0, headers: res.headers, body };
}

async function text(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > TEXT_LIMIT) {
      res.destroy();
      throw new Error(`response body larger than ${TEXT_LIMIT} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function dump(res: IncomingMessage, head = false): Promise<void> {
  // a complete but unread body still holds the socket until 'end': read it
  if (res.readableEnded || res.destroyed) return Promise.resolve();
  const declared = head ? 0 : Number(res.headers['content-length'] ?? Number.NaN);
  if (declared > DUMP_LIMIT && !res.complete) {
    res.destroy();
    return Promise.resolve();
  }
  return new Promise<void>((resolve) => {
    let seen = 0;
    res.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > DUMP_LIMIT) res.destroy();
    });
    res.once('end', resolve);
    res.once('close', resolve);
    res.resume();
  });
}
