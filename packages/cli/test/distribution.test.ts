import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools, run, expectOk } from '@berth/test-support/exec';
import { ARM64, buildMultiArchImage, buildTestImage, type BuiltImage } from '@berth/test-support/images';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth } from './berth.js';

const PASSWORD = 'alice-dist-Secret1';
const SERVICE = 'distribution-test';
const ISSUER = 'berth-test-issuer';

/**
 * berth pull and push against Debian's docker-registry (Distribution 2.8): anonymous, with
 * htpasswd (Basic), and with token auth where Distribution verifies tokens from Berth's
 * built-in token endpoint.
 */
describe('berth against Distribution', () => {
  const registries: Registry[] = [];
  let anonymous: Registry | undefined;
  let basic: Registry | undefined;
  let tokens: Registry | undefined;
  let tokenServer: Registry | undefined;
  let dir = '';
  let app: BuiltImage;
  let multi: { images: BuiltImage[] };
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => registries.map((r) => registryLog(r)), fn));
  };
  const ok = expectOk;
  const digestOf = async (root: string, name: string): Promise<string> => {
    const [info] = JSON.parse(ok(await berth(root, ['inspect', name]), 'inspect').stdout) as { Digest: string }[];
    return info?.Digest ?? '';
  };

  before(async () => {
    requireTools('skopeo', 'busybox', 'docker-registry', 'openssl');
    dir = makeTempDir('cli-distribution');
    const skopeo = skopeoRunner(dir);
    const layout = join(dir, 'layout');
    const built = await buildTestImage(layout, 'app', { marker: 'distribution app', randomLayerSize: 1024 * 1024 });
    app = built.image;
    const builtMulti = await buildMultiArchImage(layout, 'multi', 'distribution multi');
    multi = builtMulti;
    const htpasswd = join(dir, 'htpasswd');
    writeFileSync(htpasswd, `alice:${bcrypt.hashSync(PASSWORD, 6).replace(/^\$2[ab]\$/, '$2y$')}\n`);

    // Berth as the token server: its signing key, as a certificate Distribution trusts
    const berthDir = makeTempDir('token-server');
    const rules = { groups: {}, access: [{ repository: 'public/**', anonymous: true, actions: ['pull'] }, { repository: '**', users: ['alice'], actions: ['*'] }] };
    tokenServer = await startRegistry({
      kind: 'berth',
      dir: berthDir,
      berthEnv: { BERTH_AUTH_MODE: 'token', BERTH_AUTH_HTPASSWD: htpasswd, BERTH_AUTH_RULES: JSON.stringify(rules), BERTH_AUTH_SERVICE: SERVICE, BERTH_AUTH_ISSUER: ISSUER },
    });
    registries.push(tokenServer);
    const cert = join(dir, 'token.crt');
    await run('openssl', ['req', '-x509', '-new', '-key', join(berthDir, 'data', 'auth', 'token-key.pem'), '-subj', '/CN=berth-test-token', '-days', '2', '-out', cert]);

    anonymous = await startRegistry({ kind: 'distribution' });
    basic = await startRegistry({ kind: 'distribution', distributionAuth: ['htpasswd:', '  realm: berth-test', `  path: ${htpasswd}`] });
    tokens = await startRegistry({
      kind: 'distribution',
      distributionAuth: ['token:', `  realm: ${tokenServer.base}/auth/token`, `  service: ${SERVICE}`, `  issuer: ${ISSUER}`, `  rootcertbundle: ${cert}`],
    });
    registries.push(anonymous, basic, tokens);
    await skopeo(['copy', '--dest-tls-verify=false', built.ref, `docker://${anonymous.url}/team/app:v1`]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', builtMulti.ref, `docker://${anonymous.url}/team/multi:v1`]);
    for (const reg of [basic, tokens]) {
      for (const repo of ['private/app', 'public/app']) {
        await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `alice:${PASSWORD}`, built.ref, `docker://${reg.url}/${repo}:v1`]);
      }
    }
  });

  after(async () => {
    await Promise.allSettled(registries.map((r) => r.stop()));
    if (dir !== '') removeTempDir(dir);
  });

  it('pulls anonymously, picks a platform from an index, and pushes back with a cross-repository mount', async () => {
    assert.ok(anonymous);
    const root = join(dir, 'root-anonymous');
    const name = `${anonymous.url}/team/app:v1`;
    ok(await berth(root, ['pull', name]), 'pull');
    assert.equal(await digestOf(root, name), app.manifest.digest);
    const multiName = `${anonymous.url}/team/multi:v1`;
    ok(await berth(root, ['pull', '--platform', 'linux/arm64', multiName]), 'pull arm64');
    assert.equal(await digestOf(root, multiName), multi.images.find((i) => i.platform.architecture === ARM64.architecture)?.manifest.digest);
    const target = `${anonymous.url}/other/app:v2`;
    ok(await berth(root, ['tag', name, target]), 'tag');
    const pushed = ok(await berth(root, ['push', target]), 'push');
    assert.match(pushed.stdout, /mounted from team\/app/);
    ok(await berth(join(dir, 'root-anonymous-2'), ['pull', target]), 'pull what was pushed');
  });

  it('pulls and pushes with Basic credentials (htpasswd), refused without them', async () => {
    assert.ok(basic);
    const root = join(dir, 'root-basic');
    const name = `${basic.url}/private/app:v1`;
    const refused = await berth(root, ['pull', name]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^berth: .*authentication required/);
    const wrong = await berth(root, ['pull', '--creds', 'alice:nope', name]);
    assert.match(wrong.stderr, /^berth: .*authentication failed for user "alice"/);
    ok(await berth(root, ['pull', '--creds', `alice:${PASSWORD}`, name]), 'pull');
    assert.equal(await digestOf(root, name), app.manifest.digest);
    ok(await berth(root, ['tag', name, `${basic.url}/team/app:v3`]), 'tag');
    ok(await berth(root, ['push', '--creds', `alice:${PASSWORD}`, `${basic.url}/team/app:v3`]), 'push');
  });

  it('pulls with Bearer tokens from Berth\'s token endpoint that Distribution verifies: with credentials, and anonymously where allowed', async () => {
    assert.ok(tokens);
    const root = join(dir, 'root-token');
    const name = `${tokens.url}/private/app:v1`;
    const refused = await berth(root, ['pull', name]);
    assert.equal(refused.code, 1, refused.stdout);
    ok(await berth(root, ['pull', '--creds', `alice:${PASSWORD}`, name]), 'pull with credentials');
    assert.equal(await digestOf(root, name), app.manifest.digest);
    ok(await berth(join(dir, 'root-token-anon'), ['pull', `${tokens.url}/public/app:v1`]), 'anonymous pull of a public repository');
    ok(await berth(root, ['tag', name, `${tokens.url}/team/app:v4`]), 'tag');
    ok(await berth(root, ['push', '--creds', `alice:${PASSWORD}`, `${tokens.url}/team/app:v4`]), 'push with a token');
  });
});
