import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { getManifest } from '../support/api.js';
import { startContainerd, type Containerd } from '../support/containerd.js';
import { containersStore, type Runner } from '../support/containers-storage.js';
import { registryLog, withLogs } from '../support/diagnose.js';
import { startDockerd, type DockerDaemon } from '../support/dockerd.js';
import { requireTools, type RunResult } from '../support/exec.js';
import { buildTestImage, type BuiltImage } from '../support/images.js';
import { startRegistry, type Registry } from '../support/registry.js';
import { loggedRequests, serverProblems } from '../support/registry-log.js';
import { skopeoRunner } from '../support/skopeo.js';
import { makeTempDir, removeTempDir } from '../support/tmp.js';

/**
 * Real clients log in and push and pull against Berth with auth.mode htpasswd or
 * token: docker (a private dockerd), skopeo, podman and ctr. alice pushes to team-a/*,
 * bob only pulls, admin does everything, anyone pulls public/*.
 */
const USERS = { alice: 'alice-pw-Secret1', bob: 'bob-pw-Secret2', admin: 'admin-pw-Secret3' } as const;
const RULES = {
  groups: { team: ['alice'] },
  access: [
    { repository: 'public/**', anonymous: true, actions: ['pull'] },
    { repository: 'team-a/**', groups: ['team'], actions: ['pull', 'push'] },
    { repository: '**', users: ['bob'], actions: ['pull'] },
    { repository: '**', users: ['admin'], actions: ['*'] },
  ],
};

/** How the clients word a refusal: 401 or 403, in their own ways. */
const REFUSED = /denied|unauthorized|authentication required|403|forbidden/i;

