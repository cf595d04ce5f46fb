import type { Request, Response } from 'express';
import { isValidRepositoryName, RegistryError } from '@berth/oci';
import { queryString } from '../core/validate.js';
import { clientAddress, parseAuthorization } from './credentials.js';
import type { Htpasswd } from './htpasswd.js';
import type { PasswordLogin } from './login.js';
import { ACTIONS } from './rules-config.js';
import { ANONYMOUS, type AccessRules, type Identity } from './rules.js';
import { parseScopes, type Scope } from './scope.js';
import type { AccessEntry, TokenIssuer } from './tokens.js';

export interface TokenEndpointDeps {
  readonly issuer: TokenIssuer;
  readonly rules: AccessRules;
  readonly login: PasswordLogin;
  readonly htpasswd: Htpasswd | undefined;
  readonly service: string;
}

/**
 * What a caller gets for the scopes it asked for: for each repository, the requested
 * actions the rules grant it (the intersection: a partly allowed scope is granted in
 * part, never an error); the catalog to any logged-in user (the listing is filtered).
 */
export function grant(rules: AccessRules, identity: Identity, scopes: readonly Scope[]): AccessEntry[] {
  const out: AccessEntry[] = [];
  for (const s of scopes) {
    if (s.type === 'repository' && isValidRepositoryName(s.name)) {
      const allowed = rules.actions(identity, s.name);
      const wanted = s.actions.includes('*') ? ACTIONS : s.actions;
      const actions = wanted.filter((a) => allowed.has(a as 'pull'));
      if (actions.length > 0) out.push({ type: 'repository', name: s.name, actions });
    } else if (s.type === 'registry' && s.name === 'catalog' && s.actions.includes('*') && !identity.anonymous) {
      out.push({ type: 'registry', name: 'catalog', actions: ['*'] });
    }
  }
  return out;
}

const noStore = (res: Response): void => {
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Pragma', 'no-cache');
};

/**
 * The built-in token server (Docker token authentication):
 *   GET  /auth/token?service=&scope=...&offline_token=  Basic credentials or anonymous
 *   POST /auth/token  grant_type=password (username, password) or refresh_token
 *        (refresh_token), with service, scope (space-separated), client_id
 * Answers {token, access_token, expires_in, issued_at[, refresh_token]}. Bad credentials
 * are 401 UNAUTHORIZED and count as failed logins.
 */
export function tokenEndpoint(deps: TokenEndpointDeps): { get: (req: Request, res: Response) => Promise<void>; post: (req: Request, res: Response) => Promise<void> } {
  const checkService = (service: string | undefined): void => {
    if (service !== undefined && service !== deps.service) throw new RegistryError('DENIED', `unknown service; this is ${deps.service}`);
  };
  const passwordIdentity = async (user: string, password: string, req: Request): Promise<Identity> => {
    if (!(await deps.login.check(user, password, clientAddress(req.socket.remoteAddress)))) {
      throw new RegistryError('UNAUTHORIZED', 'invalid username or password');
    }
    return { anonymous: false, name: user };
  };
  const respond = async (res: Response, identity: Identity, scopes: readonly Scope[], refresh: boolean | string): Promise<void> => {
    const subject = identity.anonymous ? '' : identity.name;
    const issued = await deps.issuer.issue(subject, grant(deps.rules, identity, scopes));
    const body: Record<string, unknown> = {
      token: issued.token,
      access_token: issued.token,
      expires_in: issued.expiresIn,
      issued_at: issued.issuedAt.toISOString(),
    };
    if (typeof refresh === 'string') body['refresh_token'] = refresh;
    else if (refresh && !identity.anonymous) body['refresh_token'] = await deps.issuer.refreshToken(subject);
    noStore(res);
    res.json(body);
  };

  return {
    get: async (req, res) => {
      checkService(queryString(req.query, 'service'));
      const creds = parseAuthorization(req.headers.authorization);
      let identity = ANONYMOUS;
      if (creds !== undefined) {
        if (creds.scheme !== 'basic') throw new RegistryError('UNAUTHORIZED', 'Basic credentials required');
        identity = await passwordIdentity(creds.user, creds.password, req);
      }
      await respond(res, identity, parseScopes((req.query as Record<string, unknown>)['scope']), queryString(req.query, 'offline_token') === 'true');
    },
    post: async (req, res) => {
      const form = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
      const field = (k: string): string | undefined => queryString(form, k);
      checkService(field('service'));
      const scopes = parseScopes(form['scope']);
      switch (field('grant_type')) {
        case 'password': {
          const identity = await passwordIdentity(field('username') ?? '', field('password') ?? '', req);
          return respond(res, identity, scopes, true);
        }
        case 'refresh_token': {
          const given = field('refresh_token') ?? '';
          const subject = await deps.issuer.refreshSubject(given);
          // A user removed from the htpasswd file loses their refresh tokens with it.
          if (subject === undefined || deps.htpasswd?.has(subject) !== true) throw new RegistryError('UNAUTHORIZED', 'invalid refresh token');
          return respond(res, { anonymous: false, name: subject }, scopes, given);
        }
        default:
          throw new RegistryError('UNSUPPORTED', 'grant_type must be password or refresh_token');
      }
    },
  };
}
