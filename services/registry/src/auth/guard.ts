import type { Request, RequestHandler, Response } from 'express';
import { isValidRepositoryName, RegistryError } from '@berth/oci';
import { matchEndpoint } from '../http/match.js';
import { clientAddress, parseAuthorization } from './credentials.js';
import { denyMount, setCatalogFilter } from './locals.js';
import type { PasswordLogin } from './login.js';
import { requirement, type Need } from './requirements.js';
import type { Action } from './rules-config.js';
import { ANONYMOUS, type AccessRules, type Identity } from './rules.js';
import { TokenError, type TokenVerifier, type VerifiedToken } from './tokens.js';

/** Who made a request, and in token mode what their token grants. */
interface Principal {
  readonly identity: Identity;
  readonly token?: VerifiedToken;
}

export type GuardMode =
  | { readonly mode: 'htpasswd'; readonly login: PasswordLogin; readonly realm: string }
  | { readonly mode: 'token'; readonly verifier: TokenVerifier; readonly realm: (req: Request) => string; readonly service: string };

function scopeOf(need: Need): string | undefined {
  if (need.kind === 'catalog') return 'registry:catalog:*';
  if (need.kind === 'repository' && isValidRepositoryName(need.name)) return `repository:${need.name}:${need.actions.join(',')}`;
  return undefined;
}

/**
 * The /v2 gate: authenticates the request, works out what its endpoint needs and lets
 * it through only when that is granted, before any handler touches storage.
 *
 * htpasswd mode: Basic credentials (checked through PasswordLogin), rules decide.
 * token mode: a bearer token verified by TokenVerifier; what it grants decides.
 *
 * Refusals: no or bad credentials (and anonymous clients lacking a right) get 401
 * UNAUTHORIZED with the challenge clients follow; a known user lacking a right gets 403
 * DENIED. In token mode a token that lacks an action the rules would grant its subject
 * gets 401 with error="insufficient_scope", so the client fetches a wider token.
 */
export function authGuard(mode: GuardMode, rules: AccessRules): RequestHandler {
  const challenge = (req: Request, need: Need, error?: string): Record<string, string> => {
    if (mode.mode === 'htpasswd') return { 'WWW-Authenticate': `Basic realm="${mode.realm}",charset="UTF-8"` };
    const scope = scopeOf(need);
    let value = `Bearer realm="${mode.realm(req)}",service="${mode.service}"`;
    if (scope !== undefined) value += `,scope="${scope}"`;
    if (error !== undefined) value += `,error="${error}"`;
    return { 'WWW-Authenticate': value };
  };
  const unauthorized = (req: Request, need: Need, message?: string, error?: string): RegistryError =>
    new RegistryError('UNAUTHORIZED', message, undefined, challenge(req, need, error));

  const authenticate = async (req: Request, need: Need): Promise<Principal> => {
    const creds = parseAuthorization(req.headers.authorization);
    if (mode.mode === 'htpasswd') {
      if (creds === undefined) return { identity: ANONYMOUS };
      if (creds.scheme !== 'basic') throw unauthorized(req, need, 'Basic credentials required');
      if (!(await mode.login.check(creds.user, creds.password, clientAddress(req.socket.remoteAddress)))) {
        throw unauthorized(req, need, 'invalid username or password');
      }
      return { identity: { anonymous: false, name: creds.user } };
    }
    if (creds?.scheme !== 'bearer') throw unauthorized(req, need);
    try {
      const token = await mode.verifier.verify(creds.token);
      return { identity: token.subject === '' ? ANONYMOUS : { anonymous: false, name: token.subject }, token };
    } catch (err) {
      if (err instanceof TokenError) throw unauthorized(req, need, 'invalid token', 'invalid_token');
      throw err;
    }
  };

  const granted = (p: Principal, type: string, name: string, action: string): boolean => {
    if (p.token === undefined) return type === 'repository' && rules.allows(p.identity, name, action as Action);
    const actions = p.token.access.get(`${type}:${name}`);
    return actions !== undefined && (actions.has(action) || actions.has('*'));
  };

  const refuse = (req: Request, p: Principal, need: Need): RegistryError => {
    if (p.identity.anonymous) return p.token === undefined ? unauthorized(req, need) : unauthorized(req, need, 'log in for this access', 'insufficient_scope');
    if (need.kind === 'repository') {
      // htpasswd: the rules said no. token: no if the rules would not grant it either
      // (a narrower token than the rules allow just needs renewing).
      const identity = p.identity;
      if (p.token === undefined || !need.actions.every((a) => rules.allows(identity, need.name, a))) {
        const action = need.actions.find((a) => !granted(p, 'repository', need.name, a));
        return new RegistryError('DENIED', undefined, { type: 'repository', name: need.name.slice(0, 300), action });
      }
    }
    return unauthorized(req, need, 'the token does not grant this access', 'insufficient_scope');
  };

  const decide = (req: Request, res: Response, p: Principal, need: Need): void => {
    switch (need.kind) {
      case 'login':
        if (p.token === undefined && p.identity.anonymous) throw unauthorized(req, need);
        return;
      case 'catalog': {
        if (p.identity.anonymous || (p.token !== undefined && !granted(p, 'registry', 'catalog', '*'))) throw refuse(req, p, need);
        const identity = p.identity;
        setCatalogFilter(res, (name) => rules.allows(identity, name, 'pull'));
        return;
      }
      case 'repository':
        if (!need.actions.every((a) => granted(p, 'repository', need.name, a))) throw refuse(req, p, need);
        if (need.mountFrom !== undefined && !granted(p, 'repository', need.mountFrom, 'pull')) denyMount(res);
        return;
    }
  };

  return (req, res, next) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const endpoint = matchEndpoint(req.path);
    if (endpoint === undefined) return next();
    res.locals['route'] = endpoint.kind;
    const need = requirement(endpoint, req);
    authenticate(req, need)
      .then((p) => {
        decide(req, res, p, need);
        return undefined;
      })
      .catch((err: unknown) => err)
      .then((err) => (err === undefined ? next() : next(err)))
      .catch(next);
  };
}