export function describeClientAuth(mode: 'htpasswd' | 'token'): void {
  describe(`real clients with auth.mode ${mode}`, () => {
    let registry: Registry | undefined;
    let dockerd: DockerDaemon | undefined;
    let containerd: Containerd | undefined;
    let dir = '';
    let image: BuiltImage;
    let imageRef = '';
    let skopeo: (args: readonly string[], allowFailure?: boolean) => Promise<RunResult>;
    let podman: Runner;
    const it = (name: string, fn: () => Promise<void>): void => {
      test(
        name,
        withLogs(
          () => [
            registryLog(registry),
            dockerd && { name: 'dockerd', logTail: (n) => dockerd?.logTail(n) ?? '' },
            containerd && { name: 'containerd', logTail: (n) => containerd?.logTail(n) ?? '' },
          ],
          fn,
        ),
      );
    };
    const reg = (): Registry => {
      assert.ok(registry, 'registry did not start');
      return registry;
    };
    const ref = (repoTag: string): string => `${reg().url}/${repoTag}`;
    const docker = (args: readonly string[], allowFailure = false, input?: string): Promise<RunResult> => {
      assert.ok(dockerd, 'dockerd did not start');
      if (input === undefined) return dockerd.docker(args, allowFailure);
      return import('../support/exec.js').then(({ run }) => run('docker', args, { env: dockerd?.env, allowFailure, input, timeoutMs: 120_000 }));
    };
    const ctr = (args: readonly string[], allowFailure = false): Promise<RunResult> => {
      assert.ok(containerd, 'containerd did not start');
      return containerd.ctr(args, allowFailure);
    };
    const failed = (r: RunResult, what: string, pattern: RegExp): void => {
      assert.notEqual(r.code, 0, `${what} should fail`);
      assert.match(r.stdout + r.stderr, pattern, what);
    };

    before(async () => {
      requireTools('docker', 'dockerd', 'skopeo', 'podman', 'ctr', 'containerd', 'busybox');
      dir = makeTempDir(`auth-${mode}`);
      const htpasswd = join(dir, 'htpasswd');
      writeFileSync(htpasswd, Object.entries(USERS).map(([u, p]) => `${u}:${bcrypt.hashSync(p, 6).replace(/^\$2[ab]\$/, '$2y$')}`).join('\n') + '\n');
      const starting = Promise.allSettled([
        startRegistry({
          kind: 'berth',
          berthEnv: { BERTH_AUTH_MODE: mode, BERTH_AUTH_HTPASSWD: htpasswd, BERTH_AUTH_RULES: JSON.stringify(RULES), BERTH_AUTH_MAXFAILURES: '50' },
        }),
        startDockerd(),
        startContainerd(),
      ]);
      const built = await buildTestImage(join(dir, 'layout'), 'v1', { marker: `auth ${mode}`, randomLayerSize: 256 * 1024 });
      image = built.image;
      imageRef = built.ref;
      skopeo = skopeoRunner(dir);
      ({ podman } = containersStore(join(dir, 'containers')));
      await skopeo(['copy', built.ref, `docker-archive:${join(dir, 'app.tar')}:berth-auth/app:v1`]);
      const [r, d, c] = await starting;
      if (r.status === 'fulfilled') registry = r.value;
      if (d.status === 'fulfilled') dockerd = d.value;
      if (c.status === 'fulfilled') containerd = c.value;
      for (const s of [r, d, c]) if (s.status === 'rejected') throw s.reason;
      await docker(['load', '-i', join(dir, 'app.tar')]);
    });

    after(async () => {
      await Promise.allSettled([registry?.stop(), dockerd?.stop(), containerd?.stop()]);
      if (dir !== '') removeTempDir(dir);
    });

    it('anonymous requests are challenged the way clients expect', async () => {
      const res = await fetch(`${reg().base}/v2/team-a/x/manifests/v1`);
      assert.equal(res.status, 401);
      const challenge = res.headers.get('www-authenticate') ?? '';
      if (mode === 'htpasswd') assert.match(challenge, /^Basic realm="/);
      else assert.match(challenge, /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/auth\/token",service="berth-registry",scope="repository:team-a\/x:pull"$/);
    });

    it('skopeo login; copy to a permitted repository; a forbidden one is denied; bad password refused', async () => {
      failed(await skopeo(['login', '--tls-verify=false', '-u', 'alice', '-p', 'wrong', reg().url], true), 'skopeo login with a bad password', /unauthorized|invalid username/i);
      await skopeo(['login', '--tls-verify=false', '-u', 'alice', '-p', USERS.alice, reg().url]);
      await skopeo(['copy', '--dest-tls-verify=false', imageRef, `docker://${ref('team-a/skopeo:v1')}`]);
      failed(
        await skopeo(['copy', '--dest-tls-verify=false', imageRef, `docker://${ref('team-b/skopeo:v1')}`], true),
        'skopeo copy to team-b as alice',
        REFUSED,
      );
      const inspected = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref('team-a/skopeo:v1')}`]);
      assert.equal(inspected.stdout.trim().length > 0, true);
      await skopeo(['logout', reg().url]);
      // as admin with --dest-creds: an anonymously readable image
      await skopeo(['copy', '--dest-tls-verify=false', '--dest-creds', `admin:${USERS.admin}`, imageRef, `docker://${ref('public/base:v1')}`]);
      await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref('public/base:v1')}`]);
      failed(await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${ref('team-a/skopeo:v1')}`], true), 'anonymous inspect of team-a', REFUSED);
    });

    it('podman login, pull, push; push outside its namespace fails', async () => {
      await podman(['login', '--tls-verify=false', '-u', 'alice', '-p', USERS.alice, reg().url]);
      await podman(['pull', '--tls-verify=false', ref('team-a/skopeo:v1')]);
      await podman(['push', '--tls-verify=false', ref('team-a/skopeo:v1'), `docker://${ref('team-a/podman:v1')}`]);
      const m = await getManifest(reg(), 'team-a/podman', 'v1');
      assert.equal(m.status, 401, 'the test helper has no credentials: refused');
      await podman(['inspect', '--format', '{{.Id}}', ref('team-a/skopeo:v1')]);
      failed(await podman(['push', '--tls-verify=false', ref('team-a/skopeo:v1'), `docker://${ref('team-b/podman:v1')}`], true), 'podman push to team-b', REFUSED);
      await podman(['logout', reg().url]);
      await podman(['login', '--tls-verify=false', '-u', 'bob', '-p', USERS.bob, reg().url]);
      await podman(['pull', '--tls-verify=false', ref('team-a/podman:v1')]);
      failed(await podman(['push', '--tls-verify=false', ref('team-a/skopeo:v1'), `docker://${ref('team-a/bob:v1')}`], true), 'podman push as bob (pull only)', REFUSED);
    });

    it('docker login, push, pull; denied outside the namespace; logged out only public pulls', async () => {
      failed(await docker(['login', '-u', 'alice', '--password-stdin', reg().url], true, 'nope\n'), 'docker login with a bad password', /unauthorized|invalid username or password/i);
      const login = await docker(['login', '-u', 'alice', '--password-stdin', reg().url], false, `${USERS.alice}\n`);
      assert.match(login.stdout, /Login Succeeded/);
      const config = readFileSync(join(String(dockerd?.env['DOCKER_CONFIG']), 'config.json'), 'utf8');
      if (mode === 'token') assert.match(config, /identitytoken/, 'docker keeps the refresh token, not the password');
      await docker(['tag', 'berth-auth/app:v1', ref('team-a/docker:v1')]);
      const pushed = await docker(['push', ref('team-a/docker:v1')]);
      assert.match(pushed.stdout, /digest: sha256:[0-9a-f]{64}/);
      await docker(['tag', 'berth-auth/app:v1', ref('team-b/docker:v1')]);
      failed(await docker(['push', ref('team-b/docker:v1')], true), 'docker push to team-b', REFUSED);
      await docker(['rmi', ref('team-a/docker:v1'), ref('team-b/docker:v1')]);
      await docker(['pull', ref('team-a/docker:v1')]);
      await docker(['logout', reg().url]);
      await docker(['rmi', ref('team-a/docker:v1')]);
      failed(await docker(['pull', ref('team-a/docker:v1')], true), 'anonymous docker pull of team-a', /unauthorized|authentication required|denied|no basic auth/i);
      if (mode === 'token') {
        // docker follows a Bearer challenge anonymously; after a Basic one it wants credentials
        await docker(['pull', ref('public/base:v1')]);
        const id = (await docker(['image', 'inspect', '--format', '{{.Id}}', ref('public/base:v1')])).stdout.trim();
        assert.equal(id, image.config.digest);
      }
    });

    it('ctr --user: pull and push with credentials, refused without or with a bad password', async () => {
      await ctr(['images', 'pull', '--plain-http', '--user', `bob:${USERS.bob}`, ref('team-a/skopeo:v1')]);
      failed(await ctr(['images', 'pull', '--plain-http', '--user', 'bob:wrong', ref('team-a/docker:v1')], true), 'ctr pull with a bad password', /401|unauthorized|failed to authorize|access denied|authorization failed/i);
      failed(await ctr(['images', 'pull', '--plain-http', ref('team-a/docker:v1')], true), 'ctr pull without credentials', /401|unauthorized|failed to authorize|access denied|authorization failed/i);
      await ctr(['images', 'tag', ref('team-a/skopeo:v1'), ref('team-a/ctr:v1')]);
      await ctr(['images', 'push', '--plain-http', '--user', `alice:${USERS.alice}`, ref('team-a/ctr:v1')]);
      await ctr(['images', 'tag', ref('team-a/skopeo:v1'), ref('team-b/ctr:v1')]);
      failed(await ctr(['images', 'push', '--plain-http', '--user', `alice:${USERS.alice}`, ref('team-b/ctr:v1')], true), 'ctr push to team-b', /403|denied|401|unauthorized/i);
      await ctr(['images', 'pull', '--plain-http', '--user', `admin:${USERS.admin}`, ref('team-a/ctr:v1')]);
    });

    it('the registry answered no request with a 5xx, logged no errors and no secrets', async () => {
      assert.ok(loggedRequests(reg()).length > 0, `no request lines found in ${reg().logFile}`);
      assert.deepEqual(serverProblems(reg()), []);
      const log = readFileSync(reg().logFile, 'utf8');
      for (const secret of Object.values(USERS)) assert.ok(!log.includes(secret), 'a password is in the log');
      assert.ok(!/eyJ[A-Za-z0-9_-]{10,}\./.test(log), 'a token is in the log');
      assert.ok(!/authorization/i.test(log), 'an Authorization header is in the log');
    });
  });
}
