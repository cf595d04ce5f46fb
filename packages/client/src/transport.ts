import type { Readable } from 'node:stream';
import { basicHeader, parseChallenge, parseTokenResponse, TokenCache, type Challenge, type Credentials } from './auth.js';
import { describe, errorCode, isRetryable, RegistryError } from './errors.js';
import { httpRequest, type ResponseBody } from './http.js';
import { DEFAULT_RETRY, withRetries, type RetryPolicy } from './retry.js';

export interface TransportOptions {
  /** Registry host as in image references, e.g. "127.0.0.1:5000" or "ghcr.io". */
  readonly registry: string;
  readonly credentials?: Credentials;
  /** Plain HTTP even though the host is not loopback. */
  readonly insecure?: boolean;
  readonly retry?: RetryPolicy;
  readonly userAgent?: string;
}

export interface Response {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: ResponseBody;
}

export interface SendOptions {
  readonly method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** A path (from /v2/...) or an absolute URL, e.g. an upload Location. */
  readonly path: string;
  /** Token scopes this request needs, e.g. ["repository:team/app:pull"]. */
  readonly scopes: readonly string[];
  readonly headers?: Readonly<Record<string, string>>;
  /** A body factory, so the request can be sent again after a challenge or a retry. */
  readonly body?: () => Buffer | Readable;
  /** Single-use stream bodies cannot be re-sent: no retries, no second auth round. */
  readonly replayable?: boolean;
  /** One attempt without credentials: the first answer, whatever its status. */
  readonly anonymous?: boolean;
  readonly signal?: AbortSignal | undefined;
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])(?::\d+)?$/;

/** http for loopback hosts and hosts marked insecure, https otherwise. */
export function registryBaseUrl(registry: string, insecure = false): string {
  const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
  return `${insecure || LOOPBACK.test(host) ? 'http' : 'https'}://${host}`;
}

/**
 * HTTP to one registry: base URL, authentication (challenge learned once, then answered
 * up front), and retries with backoff for network errors, 5xx and 429 on replayable
 * requests. Every response body must be consumed or dumped by the caller.
 */
export class Transport {
  readonly base: string;
  private challenge: Challenge | undefined;
  private readonly tokens = new TokenCache();
  private readonly retry: RetryPolicy;

  constructor(readonly options: TransportOptions) {
    this.base = registryBaseUrl(options.registry, options.insecure);
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  url(path: string): string {
    return new URL(path, this.base).toString();
  }

  async send(opts: SendOptions): Promise<Response> {
    if (opts.anonymous === true) return this.attempt(opts, undefined);
    const once = async (): Promise<Response> => {
      let res = await this.attempt(opts, await this.authorization(opts.scopes, opts.signal));
      if (res.status === 401) {
        const challenge = parseChallenge(firstHeader(res.headers['www-authenticate']));
        // one more round with the (new) challenge answered: first contact, an expired or too narrow token
        const replay = opts.replayable !== false && challenge !== undefined;
        if (!replay) {
          await res.body.dump();
          throw this.unauthorized();
        }
        await res.body.dump();
        this.challenge = challenge;
        this.tokens.drop(opts.scopes.join(' '));
        res = await this.attempt(opts, await this.authorization(opts.scopes, opts.signal));
        if (res.status === 401) {
          await res.body.dump();
          throw this.unauthorized();
        }
      }
      if ((res.status >= 500 || res.status === 429) && opts.replayable !== false) {
        const text = await res.body.text().catch(() => '');
        throw new RegistryError('server', `${this.options.registry}: ${opts.method} ${pathOf(opts.path)}: HTTP ${res.status}${registryMessage(text)}`, true, res.status);
      }
      return res;
    };
    return opts.replayable === false ? once() : withRetries(this.retry, once, opts.signal);
  }

  private unauthorized(): RegistryError {
    return new RegistryError(
      'unauthorized',
      this.options.credentials === undefined
        ? `${this.options.registry}: authentication required (give credentials)`
        : `${this.options.registry}: authentication failed for user "${this.options.credentials.username}"`,
      false,
      401,
    );
  }

  private async attempt(opts: SendOptions, auth: string | undefined): Promise<Response> {
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent ?? 'berth', ...opts.headers };
    if (auth !== undefined) headers['authorization'] = auth;
    try {
      return await httpRequest({ url: this.url(opts.path), method: opts.method, headers, body: opts.body?.(), signal: opts.signal });
    } catch (err) {
      // transient failures are retried; others (no such host, TLS refused) are final, same words
      const code = errorCode(err);
      if (isRetryable(err) || (code !== undefined && /^(E[A-Z]+|ERR_TLS_\w+|[A-Z_]*CERT[A-Z_]*)$/.test(code))) {
        throw new RegistryError('unreachable', `cannot reach registry ${this.options.registry} (${this.base}): ${describe(err)}`, isRetryable(err));
      }
      throw err;
    }
  }

  /** The Authorization header for these scopes, fetching a token when the registry wants Bearer. */
  private async authorization(scopes: readonly string[], signal: AbortSignal | undefined): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    const creds = this.options.credentials;
    if (challenge.scheme === 'basic') return creds !== undefined ? basicHeader(creds) : undefined;
    const key = scopes.join(' ');
    const cached = this.tokens.get(key);
    if (cached !== undefined) return `Bearer ${cached}`;
    const realm = challenge.params['realm'];
    if (realm === undefined) throw new RegistryError('protocol', `${this.options.registry}: Bearer challenge without a realm`);
    const url = new URL(realm, this.base);
    const service = challenge.params['service'];
    if (service !== undefined) url.searchParams.set('service', service);
    for (const s of scopes) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { 'user-agent': this.options.userAgent ?? 'berth' };
    if (creds !== undefined) headers['authorization'] = basicHeader(creds);
    const res = await withRetries(this.retry, async () => {
      try {
        const r = await httpRequest({ url: url.toString(), method: 'GET', headers, signal });
        if (r.status >= 500 || r.status === 429) {
          await r.body.dump();
          throw new RegistryError('server', `${this.options.registry}: token server answered HTTP ${r.status}`, true, r.status);
        }
        return r;
      } catch (err) {
        if (isRetryable(err) && !(err instanceof RegistryError)) {
          throw new RegistryError('unreachable', `cannot reach token server ${url.origin}: ${describe(err)}`, true);
        }
        throw err;
      }
    }, signal);
    if (res.status === 401 || res.status === 403) {
      await res.body.dump();
      throw this.unauthorized();
    }
    if (res.status !== 200) {
      await res.body.dump();
      throw new RegistryError('protocol', `${this.options.registry}: token server answered HTTP ${res.status}`);
    }
    const parsed = parseTokenResponse(await res.body.json().catch(() => undefined));
    if (parsed === undefined) throw new RegistryError('protocol', `${this.options.registry}: token server sent no token`);
    this.tokens.set(key, parsed.token, parsed.expiresIn, parsed.issuedAt);
    return `Bearer ${parsed.token}`;
  }
}

export function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function pathOf(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

/** ": MESSAGE" from an OCI error body, or "". */
export function registryMessage(text: string): string {
  try {
    const body = JSON.parse(text) as { errors?: { code?: unknown; message?: unknown }[] };
    const e = body.errors?.[0];
    if (e === undefined) return '';
    const code = typeof e.code === 'string' ? e.code : '';
    const message = typeof e.message === 'string' ? e.message : '';
    return `: ${[code, message].filter((s) => s !== '').join(' ')}`;
  } catch {
    return '';
  }
}
