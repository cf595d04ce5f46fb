import assert from 'node:assert/strict';
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { base64url, decodeJwt, decodeProtectedHeader, exportJWK, SignJWT } from 'jose';
import request from 'supertest';
import {
  assertAllowed, assertRefused, basic, endpointCases, htpasswdFile, may, PASSWORDS, REPOS, ROLES, RULES, seed, type Role, type Seeded,
} from './auth-support.js';
import { errorCode, openHarness, type Harness } from './harness.js';

interface TokenBody {
  token: string;
  access_token: string;
  expires_in: number;
  issued_at: string;
  refresh_token?: string;
}

const credsFor = (role: Role): Record<string, string> => (role === 'anonymous' ? {} : { Authorization: basic(role, PASSWORDS[role]) });

/** `Bearer realm="...",service="...",scope="..."` -> its parameters. */
function challenge(header: unknown): Record<string, string> {
  assert.equal(typeof header, 'string', 'WWW-Authenticate missing');
  const text = header as string;
  assert.match(text, /^Bearer /);
  const out: Record<string, string> = {};
  for (const m of text.slice(7).matchAll(/(\w+)="([^"]*)"/g)) out[m[1] as string] = m[2] as string;
  return out;
}

describe('auth.mode token: the built-in token server and the registry', () => {
  let s: Seeded;
  let h: Harness;
  let env: Record<string, string>;
  let key: KeyObject;
  before(async () => {
    s = await seed();
    env = {
      BERTH_AUTH_MODE: 'token',
      BERTH_AUTH_HTPASSWD: await htpasswdFile(s.dir),
      BERTH_AUTH_RULES: JSON.stringify(RULES),
      BERTH_AUTH_MAXFAILURES: '1000',
      BERTH_AUTH_SERVICE: 'berth-test',
      BERTH_AUTH_ISSUER: 'berth-test-issuer',
    };
    h = await openHarness(env, s.dir);
    key = createPrivateKey(readFileSync(join(s.dir, 'auth', 'token-key.pem')));
  });
  after(async () => {
    await h.close();
    await rm(s.dir, { recursive: true, force: true });
  });

  const getToken = async (role: Role, scopes: string[], extra = ''): Promise<TokenBody> => {
    const q = scopes.map((sc) => `scope=${encodeURIComponent(sc)}`).join('&');
    const res = await request(h.app).get(`/auth/token?service=berth-test&${q}${extra}`).set(credsFor(role)).expect(200);
    assert.equal(res.headers['cache-control'], 'no-store');
    return res.body as TokenBody;
  };

  test('the signing key was generated on first start and kept 0600', async () => {
    const { statSync } = await import('node:fs');
    assert.equal(statSync(join(s.dir, 'auth', 'token-key.pem')).mode & 0o777, 0o600);
    assert.equal(key.asymmetricKeyType, 'ec');
  });

  test('GET /auth/token: the claims of the spec, and the intersection of asked and allowed', async () => {
    const body = await getToken('pusher', ['repository:team-a/app:pull,push,delete', 'repository:team-b/app:pull,push', 'repository:public/base:pull']);
    assert.equal(body.token, body.access_token);
    assert.equal(body.expires_in, 300);
    assert.ok(Math.abs(Date.parse(body.issued_at) - Date.now()) < 5000);
    assert.equal(body.refresh_token, undefined);
    const header = decodeProtectedHeader(body.token);
    assert.equal(header.alg, 'ES256');
    assert.match(String(header.kid), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/, 'libtrust-style key id');
    const claims = decodeJwt(body.token);
    assert.equal(claims.iss, 'berth-test-issuer');
    assert.equal(claims.aud, 'berth-test');
    assert.equal(claims.sub, 'pusher');
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 300);
    assert.ok(typeof claims.nbf === 'number' && typeof claims.jti === 'string');
    assert.deepEqual(claims['access'], [
      { type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] },
      { type: 'repository', name: 'public/base', actions: ['pull'] },
    ]);
  });

  test('anonymous tokens: empty subject, only anonymous rights; several scopes in one parameter', async () => {
    const res = await request(h.app).get(`/auth/token?service=berth-test&scope=${encodeURIComponent('repository:public/base:pull repository:team-a/app:pull registry:catalog:*')}`).expect(200);
    const claims = decodeJwt((res.body as TokenBody).token);
    assert.equal(claims.sub, '');
    assert.deepEqual(claims['access'], [{ type: 'repository', name: 'public/base', actions: ['pull'] }]);
  });

  test('bad credentials: 401, unknown service: refused, no token', async () => {
    const bad = await request(h.app).get('/auth/token?service=berth-test').set('Authorization', basic('admin', 'nope')).expect(401);
    assert.equal(errorCode(bad), 'UNAUTHORIZED');
    assert.equal((bad.body as Partial<TokenBody>).token, undefined);
    await request(h.app).get('/auth/token?service=other').set(credsFor('admin')).expect(403);
  });

  test('offline_token=true gives a refresh token; POST refresh_token and password grants work', async () => {
    const first = await getToken('reader', [], '&offline_token=true&client_id=docker');
    assert.ok(first.refresh_token);
    const refreshed = await request(h.app).post('/auth/token').type('form')
      .send({ grant_type: 'refresh_token', refresh_token: first.refresh_token, service: 'berth-test', scope: 'repository:team-b/app:pull,push', client_id: 'docker' })
      .expect(200);
    assert.deepEqual(decodeJwt((refreshed.body as TokenBody).access_token)['access'], [{ type: 'repository', name: 'team-b/app', actions: ['pull'] }]);
    const pw = await request(h.app).post('/auth/token').type('form')
      .send({ grant_type: 'password', username: 'admin', password: PASSWORDS.admin, service: 'berth-test', scope: 'repository:team-b/app:pull,push,delete', client_id: 'containerd' })
      .expect(200);
    const body = pw.body as TokenBody;
    assert.ok(body.refresh_token);
    assert.deepEqual(decodeJwt(body.access_token)['access'], [{ type: 'repository', name: 'team-b/app', actions: ['pull', 'push', 'delete'] }]);
    await request(h.app).post('/auth/token').type('form').send({ grant_type: 'password', username: 'admin', password: 'x', service: 'berth-test' }).expect(401);
    await request(h.app).post('/auth/token').type('form').send({ grant_type: 'refresh_token', refresh_token: body.access_token, service: 'berth-test' }).expect(401);
    await request(h.app).post('/auth/token').type('form').send({ grant_type: 'client_credentials' }).expect(400);
    // a refresh token is not an access token
    const res = await request(h.app).get('/v2/').set('Authorization', `Bearer ${body.refresh_token}`).expect(401);
    assert.equal(challenge(res.headers['www-authenticate'])['error'], 'invalid_token');
  });

  for (const role of ROLES) {
    test(`${role}: every endpoint, through the challenge and a token for its scope`, async () => {
      for (const repo of REPOS) {
        for (const ep of endpointCases(repo, s.images[repo])) {
          const label = `${role} ${ep.label}`;
          const first = await ep.call(h.app, (t) => t);
          assert.equal(first.status, 401, `${label}: without a token`);
          const ch = challenge(first.headers['www-authenticate']);
          assert.equal(ch['service'], 'berth-test');
          assert.match(ch['realm'] ?? '', /^http:\/\/127\.0\.0\.1:\d+\/auth\/token$/);
          assert.equal(ch['scope'], `repository:${repo}:${ep.needs.join(',')}`, label);
          const { token } = await getToken(role, [ch['scope'] ?? '']);
          const res = await ep.call(h.app, (t) => t.set('Authorization', `Bearer ${token}`));
          if (ep.needs.every((a) => may(role, repo, a))) assertAllowed(res, ep.ok, label);
          else assertRefused(res, role, label);
        }
      }
    });
  }

  test('GET /v2/ and the catalog in token mode', async () => {
    const ch = challenge((await request(h.app).get('/v2/').expect(401)).headers['www-authenticate']);
    assert.equal(ch['scope'], undefined);
    const anon = await getToken('anonymous', []);
    await request(h.app).get('/v2/').set('Authorization', `Bearer ${anon.token}`).expect(200);
    const cat = challenge((await request(h.app).get('/v2/_catalog').expect(401)).headers['www-authenticate']);
    assert.equal(cat['scope'], 'registry:catalog:*');
    const anonCat = await getToken('anonymous', ['registry:catalog:*']);
    await request(h.app).get('/v2/_catalog').set('Authorization', `Bearer ${anonCat.token}`).expect(401);
    const list = async (role: Role): Promise<string[]> => {
      const { token } = await getToken(role, ['registry:catalog:*']);
      return ((await request(h.app).get('/v2/_catalog').set('Authorization', `Bearer ${token}`).expect(200)).body as { repositories: string[] }).repositories;
    };
    assert.deepEqual(await list('admin'), ['public/base', 'team-a/app', 'team-b/app']);
    assert.deepEqual(await list('pusher'), ['public/base', 'team-a/app']);
    // a token without the catalog scope: insufficient_scope, so the client asks again
    const narrow = await getToken('admin', ['repository:team-a/app:pull']);
    const res = await request(h.app).get('/v2/_catalog').set('Authorization', `Bearer ${narrow.token}`).expect(401);
    assert.equal(challenge(res.headers['www-authenticate'])['error'], 'insufficient_scope');
  });

  test('a token narrower than the rules allow gets insufficient_scope (401), not DENIED', async () => {
    const { token } = await getToken('pusher', ['repository:team-a/app:pull']);
    const res = await request(h.app).post('/v2/team-a/app/blobs/uploads/').set('Authorization', `Bearer ${token}`).expect(401);
    const ch = challenge(res.headers['www-authenticate']);
    assert.equal(ch['error'], 'insufficient_scope');
    assert.equal(ch['scope'], 'repository:team-a/app:pull,push');
  });

  test('mount needs pull on the source in the token, else a plain 202 session', async () => {
    const layer = s.images['team-b/app'].layers[0] as string;
    const { token } = await getToken('pusher', ['repository:team-a/app:pull,push', 'repository:team-b/app:pull']);
    const res = await request(h.app).post(`/v2/team-a/app/blobs/uploads/?mount=${layer}&from=team-b/app`).set('Authorization', `Bearer ${token}`).expect(202);
    assert.match(String(res.headers['location']), /\/v2\/team-a\/app\/blobs\/uploads\//);
    const admin = await getToken('admin', ['repository:team-a/app:pull,push', 'repository:team-b/app:pull']);
    await request(h.app).post(`/v2/team-a/app/blobs/uploads/?mount=${layer}&from=team-b/app`).set('Authorization', `Bearer ${admin.token}`).expect(201);
  });

  describe('hostile tokens are refused', () => {
    const now = (): number => Math.floor(Date.now() / 1000);
    const access = [{ type: 'repository', name: 'team-a/app', actions: ['pull', 'push'] }];
    const craft = (opts: { key?: KeyObject; header?: Record<string, unknown>; claims?: Record<string, unknown> } = {}): Promise<string> => {
      const payload: Record<string, unknown> = {
        iss: 'berth-test-issuer', aud: 'berth-test', sub: 'pusher', iat: now(), nbf: now() - 10, exp: now() + 300, access, ...opts.claims,
      };
      for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
      return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...opts.header }).sign(opts.key ?? key);
    };
    const status = async (token: string, error = 'invalid_token'): Promise<number> => {
      const res = await request(h.app).get('/v2/team-a/app/manifests/v1').set('Authorization', `Bearer ${token}`);
      if (res.status === 401) assert.equal(challenge(res.headers['www-authenticate'])['error'], error);
      return res.status;
    };
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });

    test('control: a token crafted with the registry key is accepted', async () => {
      assert.equal(await status(await craft()), 200);
    });
    test('wrong signature (another key)', async () => {
      assert.equal(await status(await craft({ key: attacker.privateKey })), 401);
    });
    test('tampered payload', async () => {
      const [head, , sig] = (await craft()).split('.');
      const body = base64url.encode(JSON.stringify({ iss: 'berth-test-issuer', aud: 'berth-test', sub: 'admin', exp: now() + 300, access: [{ type: 'repository', name: 'team-b/app', actions: ['*'] }] }));
      assert.equal(await status(`${head}.${body}.${sig}`), 401);
    });
    test('alg: none', async () => {
      const head = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      const body = base64url.encode(JSON.stringify({ iss: 'berth-test-issuer', aud: 'berth-test', sub: 'pusher', exp: now() + 300, access }));
      assert.equal(await status(`${head}.${body}.`), 401);
      assert.equal(await status(`${head}.${body}`), 401);
    });
    test('HS256 keyed with the public key (algorithm confusion)', async () => {
      const pub = readFileSync(join(s.dir, 'auth', 'token-key.pem'));
      const token = await new SignJWT({ access }).setProtectedHeader({ alg: 'HS256' }).setIssuer('berth-test-issuer').setAudience('berth-test')
        .setExpirationTime(now() + 300).sign(new Uint8Array(pub));
      assert.equal(await status(token), 401);
    });
    test('a key embedded in the header: jwk, x5c, jku', async () => {
      const jwk = await exportJWK(attacker.publicKey);
      assert.equal(await status(await craft({ key: attacker.privateKey, header: { jwk } })), 401);
      assert.equal(await status(await craft({ header: { jwk } })), 401, 'refused even when the signature is ours');
      assert.equal(await status(await craft({ key: attacker.privateKey, header: { x5c: ['MIIB'] } })), 401);
      assert.equal(await status(await craft({ key: attacker.privateKey, header: { jku: 'http://127.0.0.1:1/jwks' } })), 401);
    });
    test('expired, and not yet valid', async () => {
      assert.equal(await status(await craft({ claims: { exp: now() - 60, iat: now() - 400, nbf: now() - 400 } })), 401);
      assert.equal(await status(await craft({ claims: { nbf: now() + 600 } })), 401);
      assert.equal(await status(await craft({ claims: { exp: undefined } })), 401, 'no exp at all');
    });
    test('wrong audience, wrong issuer', async () => {
      assert.equal(await status(await craft({ claims: { aud: 'another-registry' } })), 401);
      assert.equal(await status(await craft({ claims: { iss: 'someone-else' } })), 401);
    });
    test('a scope for another repository does not open this one', async () => {
      const otherRepo = [{ type: 'repository', name: 'team-a/other', actions: ['pull', 'push'] }];
      // the rules would let pusher pull team-a/app: the client is told to get a wider token
      assert.equal(await status(await craft({ claims: { access: otherRepo } }), 'insufficient_scope'), 401);
      // a subject the rules give nothing: DENIED
      assert.equal(await status(await craft({ claims: { sub: 'stranger', access: otherRepo } })), 403);
      const anonOther = await craft({ claims: { sub: '', access: [{ type: 'repository', name: 'public/base', actions: ['pull'] }] } });
      assert.equal(await status(anonOther, 'insufficient_scope'), 401);
    });
    test('garbage', async () => {
      for (const t of ['x', 'a.b.c', `${'a'.repeat(12000)}.b.c`]) assert.equal(await status(t), 401, t.slice(0, 20));
    });
  });

  test('the key survives a restart: a token issued before is still accepted after', async () => {
    const { token } = await getToken('reader', ['repository:team-b/app:pull']);
    const again = await h.reopen();
    try {
      await request(again.app).get('/v2/team-b/app/manifests/v1').set('Authorization', `Bearer ${token}`).expect(200);
    } finally {
      await again.close();
    }
    h = await openHarness(env, s.dir);
  });
});

