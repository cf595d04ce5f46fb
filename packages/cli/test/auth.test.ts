import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools, type RunResult, expectOk } from '@berth/test-support/exec';
import { buildTestImage, type BuiltImage } from '@berth/test-support/images';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth } from './berth.js';

const PASSWORD = 'alice-pw-Secret1';
const RULES = {
  groups: {},
  access: [
    { repository: 'public/**', anonymous: true, actions: ['pull'] },
    { repository: '**', users: ['alice'], actions: ['*'] },
  ],
};

for (const mode of ['htpasswd', 'token'] as const) {
  describe(`berth pull and push with auth.mode ${mode}`, () => {
    let registry: Registry | undefined;
    let dir = '';
    let image: BuiltImage;
    let skopeo: (args: readonly string[], allowFailure?: boolean) => Promise<RunResult>;
    const it = (name: string, fn: () => Promise<void>): void => {
      test(name, withLogs(() => [registryLog(registry)], fn));
    };
    const reg = (): Registry => {
      assert.ok(registry, 'registry did not start');
      return registry;
    };
    const ok = expectOk;

    before(async () => {
      requireTools('skopeo', 'busybox');
      dir = makeTempDir(`cli-${mode}`);
      skopeo = skopeoRunner(dir);
      const built = await buildTestImage(join(dir, 'layout'), 'v1', { marker: `cli ${mode}`, randomLayerSize: 300 * 1024 });
      image = built.image;
      const htpasswd = join(dir, 'htpasswd');
      writeFileSync(htpasswd, `alice:${bcrypt.hashSync(PASSWORD, 6).replace(/^\$2[ab]\$/, '$2y$')}\n`);
      registry = await startRegistry({
        kind: 'berth',
        berthEnv: { BERTH_AUTH_MODE: mode, BERTH_AUTH_HTPASSWD: htpasswd, BERTH_AUTH_RULES: JSON.stringify(RULES), BERTH_AUTH_MAXFAILURES: '50' },
      });
      for (const repo of ['private/app', 'public/app']) {
        await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `alice:${PASSWORD}`, built.ref, `docker://${reg().url}/${repo}:v1`]);
      }
    });

    after(async () => {
      await registry?.stop();
      if (dir !== '') removeTempDir(dir);
    });

    it('pulls a private image with credentials and refuses without or with wrong ones', async () => {
      const root = join(dir, 'root-private');
      const name = `${reg().url}/private/app:v1`;
      const anonymous = await berth(root, ['pull', name]);
      assert.equal(anonymous.code, 1);
      assert.match(anonymous.stderr, /^berth: .*authentication required/);
      const wrong = await berth(root, ['pull', '--creds', 'alice:wrong', name]);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /^berth: .*authentication failed for user "alice"/);
      ok(await berth(root, ['pull', '--creds', `alice:${PASSWORD}`, name]), 'pull with credentials');
      ok(await berth(root, ['pull', '--creds', 'alice', name], { BERTH_PASSWORD: PASSWORD }), 'password from BERTH_PASSWORD');
      const inspect = JSON.parse((await berth(root, ['inspect', name])).stdout) as { Digest: string }[];
      assert.equal(inspect[0]?.Digest, image.manifest.digest);
    });

    it('login checks and stores credentials that pull uses; logout forgets them', async () => {
      const root = join(dir, 'root-login');
      const authFile = join(dir, 'login', 'berth-auth.json');
      const env = { BERTH_AUTH_FILE: authFile };
      const name = `${reg().url}/private/app:v1`;
      const wrong = await berth(root, ['login', '-u', 'alice', '-p', 'wrong', reg().url], env);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /^berth: .*authentication failed for user "alice"/);
      assert.ok(!existsSync(authFile), 'nothing stored after a refused login');
      const good = await berth(root, ['login', '-u', 'alice', reg().url], { ...env, BERTH_PASSWORD: PASSWORD });
      ok(good, 'login');
      assert.match(good.stdout, /^Login Succeeded/);
      assert.equal(statSync(authFile).mode & 0o777, 0o600);
      assert.ok(!readFileSync(authFile, 'utf8').includes(PASSWORD), 'the password is not stored in clear');
      ok(await berth(root, ['pull', name], env), 'pull with stored credentials');
      ok(await berth(root, ['logout', reg().url], env), 'logout');
      const after = await berth(join(dir, 'root-login-2'), ['pull', name], env);
      assert.equal(after.code, 1);
      assert.match(after.stderr, /authentication required/);
      const again = await berth(root, ['logout', reg().url], env);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /^berth: not logged in to /);
      assert.equal((await berth(root, ['login', reg().url], env)).code, 1, 'login without a user name');
    });

    it('uses credentials from docker\'s config.json', async () => {
      const dockerDir = join(dir, 'docker-config');
      mkdirSync(dockerDir, { recursive: true });
      const auth = Buffer.from(`alice:${PASSWORD}`).toString('base64');
      writeFileSync(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [reg().url]: { auth } } }));
      ok(await berth(join(dir, 'root-docker'), ['pull', `${reg().url}/private/app:v1`], { DOCKER_CONFIG: dockerDir }), 'pull with docker credentials');
    });

    it('pulls a public image anonymously', async () => {
      ok(await berth(join(dir, 'root-public'), ['pull', `${reg().url}/public/app:v1`]), 'anonymous pull');
    });

    it('pushes with credentials (mounting from the repository it came from) and refuses an anonymous push', async () => {
      const root = join(dir, 'root-push');
      ok(await berth(root, ['pull', '--creds', `alice:${PASSWORD}`, `${reg().url}/private/app:v1`]), 'pull');
      ok(await berth(root, ['tag', `${reg().url}/private/app:v1`, `${reg().url}/team/app:v2`]), 'tag');
      const anonymous = await berth(root, ['push', `${reg().url}/team/app:v2`]);
      assert.equal(anonymous.code, 1);
      assert.match(anonymous.stderr, /^berth: .*(authentication required|denied)/);
      const pushed = await berth(root, ['push', '--creds', `alice:${PASSWORD}`, `${reg().url}/team/app:v2`]);
      ok(pushed, 'push');
      assert.match(pushed.stdout, /mounted from private\/app/);
      ok(await berth(join(dir, 'root-check'), ['pull', '--creds', `alice:${PASSWORD}`, `${reg().url}/team/app:v2`]), 'pull what was pushed');
    });
  });
}
