/**
 * Registry authentication as docker does it: the registry's 401 carries a
 * `WWW-Authenticate` challenge; Basic means sending the credentials with every request,
 * Bearer means fetching a token for the request's scope from the realm (with the
 * credentials, or anonymously) and sending that. Tokens are kept per scope until shortly
 * before they expire.
 */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

export interface Challenge {
  readonly scheme: 'basic' | 'bearer';
  readonly params: Readonly<Record<string, string>>;
}

/** Parses the first Basic or Bearer challenge of a WWW-Authenticate header. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(basic|bearer)\b\s*(.*)$/i.exec(header);
  if (m === null) return undefined;
  const scheme = (m[1] ?? '').toLowerCase() as 'basic' | 'bearer';
  const params: Record<string, string> = {};
  const re = /([a-zA-Z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))/g;
  for (let p = re.exec(m[2] ?? ''); p !== null; p = re.exec(m[2] ?? '')) {
    const key = (p[1] ?? '').toLowerCase();
    params[key] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
  }
  return { scheme, params };
}

export function basicHeader(creds: Credentials): string {
  return `Basic ${Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64')}`;
}

/** A token and when to stop using it (ms since epoch). */
export interface CachedToken {
  readonly token: string;
  readonly expiresAt: number;
}

/** Seconds before expiry at which a token is no longer handed out. */
const EXPIRY_MARGIN_MS = 10_000;

export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>();

  get(scope: string, now = Date.now()): string | undefined {
    const t = this.tokens.get(scope);
    if (t === undefined) return undefined;
    if (t.expiresAt - EXPIRY_MARGIN_MS <= now) {
      this.tokens.delete(scope);
      return undefined;
    }
    return t.token;
  }

  set(scope: string, token: string, expiresInSeconds: number, issuedAt?: number, now = Date.now()): void {
    const start = issuedAt !== undefined && issuedAt <= now ? issuedAt : now;
    this.tokens.set(scope, { token, expiresAt: start + expiresInSeconds * 1000 });
  }

  drop(scope: string): void {
    this.tokens.delete(scope);
  }
}

/** The token server's answer: `token` (or OAuth2's `access_token`), `expires_in`, `issued_at`. */
export function parseTokenResponse(body: unknown): { token: string; expiresIn: number; issuedAt: number | undefined } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const o = body as Record<string, unknown>;
  const token = typeof o['token'] === 'string' && o['token'] !== '' ? o['token'] : o['access_token'];
  if (typeof token !== 'string' || token === '') return undefined;
  const expiresIn = typeof o['expires_in'] === 'number' && o['expires_in'] > 0 ? o['expires_in'] : 60;
  const issued = typeof o['issued_at'] === 'string' ? Date.parse(o['issued_at']) : Number.NaN;
  return { token, expiresIn, issuedAt: Number.isNaN(issued) ? undefined : issued };
}