describe('auth.mode token with an external issuer', () => {
  let s: Seeded;
  const issuerKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const sign = (claims: Record<string, unknown> = {}, kid?: string): Promise<string> =>
    new SignJWT({
      iss: 'gitlab-issuer', aud: 'container_registry', sub: 'someone', iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 300,
      access: [{ type: 'repository', name: 'team-b/app', actions: ['pull'] }], ...claims,
    }).setProtectedHeader({ alg: 'RS256', ...(kid !== undefined ? { kid } : {}) }).sign(issuerKey.privateKey);
  before(async () => {
    s = await seed();
  });
  after(() => rm(s.dir, { recursive: true, force: true }));

  const base = { BERTH_AUTH_MODE: 'token', BERTH_AUTH_TOKENSERVER: 'false', BERTH_AUTH_ISSUER: 'gitlab-issuer', BERTH_AUTH_SERVICE: 'container_registry', BERTH_AUTH_REALM: 'https://gitlab.example/jwt/auth' };

  test('public keys from a PEM file: its tokens are accepted, the token endpoint is off', async () => {
    const pem = join(s.dir, 'issuer.pem');
    await writeFile(pem, issuerKey.publicKey.export({ type: 'spki', format: 'pem' }));
    const h = await openHarness({ ...base, BERTH_AUTH_PUBLICKEYS: pem }, s.dir);
    try {
      await request(h.app).get('/v2/team-b/app/manifests/v1').set('Authorization', `Bearer ${await sign()}`).expect(200);
      const denied = await request(h.app).get('/v2/team-a/app/manifests/v1').set('Authorization', `Bearer ${await sign()}`).expect(403);
      assert.equal(errorCode(denied), 'DENIED');
      const ch = challenge((await request(h.app).get('/v2/team-a/app/manifests/v1').expect(401)).headers['www-authenticate']);
      assert.equal(ch['realm'], 'https://gitlab.example/jwt/auth');
      await request(h.app).get('/auth/token').expect(404);
      await request(h.app).get('/v2/team-b/app/manifests/v1').set('Authorization', `Bearer ${await sign({ iss: 'berth' })}`).expect(401);
      assert.equal(h.registry.app.get('x-powered-by'), false);
    } finally {
      await h.close();
    }
  });

  test('keys from a JWKS file, chosen by kid', async () => {
    const jwks = join(s.dir, 'jwks.json');
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(other.publicKey)), kid: 'other', alg: 'RS256' }, { ...(await exportJWK(issuerKey.publicKey)), kid: 'k1', alg: 'RS256' }] }));
    const h = await openHarness({ ...base, BERTH_AUTH_JWKS: jwks }, s.dir);
    try {
      await request(h.app).get('/v2/team-b/app/manifests/v1').set('Authorization', `Bearer ${await sign({}, 'k1')}`).expect(200);
      await request(h.app).get('/v2/team-b/app/manifests/v1').set('Authorization', `Bearer ${await sign({}, 'other')}`).expect(401);
      await request(h.app).get('/v2/team-b/app/manifests/v1').set('Authorization', `Bearer ${await sign({}, 'unknown')}`).expect(401);
    } finally {
      await h.close();
    }
  });
});

