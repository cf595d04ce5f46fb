import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Request, RequestHandler, Response } from 'express';
import { createLocalJWKSet, createRemoteJWKSet, type JSONWebKeySet } from 'jose';
import { ConfigError, type Config } from '../config/index.js';
import type { Logger } from '../logger.js';
import { authGuard, type GuardMode } from './guard.js';
import { Htpasswd } from './htpasswd.js';
import { loadPublicKeys, loadSigningKey, type VerificationKey } from './keys.js';
import { PasswordLogin } from './login.js';
import { AccessRules } from './rules.js';
import { LoginThrottle } from './throttle.js';
import { tokenEndpoint } from './token-endpoint.js';
import { keyResolver, TokenIssuer, TokenVerifier, type KeyResolver } from './tokens.js';

export { catalogFilter, mountDenied } from './locals.js';

/** Authentication and access control, built from `auth.*`; absent when auth.mode is none. */
export interface Auth {
  readonly mode: 'htpasswd' | 'token';
  /** Runs before every /v2 request. */
  readonly guard: RequestHandler;
  /** The built-in token server's handlers, when it is on. */
  readonly token?: {
    readonly get: (req: Request, res: Response) => Promise<void>;
    readonly post: (req: Request, res: Response) => Promise<void>;
  };
}

/** Where the built-in token server keeps its key unless auth.tokenkey says otherwise. */
export function tokenKeyPath(config: Config): string {
  return config.auth.tokenkey !== '' ? config.auth.tokenkey : join(config.data.dir, 'auth', 'token-key.pem');
}

function attempt<T>(key: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw new ConfigError([`${key}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`]);
  }
}

/** `http://host[:port]/auth/token` as the client reached us, unless auth.realm is set. */
function realmFor(config: Config): (req: Request) => string {
  if (config.auth.realm !== '') return () => config.auth.realm;
  const fallback = config.http.addr.replace(/^0\.0\.0\.0:|^:/, '127.0.0.1:');
  return (req) => {
    const host = req.headers.host;
    const safe = host !== undefined && /^[A-Za-z0-9.\-:[\]]{1,255}$/.test(host) ? host : fallback;
    return `${req.protocol}://${safe}/auth/token`;
  };
}

/**
 * Reads the htpasswd file, the signing key (creating it on first start) and the
 * verification keys. Every problem is a ConfigError line naming its key.
 */
export function createAuth(config: Config, logger: Logger): Auth | undefined {
  const a = config.auth;
  if (a.mode === 'none') return undefined;
  const htpasswd = a.htpasswd === ''
    ? undefined
    : attempt('auth.htpasswd', () => new Htpasswd(a.htpasswd, (message) => logger.warn('htpasswd reload failed; keeping the users loaded before', { message })));
  const rules = new AccessRules(a.rules);
  const throttle = new LoginThrottle({ maxFailures: a.maxfailures, maxLockoutMs: a.lockout });
  const login = new PasswordLogin(htpasswd, throttle, logger);
  if (a.mode === 'htpasswd') {
    const realm = (a.realm !== '' ? a.realm : 'Berth Registry').replace(/["\\]/g, '');
    const mode: GuardMode = { mode: 'htpasswd', login, realm };
    return { mode: 'htpasswd', guard: authGuard(mode, rules) };
  }

  const keys: VerificationKey[] = [];
  let issuer: TokenIssuer | undefined;
  if (a.tokenserver) {
    const signing = attempt('auth.tokenkey', () => loadSigningKey(tokenKeyPath(config), a.tokenalg));
    keys.push({ kid: signing.kid, key: signing.publicKey });
    issuer = new TokenIssuer(signing, a.issuer, a.service, Math.max(1, Math.round(a.tokenexpiry / 1000)));
  }
  if (a.publickeys !== '') keys.push(...attempt('auth.publickeys', () => loadPublicKeys(a.publickeys)));
  let jwks: KeyResolver | undefined;
  if (a.jwks !== '') {
    const set = /^https?:\/\//.test(a.jwks)
      ? attempt('auth.jwks', () => createRemoteJWKSet(new URL(a.jwks)))
      : attempt('auth.jwks', () => createLocalJWKSet(JSON.parse(readFileSync(a.jwks, 'utf8')) as JSONWebKeySet));
    jwks = (header) => set(header);
  }
  const verifier = new TokenVerifier(a.issuer, a.service, keyResolver(keys, jwks));
  const mode: GuardMode = { mode: 'token', verifier, realm: realmFor(config), service: a.service };
  return {
    mode: 'token',
    guard: authGuard(mode, rules),
    ...(issuer !== undefined ? { token: tokenEndpoint({ issuer, rules, login, htpasswd, service: a.service }) } : {}),
  };
}
