import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { globToRegExp } from '../src/auth/glob.js';
import { parseHtpasswd } from '../src/auth/htpasswd.js';
import { libtrustKeyId, loadSigningKey } from '../src/auth/keys.js';
import { Lru } from '../src/auth/lru.js';
import { parseRules } from '../src/auth/rules-config.js';
import { AccessRules, ANONYMOUS } from '../src/auth/rules.js';
import { parseScopes } from '../src/auth/scope.js';
import { LoginThrottle } from '../src/auth/throttle.js';
import { ConfigError, loadConfig } from '../src/config/index.js';

describe('auth building blocks', () => {
  test('globs: * within a component, ** across, ? one character', () => {
    const m = (p: string, s: string): boolean => globToRegExp(p).test(s);
    assert.ok(m('team-a/*', 'team-a/app'));
    assert.ok(!m('team-a/*', 'team-a/x/app'));
    assert.ok(!m('team-a/*', 'team-ab/app'));
    assert.ok(m('team-a/**', 'team-a/x/app'));
    assert.ok(m('**', 'a/b/c'));
    assert.ok(m('a/**/c', 'a/c') && m('a/**/c', 'a/b/b/c'));
    assert.ok(m('app?', 'app1') && !m('app?', 'app/'));
    assert.ok(!m('a.b', 'axb'), 'dots are literal');
  });

  test('rules: union of matching rules; anonymous rules apply to users; cached answers stay right', () => {
    const rules = parseRules({
      groups: { devs: ['ann'] },
      access: [
        { repository: 'pub/*', anonymous: true, actions: ['pull'] },
        { repository: ['dev/**'], groups: ['devs'], actions: ['pull', 'push'] },
        { repository: '**', users: ['*'], actions: ['pull'] },
        { repository: 'dev/tmp', users: ['ann'], actions: ['delete'] },
      ],
    });
    if (typeof rules === 'string') assert.fail(rules);
    const r = new AccessRules(rules);
    const ann = { anonymous: false as const, name: 'ann' };
    assert.deepEqual([...r.actions(ann, 'dev/tmp')].sort(), ['delete', 'pull', 'push']);
    assert.deepEqual([...r.actions(ann, 'dev/tmp')].sort(), ['delete', 'pull', 'push']);
    assert.deepEqual([...r.actions({ anonymous: false, name: 'bob' }, 'dev/tmp')], ['pull']);
    assert.deepEqual([...r.actions(ANONYMOUS, 'pub/x')], ['pull']);
    assert.deepEqual([...r.actions(ANONYMOUS, 'dev/tmp')], []);
  });

  test('rules: one clear line for each kind of mistake', () => {
    const bad: [unknown, RegExp][] = [
      ['{not json', /JSON/],
      [{ access: [{ repository: 'x', users: ['a'], actions: ['write'] }] }, /access\[0\]\.actions: unknown action "write"/],
      [{ access: [{ repository: 'x', groups: ['g'], actions: ['pull'] }] }, /unknown group "g"/],
      [{ access: [{ repository: 'x', actions: ['pull'] }] }, /grants nobody/],
      [{ access: [{ repo: 'x' }] }, /unknown key "repo"/],
      [{ groups: { g: 'ann' } }, /groups\.g: expected a list/],
      [{ rules: [] }, /unknown key "rules"/],
    ];
    for (const [value, re] of bad) {
      const r = parseRules(value);
      assert.equal(typeof r, 'string');
      assert.match(r as string, re);
    }
  });

  test('config: auth.* keys, rules from YAML or JSON env, one line per bad key', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-auth-config-'));
    try {
      const file = join(dir, 'c.yml');
      await writeFile(file, 'auth:\n  mode: htpasswd\n  htpasswd: /etc/htpasswd\n  rules:\n    access:\n      - repository: "**"\n        users: [admin]\n        actions: ["*"]\n');
      const c = loadConfig({ env: { BERTH_CONFIG: file } });
      assert.equal(c.auth.mode, 'htpasswd');
      assert.deepEqual(c.auth.rules.access[0]?.actions, ['pull', 'push', 'delete']);
      assert.equal(loadConfig({ env: {} }).auth.mode, 'none', 'none by default');
      const fromEnv = loadConfig({ env: { BERTH_AUTH_RULES: '{"access":[{"repository":"a/*","anonymous":true,"actions":"pull"}]}' } });
      assert.equal(fromEnv.auth.rules.access[0]?.anonymous, true);
      let problems: readonly string[] = [];
      try {
        loadConfig({ env: { BERTH_AUTH_MODE: 'ldap', BERTH_AUTH_RULES: '{"access":[{"repository":"x","actions":["pull"]}]}', BERTH_AUTH_TOKENALG: 'HS256' } });
      } catch (err) {
        if (err instanceof ConfigError) problems = err.problems;
      }
      assert.equal(problems.length, 3, problems.join('\n'));
      assert.ok(problems.some((l) => l.startsWith('auth.mode: expected one of none, htpasswd, token')));
      assert.ok(problems.some((l) => l === 'auth.rules: access[0]: grants nobody (set users, groups or anonymous) (from BERTH_AUTH_RULES)'));
      assert.throws(() => loadConfig({ env: { BERTH_AUTH_MODE: 'htpasswd' } }), /auth.htpasswd: required/);
      assert.throws(() => loadConfig({ env: { BERTH_AUTH_MODE: 'token', BERTH_AUTH_TOKENSERVER: 'false' } }), /auth.publickeys or auth.jwks/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('scopes: repeated, space-separated, names with a port, plugin types, junk dropped', () => {
    assert.deepEqual(parseScopes(['repository:a/b:pull,push', 'registry:catalog:* repository(plugin):c:pull']), [
      { type: 'repository', name: 'a/b', actions: ['pull', 'push'] },
      { type: 'registry', name: 'catalog', actions: ['*'] },
      { type: 'repository', name: 'c', actions: ['pull'] },
    ]);
    assert.deepEqual(parseScopes('repository:host:5000/x:pull'), [{ type: 'repository', name: 'host:5000/x', actions: ['pull'] }]);
    assert.deepEqual(parseScopes('junk'), []);
    assert.equal(parseScopes(Array(200).fill('repository:a:pull')).length, 64, 'bounded');
  });

  test('throttle: locked after maxFailures, doubling, capped; success clears the user; keys bounded', () => {
    let now = 0;
    const t = new LoginThrottle({ maxFailures: 2, maxLockoutMs: 4000, capacity: 3, now: () => now });
    const keys = ['user:a', 'addr:1'];
    t.failure(keys);
    assert.equal(t.retryAfter(keys), 0);
    t.failure(keys);
    assert.equal(t.retryAfter(keys), 1000);
    t.failure(keys);
    assert.equal(t.retryAfter(keys), 2000);
    for (let i = 0; i < 5; i++) t.failure(keys);
    assert.equal(t.retryAfter(keys), 4000, 'capped');
    t.success('user:a');
    assert.equal(t.retryAfter(['user:a']), 0);
    assert.equal(t.retryAfter(['addr:1']), 4000, 'the address stays locked');
    now += 4001;
    assert.equal(t.retryAfter(keys), 0);
    for (let i = 0; i < 10; i++) t.failure([`user:${i}`]);
    assert.equal(t.tracked, 3);
  });

  test('LRU evicts the least recently used', () => {
    const l = new Lru<string, number>(2);
    l.set('a', 1);
    l.set('b', 2);
    l.get('a');
    l.set('c', 3);
    assert.equal(l.get('b'), undefined);
    assert.equal(l.get('a'), 1);
  });

  test('htpasswd: bcrypt only ($2y$ from htpasswd -B included), one line per problem', () => {
    const y = '$2y$05$' + 'a'.repeat(53);
    assert.equal(parseHtpasswd(`# c\n\nann:${y}\n`).get('ann'), y);
    assert.throws(() => parseHtpasswd('bob:$apr1$abc$def\n'), /line 1: user "bob" has no bcrypt hash; create it with htpasswd -B/);
    assert.throws(() => parseHtpasswd('no-colon\n'), /line 1: expected user:hash/);
  });

  test('signing key: created once, reused, checked against the algorithm; libtrust key id', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-key-'));
    try {
      const a = loadSigningKey(join(dir, 'k', 'key.pem'), 'ES256');
      const b = loadSigningKey(join(dir, 'k', 'key.pem'), 'ES256');
      assert.equal(a.kid, b.kid);
      assert.throws(() => loadSigningKey(join(dir, 'k', 'key.pem'), 'RS256'), /is not a RSA key/);
      assert.equal(loadSigningKey(join(dir, 'rsa.pem'), 'RS256').privateKey.asymmetricKeyType, 'rsa');
      // libtrust's format: base32 of the first 30 bytes of sha256(SPKI DER), 12 groups of 4
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      assert.match(libtrustKeyId(publicKey), /^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
