import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { createLogger } from '../src/logger.js';
import { createApp } from '../src/app.js';
import { loadConfig } from '../src/config/index.js';
import { SqliteMetadataStore } from '@berth/metadata';
import { FilesystemBlobStore } from '@berth/storage';
import { join } from 'node:path';
import {
  assertAllowed, assertRefused, basic, endpointCases, htpasswdFile, may, PASSWORDS, REPOS, ROLES, RULES, seed, type Role, type Seeded,
} from './auth-support.js';
import { errorCode, openHarness, sha256, type Harness } from './harness.js';

const authFor = (role: Role) => (t: request.Test): request.Test => (role === 'anonymous' ? t : t.set('Authorization', basic(role, PASSWORDS[role])));

describe('auth.mode htpasswd: the role matrix against every endpoint', () => {
  let s: Seeded;
  let h: Harness;
  let env: Record<string, string>;
  before(async () => {
    s = await seed();
    env = {
      BERTH_AUTH_MODE: 'htpasswd',
      BERTH_AUTH_HTPASSWD: await htpasswdFile(s.dir),
      BERTH_AUTH_RULES: JSON.stringify(RULES),
      BERTH_AUTH_MAXFAILURES: '1000',
    };
    h = await openHarness(env, s.dir);
  });
  after(async () => {
    await h.close();
    await rm(s.dir, { recursive: true, force: true });
  });

  for (const role of ROLES) {
    test(`${role}: every endpoint of every repository allowed or refused as the rules say`, async () => {
      let allowed = 0;
      let refused = 0;
      for (const repo of REPOS) {
        for (const ep of endpointCases(repo, s.images[repo])) {
          const res = await ep.call(h.app, authFor(role));
          const label = `${role} ${ep.label}`;
          if (ep.needs.every((a) => may(role, repo, a))) {
            assertAllowed(res, ep.ok, label);
            allowed++;
          } else {
            assertRefused(res, role, label);
            refused++;
          }
        }
      }
      assert.equal(refused === 0, role === 'admin', 'only the admin is refused nothing');
      assert.ok(allowed >= 6, 'every role may pull public/base');
    });
  }

  test('GET /v2/: anonymous gets the Basic challenge, every user 200, a bad password 401', async () => {
    const anon = await request(h.app).get('/v2/').expect(401);
    assert.equal(anon.headers['www-authenticate'], 'Basic realm="Berth Registry",charset="UTF-8"');
    assert.equal(anon.headers['docker-distribution-api-version'], 'registry/2.0');
    assert.equal(errorCode(anon), 'UNAUTHORIZED');
    for (const role of ['reader', 'pusher', 'admin'] as const) {
      await request(h.app).get('/v2/').set('Authorization', basic(role, PASSWORDS[role])).expect(200);
    }
    const bad = await request(h.app).get('/v2/').set('Authorization', basic('admin', 'wrong')).expect(401);
    assert.ok(bad.headers['www-authenticate']);
    await request(h.app).get('/v2/').set('Authorization', basic('nobody', 'x')).expect(401);
    await request(h.app).get('/v2/').set('Authorization', 'Basic !!!not-base64').expect(401);
    await request(h.app).get('/v2/').set('Authorization', 'Bearer abc').expect(401);
  });

  test('bad credentials are 401 even where anonymous pull is allowed', async () => {
    const res = await request(h.app).get('/v2/public/base/manifests/v1').set('Authorization', basic('reader', 'nope'));
    assert.equal(res.status, 401);
    await request(h.app).get('/v2/public/base/manifests/v1').expect(200);
  });

  test('the catalog lists only what the caller may pull; anonymous must log in', async () => {
    await request(h.app).get('/v2/_catalog').expect(401);
    const list = async (role: Exclude<Role, 'anonymous'>): Promise<string[]> =>
      ((await request(h.app).get('/v2/_catalog').set('Authorization', basic(role, PASSWORDS[role])).expect(200)).body as { repositories: string[] }).repositories;
    assert.deepEqual(await list('admin'), ['public/base', 'team-a/app', 'team-b/app']);
    assert.deepEqual(await list('reader'), ['public/base', 'team-a/app', 'team-b/app']);
    assert.deepEqual(await list('pusher'), ['public/base', 'team-a/app']);
    // pagination over the filtered list
    const first = await request(h.app).get('/v2/_catalog?n=1').set('Authorization', basic('pusher', PASSWORDS.pusher)).expect(200);
    assert.deepEqual((first.body as { repositories: string[] }).repositories, ['public/base']);
    assert.match(String(first.headers['link']), /last=public%2Fbase/);
    const second = await request(h.app).get('/v2/_catalog?n=1&last=public%2Fbase').set('Authorization', basic('pusher', PASSWORDS.pusher)).expect(200);
    assert.deepEqual((second.body as { repositories: string[] }).repositories, ['team-a/app']);
    assert.equal(second.headers['link'], undefined, 'team-b/app is not shown, so no next page');
  });

  test('cross-repository mount: only from a repository the caller may pull, else a plain 202 session', async () => {
    const layer = s.images['team-b/app'].layers[0] as string;
    const ownLayer = s.images['public/base'].layers[0] as string;
    const pusher = basic('pusher', PASSWORDS.pusher);
    const refused = await request(h.app).post(`/v2/team-a/app/blobs/uploads/?mount=${layer}&from=team-b/app`).set('Authorization', pusher);
    assert.equal(refused.status, 202, 'no mount from team-b for the team-a pusher');
    assert.match(String(refused.headers['location']), /^\/v2\/team-a\/app\/blobs\/uploads\//);
    await request(h.app).head(`/v2/team-a/app/blobs/${layer}`).set('Authorization', pusher).expect(404);
    // public/base is pullable by the pusher: mounted
    await request(h.app).post(`/v2/team-a/app/blobs/uploads/?mount=${ownLayer}&from=public/base`).set('Authorization', pusher).expect(201);
    await request(h.app).head(`/v2/team-a/app/blobs/${ownLayer}`).set('Authorization', pusher).expect(200);
    // the admin may pull team-b: mounted
    await request(h.app).post(`/v2/team-a/app/blobs/uploads/?mount=${layer}&from=team-b/app`).set('Authorization', basic('admin', PASSWORDS.admin)).expect(201);
  });

  test('a pusher can upload a blob and push a manifest in its own namespace only', async () => {
    const pusher = basic('pusher', PASSWORDS.pusher);
    const data = 'pushed by pusher';
    await request(h.app).post(`/v2/team-a/new/blobs/uploads/?digest=${sha256(data)}`).set('Authorization', pusher).send(data).expect(201);
    const denied = await request(h.app).post(`/v2/team-b/new/blobs/uploads/?digest=${sha256(data)}`).set('Authorization', pusher).send(data);
    assert.equal(denied.status, 403);
    assert.equal(errorCode(denied), 'DENIED');
  });

  test('users added to the htpasswd file are picked up without a restart', async () => {
    await request(h.app).get('/v2/').set('Authorization', basic('late', 'late-pw')).expect(401);
    await htpasswdFile(s.dir, { late: 'late-pw' });
    await new Promise((r) => setTimeout(r, 2100));
    await request(h.app).get('/v2/').set('Authorization', basic('late', 'late-pw')).expect(200);
  });
});

describe('auth: failed logins are throttled', () => {
  let s: Seeded;
  let h: Harness;
  before(async () => {
    s = await seed();
    h = await openHarness({
      BERTH_AUTH_MODE: 'htpasswd',
      BERTH_AUTH_HTPASSWD: await htpasswdFile(s.dir),
      BERTH_AUTH_RULES: JSON.stringify(RULES),
      BERTH_AUTH_MAXFAILURES: '3',
    }, s.dir);
  });
  after(async () => {
    await h.close();
    await rm(s.dir, { recursive: true, force: true });
  });

  test('after maxfailures bad passwords: 429 TOOMANYREQUESTS with Retry-After, even for the right password', async () => {
    for (let i = 0; i < 3; i++) await request(h.app).get('/v2/').set('Authorization', basic('reader', `wrong-${i}`)).expect(401);
    const locked = await request(h.app).get('/v2/').set('Authorization', basic('reader', 'wrong-again')).expect(429);
    assert.equal(errorCode(locked), 'TOOMANYREQUESTS');
    assert.ok(Number(locked.headers['retry-after']) >= 1);
    await request(h.app).get('/v2/').set('Authorization', basic('reader', PASSWORDS.reader)).expect(429);
    // the lockout also covers the client address: another user from here waits too
    await request(h.app).get('/v2/').set('Authorization', basic('admin', 'guess')).expect(429);
    await new Promise((r) => setTimeout(r, 1100));
    await request(h.app).get('/v2/').set('Authorization', basic('reader', PASSWORDS.reader)).expect(200);
  });
});

describe('auth: secrets stay out of the logs', () => {
  test('request and login-failure lines carry no password, Authorization header or token', async () => {
    const s = await seed();
    const lines: string[] = [];
    const config = loadConfig({
      env: {
        BERTH_DATA_DIR: s.dir,
        BERTH_AUTH_MODE: 'htpasswd',
        BERTH_AUTH_HTPASSWD: await htpasswdFile(s.dir),
        BERTH_AUTH_RULES: JSON.stringify(RULES),
        BERTH_LOG_LEVEL: 'debug',
      },
    });
    const metadata = new SqliteMetadataStore(join(s.dir, 'metadata.db'));
    const { app } = createApp({ config, blobs: await FilesystemBlobStore.open(join(s.dir, 'blobs')), metadata, logger: createLogger('debug', (l) => lines.push(l)) });
    await request(app).get('/v2/team-a/app/manifests/v1').set('Authorization', basic('admin', PASSWORDS.admin)).expect(200);
    await request(app).get('/v2/').set('Authorization', basic('admin', 'the-wrong-password')).expect(401);
    await request(app).get('/v2/').set('Authorization', 'Bearer eyJhbGciOiJFUzI1NiJ9.e30.c2ln').expect(401);
    await metadata.close();
    await rm(s.dir, { recursive: true, force: true });
    const log = lines.join('');
    assert.ok(lines.length >= 4, log);
    assert.match(log, /login failed/);
    for (const secret of [PASSWORDS.admin, 'the-wrong-password', basic('admin', PASSWORDS.admin), 'eyJhbGciOiJFUzI1NiJ9', 'authorization']) {
      assert.ok(!log.toLowerCase().includes(secret.toLowerCase()), `log contains ${secret}`);
    }
  });
});

describe('auth: users created with Apache htpasswd -B', () => {
  test('a $2y$ hash written by Debian\'s htpasswd logs in; a wrong password does not', async () => {
    const s = await seed();
    const file = join(s.dir, 'apache.htpasswd');
    execFileSync('htpasswd', ['-B', '-b', '-c', file, 'alice', 'correct horse'], { stdio: 'pipe' });
    assert.match(readFileSync(file, 'utf8'), /^alice:\$2y\$/);
    const h = await openHarness({ BERTH_AUTH_MODE: 'htpasswd', BERTH_AUTH_HTPASSWD: file }, s.dir);
    try {
      const auth = (pw: string): string => `Basic ${Buffer.from(`alice:${pw}`).toString('base64')}`;
      await request(h.app).get('/v2/').set('Authorization', auth('correct horse')).expect(200);
      assert.equal(errorCode(await request(h.app).get('/v2/').set('Authorization', auth('wrong')).expect(401)), 'UNAUTHORIZED');
    } finally {
      await h.close();
      await rm(s.dir, { recursive: true, force: true });
    }
  });
});
