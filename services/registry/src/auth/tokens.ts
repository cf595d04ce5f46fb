import { randomUUID } from 'node:crypto';
import { decodeProtectedHeader, jwtVerify, SignJWT, type CryptoKey, type JWSHeaderParameters, type JWTPayload, type KeyObject } from 'jose';
import type { SigningKey, VerificationKey } from './keys.js';
import { Lru } from './lru.js';

/**
 * Registry bearer tokens, as the Docker token specification describes them: a JWT with
 * iss, sub, aud (the service), exp, nbf, iat, jti and `access`, a list of
 * `{type, name, actions}`. The built-in token server issues them; the registry verifies
 * them against keys it was configured with, whoever issued them.
 */
export interface AccessEntry {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

export interface VerifiedToken {
  /** `sub`; empty for an anonymous token. */
  readonly subject: string;
  /** Milliseconds since the epoch. */
  readonly expires: number;
  readonly notBefore: number;
  /** `type:name` -> actions */
  readonly access: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Why a token was refused; only ever shown as `invalid_token`. */
export class TokenError extends Error {
  override readonly name = 'TokenError';
}

const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'];
/** Header members that would let a token bring its own key; never trusted, so refused. */
const EMBEDDED_KEY = ['jwk', 'x5c', 'jku', 'x5u'];
const CLOCK_TOLERANCE_S = 5;
const MAX_TOKEN_LENGTH = 8 * 1024;
export const REFRESH_LIFETIME_S = 30 * 86_400;

export class TokenIssuer {
  constructor(
    private readonly key: SigningKey,
    private readonly issuer: string,
    private readonly service: string,
    private readonly lifetimeS: number,
  ) {}

  async issue(subject: string, access: readonly AccessEntry[]): Promise<{ token: string; expiresIn: number; issuedAt: Date }> {
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({ access: access.map((a) => ({ type: a.type, name: a.name, actions: [...a.actions] })) })
      .setProtectedHeader({ alg: this.key.alg, typ: 'JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(subject)
      .setAudience(this.service)
      .setIssuedAt(now)
      .setNotBefore(now - 1)
      .setExpirationTime(now + this.lifetimeS)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
    return { token, expiresIn: this.lifetimeS, issuedAt: new Date(now * 1000) };
  }

  /** A long-lived token that only the token endpoint accepts (refresh_token grant). */
  async refreshToken(subject: string): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ typ: 'refresh' })
      .setProtectedHeader({ alg: this.key.alg, typ: 'JWT', kid: this.key.kid })
      .setIssuer(this.issuer)
      .setSubject(subject)
      .setAudience(`${this.service}#refresh`)
      .setIssuedAt(now)
      .setExpirationTime(now + REFRESH_LIFETIME_S)
      .setJti(randomUUID())
      .sign(this.key.privateKey);
  }

  /** The subject of a refresh token we issued, or undefined. */
  async refreshSubject(token: string): Promise<string | undefined> {
    try {
      checkHeader(token);
      const { payload } = await jwtVerify(token, this.key.publicKey, {
        issuer: this.issuer,
        audience: `${this.service}#refresh`,
        algorithms: [this.key.alg],
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'sub'],
      });
      return payload['typ'] === 'refresh' && typeof payload.sub === 'string' && payload.sub !== '' ? payload.sub : undefined;
    } catch {
      return undefined;
    }
  }
}

function checkHeader(token: string): JWSHeaderParameters {
  if (token.length > MAX_TOKEN_LENGTH) throw new TokenError('token too long');
  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new TokenError('malformed token');
  }
  if (typeof header.alg !== 'string' || !ALGORITHMS.includes(header.alg)) throw new TokenError(`algorithm ${String(header.alg)} not accepted`);
  for (const k of EMBEDDED_KEY) if (k in header) throw new TokenError(`a key embedded in the token (${k}) is never trusted`);
  return header;
}

function parseAccess(value: unknown): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  if (value === undefined) return out;
  if (!Array.isArray(value)) throw new TokenError('access claim is not a list');
  for (const item of value as unknown[]) {
    const e = item as Partial<Record<string, unknown>> | null;
    if (typeof e !== 'object' || e === null || typeof e['type'] !== 'string' || typeof e['name'] !== 'string' || !Array.isArray(e['actions'])) {
      throw new TokenError('malformed access entry');
    }
    const key = `${e['type']}:${e['name']}`;
    const set = out.get(key) ?? new Set<string>();
    for (const a of e['actions'] as unknown[]) if (typeof a === 'string') set.add(a);
    out.set(key, set);
  }
  return out;
}

export type KeyResolver = (header: JWSHeaderParameters) => Promise<KeyObject | CryptoKey>;

/**
 * Verifies signature (only with our configured keys: never one the token carries),
 * issuer, audience, expiry and not-before. Verified tokens are cached by their text,
 * bounded, and each hit re-checks the time window, so a cached token still expires.
 */
export class TokenVerifier {
  private readonly cache = new Lru<string, VerifiedToken>(10_000);

  constructor(
    private readonly issuer: string,
    private readonly audience: string,
    private readonly resolveKey: KeyResolver,
  ) {}

  async verify(token: string): Promise<VerifiedToken> {
    const now = Date.now();
    const cached = this.cache.get(token);
    if (cached !== undefined) {
      if (now < cached.expires + CLOCK_TOLERANCE_S * 1000 && now >= cached.notBefore - CLOCK_TOLERANCE_S * 1000) return cached;
      this.cache.delete(token);
      throw new TokenError('token expired');
    }
    const header = checkHeader(token);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, () => this.resolveKey(header), {
        issuer: this.issuer,
        audience: this.audience,
        algorithms: ALGORITHMS,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw new TokenError(err instanceof Error ? err.message : 'invalid token');
    }
    const verified: VerifiedToken = {
      subject: typeof payload.sub === 'string' ? payload.sub : '',
      expires: (payload.exp ?? 0) * 1000,
      notBefore: (payload.nbf ?? 0) * 1000,
      access: parseAccess(payload['access']),
    };
    this.cache.set(token, verified);
    return verified;
  }
}

/** A resolver over fixed keys (by `kid`, else the first of a matching type) and then a JWKS. */
export function keyResolver(keys: readonly VerificationKey[], jwks: KeyResolver | undefined): KeyResolver {
  const byKid = new Map(keys.map((k) => [k.kid, k.key]));
  return async (header) => {
    if (header.kid !== undefined) {
      const key = byKid.get(header.kid);
      if (key !== undefined) return key;
    } else {
      const type = header.alg?.startsWith('ES') === true ? 'ec' : header.alg === 'EdDSA' ? 'ed25519' : 'rsa';
      const key = keys.find((k) => k.key.asymmetricKeyType === type);
      if (key !== undefined) return key.key;
    }
    if (jwks !== undefined) return jwks(header);
    throw new TokenError('no key for this token');
  };
}