describe('auth.mode token with a JWKS URL', () => {
  test('keys fetched from a JWKS served over HTTP, chosen by kid', async () => {
    const s = await seed();
    const issuer = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(issuer.publicKey)), kid: 'url-key', alg: 'RS256' }] });
    let fetched = 0;
    const server = createServer((_req, res) => {
      fetched++;
      res.setHeader('Content-Type', 'application/json');
      res.end(jwks);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const env = {
      BERTH_AUTH_MODE: 'token',
      BERTH_AUTH_ISSUER: 'https://sso.example',
      BERTH_AUTH_SERVICE: 'registry.example',
      BERTH_AUTH_REALM: 'https://sso.example/token',
      BERTH_AUTH_JWKS: `http://127.0.0.1:${port}/jwks.json`,
    };
    const h = await openHarness(env, s.dir);
    const token = (kid: string, key: KeyObject): Promise<string> =>
      new SignJWT({ access: [{ type: 'repository', name: 'team-b/app', actions: ['pull'] }] })
        .setProtectedHeader({ alg: 'RS256', kid })
        .setIssuer('https://sso.example')
        .setAudience('registry.example')
        .setSubject('reader')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    try {
      await request(h.app).get('/v2/team-b/app/manifests/v1').set('Authorization', `Bearer ${await token('url-key', issuer.privateKey)}`).expect(200);
      assert.ok(fetched >= 1, 'the JWKS was fetched');
      const forger = generateKeyPairSync('rsa', { modulusLength: 2048 });
      await request(h.app).get('/v2/team-b/app/manifests/v1').set('Authorization', `Bearer ${await token('url-key', forger.privateKey)}`).expect(401);
    } finally {
      await h.close();
      server.close();
      await rm(s.dir, { recursive: true, force: true });
    }
  });
});

describe('auth: the token endpoint throttles failed logins', () => {
  test('POST and GET failures add up per user; then 429 with Retry-After', async () => {
    const s = await seed();
    const h = await openHarness({ BERTH_AUTH_MODE: 'token', BERTH_AUTH_HTPASSWD: await htpasswdFile(s.dir), BERTH_AUTH_MAXFAILURES: '2' }, s.dir);
    try {
      await request(h.app).get('/auth/token').set('Authorization', basic('admin', 'a')).expect(401);
      await request(h.app).post('/auth/token').type('form').send({ grant_type: 'password', username: 'admin', password: 'b' }).expect(401);
      const locked = await request(h.app).get('/auth/token').set('Authorization', basic('admin', PASSWORDS.admin)).expect(429);
      assert.ok(Number(locked.headers['retry-after']) >= 1);
      assert.equal(errorCode(locked), 'TOOMANYREQUESTS');
    } finally {
      await h.close();
      await rm(s.dir, { recursive: true, force: true });
    }
  });
});
