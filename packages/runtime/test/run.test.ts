import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools, run, type RunResult, expectOk } from '@berth/test-support/exec';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth, BERTH_CLI, busyboxImage, CGROUP_LIMITS } from './run-helpers.js';

/**
 * berth run and the container commands, end to end: images built here, pushed to a started
 * registry, pulled with berth pull, run with runc (and conmon for detached ones).
 */
describe('berth run (foreground)', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  let registry: Registry | undefined;
  let dir = '';
  let root = '';
  let image = '';
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => [registryLog(registry)], fn));
  };
  const ok = expectOk;
  const fails = (r: RunResult, pattern: RegExp, what: string): void => {
    assert.notEqual(r.code, 0, `${what} should fail: ${r.stdout}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
    assert.match(lines[0] ?? '', pattern, what);
  };

  before(async () => {
    requireTools('skopeo', 'busybox', 'runc', 'conmon');
    dir = makeTempDir('run');
    root = join(dir, 'root');
    const skopeo = skopeoRunner(dir);
    const ref = await busyboxImage(join(dir, 'layout'), 'app', { Cmd: ['sh', '-c', 'echo default cmd'], Env: ['FROM_IMAGE=yes'], WorkingDir: '/tmp' });
    registry = await startRegistry();
    image = `${registry.url}/run/app:v1`;
    await skopeo(['copy', '--dest-tls-verify=false', ref, `docker://${image}`]);
    ok(await berth(root, ['pull', '-q', image]), 'pull');
  });

  after(async () => {
    await registry?.stop();
    if (dir !== '') removeTempDir(dir);
  });

  it('passes output and exit code through; the image config gives Cmd, Env and WorkingDir', async () => {
    const r = await berth(root, ['run', '--rm', image]);
    ok(r, 'run');
    assert.equal(r.stdout, 'default cmd\n');
    const env = await berth(root, ['run', '--rm', '--network', 'none', '-e', 'A=1', image, 'sh', '-c', 'echo $FROM_IMAGE $A $(pwd); echo err >&2; exit 7']);
    assert.equal(env.code, 7);
    assert.equal(env.stdout, 'yes 1 /tmp\n');
    assert.equal(env.stderr, 'err\n');
    // docker's codes when the command cannot start: 127 not found, 126 not executable; one line from the runtime
    const missing = await berth(root, ['run', '--rm', '--network', 'none', image, 'nosuchcmd']);
    assert.equal(missing.code, 127);
    assert.match(missing.stderr, /^[^\n]*nosuchcmd[^\n]*not found[^\n]*\n$/);
    assert.equal((await berth(root, ['run', '--rm', '--network', 'none', image, '/etc/passwd'])).code, 126);
  });

  it('gives the container its own pid 1, hostname and loopback, and none of the host\'s files', async () => {
    const r = await berth(root, ['run', '--rm', '--network', 'none', '--hostname', 'box', image, 'sh', '-c', 'echo $$; hostname; cat /proc/net/dev | grep -c lo:; ls /proc/1/root/ ; test -e /work && echo HOST-VISIBLE; ls /']);
    ok(r, 'run');
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], '1');
    assert.equal(lines[1], 'box');
    assert.equal(lines[2], '1');
    assert.doesNotMatch(r.stdout, /HOST-VISIBLE/);
    assert.doesNotMatch(r.stdout, /\bwork\b|\bhome\b|\bvar\b/);
  });

  it('keeps writes inside the container', async () => {
    const w = await berth(root, ['run', '--rm', '--network', 'none', image, 'sh', '-c', 'echo x > /tmp/written; echo y > /bin/new; cat /tmp/written']);
    ok(w, 'write');
    assert.equal(w.stdout, 'x\n');
    const r = await berth(root, ['run', '--rm', '--network', 'none', image, 'sh', '-c', 'ls /tmp /bin/new 2>&1; true']);
    assert.doesNotMatch(r.stdout, /written/);
    assert.match(r.stdout, /No such file/);
    // nothing left of the removed containers
    assert.deepEqual(readdirSync(join(root, 'containers')).filter((n) => !n.startsWith('.')), [], 'no container is left (.overlay-mounts and .trash stay)');
  });

  it('bind-mounts -v volumes, read-only with :ro', async () => {
    const vol = join(dir, 'vol');
    mkdirSync(vol, { recursive: true });
    writeFileSync(join(vol, 'in.txt'), 'from host\n');
    const r = await berth(root, ['run', '--rm', '--network', 'none', '-v', `${vol}:/data`, image, 'sh', '-c', 'cat /data/in.txt; echo from container > /data/out.txt']);
    ok(r, 'run -v');
    assert.equal(r.stdout, 'from host\n');
    assert.equal(readFileSync(join(vol, 'out.txt'), 'utf8'), 'from container\n');
    // a single file can be bound too
    const file = await berth(root, ['run', '--rm', '--network', 'none', '-v', `${join(vol, 'in.txt')}:/etc/motd:ro`, image, 'cat', '/etc/motd']);
    assert.equal(file.stdout, 'from host\n', file.stderr);
    const ro = await berth(root, ['run', '--rm', '--network', 'none', '-v', `${vol}:/data:ro`, image, 'sh', '-c', 'echo no > /data/ro.txt']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);
    assert.equal(existsSync(join(vol, 'ro.txt')), false);
  });

  it('leaves the overlay to runc: nothing mounted on the host, exec -u reads the users from the layers', async () => {
    ok(await berth(root, ['run', '--rm', '--network', 'none', image, 'true']), 'a first container (proves overlayfs here)');
    const id = ok(await berth(root, ['run', '-d', '--network', 'none', image, 'sh', '-c', 'echo up > /tmp/up; sleep 600']), 'run -d').stdout.trim();
    try {
      const bundle = join(root, 'containers', id);
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
      assert.equal(mounts.includes(bundle), false, `no host mount under ${bundle}`);
      const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) as { mounts: { destination: string; type: string }[] };
      assert.deepEqual(config.mounts[0] && { destination: config.mounts[0].destination, type: config.mounts[0].type }, { destination: '/', type: 'overlay' });
      const ex = await berth(root, ['exec', '-u', 'app', id, 'sh', '-c', 'id -u; id -G; cat /tmp/up']);
      ok(ex, 'exec -u');
      assert.deepEqual(ex.stdout.trim().split('\n'), ['1000', '1000 2000', 'up']);
      assert.equal(readFileSync(join(bundle, 'upper', 'tmp', 'up'), 'utf8'), 'up\n', 'the writes are in the writable layer');
    } finally {
      ok(await berth(root, ['rm', '-f', id]), 'rm -f');
    }
    assert.equal(existsSync(join(root, 'containers', id)), false);
    // rm's detached rm empties the trash; a foreground run empties it while its container
    // runs (a killed rm's leftover too) and leaves only its own bundle there
    const trash = join(root, 'containers', '.trash');
    for (let i = 0; i < 100 && readdirSync(trash).length > 0; i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(readdirSync(trash), []);
    const stale = join(trash, `${'0'.repeat(64)}.1.0`);
    mkdirSync(join(stale, 'upper'), { recursive: true });
    writeFileSync(join(stale, 'upper', 'file'), 'left over');
    ok(await berth(root, ['run', '--rm', '--network', 'none', image, 'sleep', '0.2']), 'run --rm');
    const left = readdirSync(trash);
    assert.equal(left.length, 1, left.join(' '));
    assert.notEqual(left[0], `${'0'.repeat(64)}.1.0`);
  });

  it('applies --memory, --cpus and --pids-limit through cgroups', async () => {
    const r = await berth(root, ['run', '--rm', '--network', 'none', '--memory', '64m', '--cpus', '0.5', '--pids-limit', '20', image, 'sh', '-c',
      CGROUP_LIMITS]);
    ok(r, 'run with limits');
    assert.deepEqual(r.stdout.trim().split('\n'), ['67108864', '50000', '20']);
  });

  it('applies -u, -w, --entrypoint, --read-only, --init and capability flags', async () => {
    const u = await berth(root, ['run', '--rm', '--network', 'none', '-u', 'app', '-w', '/www', image, 'sh', '-c', 'id -u; id -G; pwd']);
    ok(u, '-u');
    assert.deepEqual(u.stdout.trim().split('\n'), ['1000', '1000 2000', '/www']);
    const e = await berth(root, ['run', '--rm', '--network', 'none', '--entrypoint', 'echo', image, 'via', 'entrypoint']);
    assert.equal(e.stdout, 'via entrypoint\n');
    const ro = await berth(root, ['run', '--rm', '--network', 'none', '--read-only', image, 'touch', '/x']);
    assert.notEqual(ro.code, 0);
    const init = await berth(root, ['run', '--rm', '--network', 'none', '--init', image, 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; echo']);
    if (existsSync('/usr/bin/catatonit')) {
      ok(init, '--init');
      assert.match(init.stdout, /berth-init/);
    }
    const caps = await berth(root, ['run', '--rm', '--network', 'none', '--cap-drop', 'ALL', '--cap-add', 'NET_ADMIN', image, 'sh', '-c', 'grep CapEff /proc/self/status']);
    ok(caps, 'caps');
    assert.match(caps.stdout, /CapEff:\s+0000000000001000/);
    const def = await berth(root, ['run', '--rm', '--network', 'none', image, 'sh', '-c', 'grep -E "CapEff|NoNewPrivs|Seccomp:" /proc/self/status']);
    assert.match(def.stdout, /CapEff:\s+00000000a80425fb/);
    assert.match(def.stdout, /NoNewPrivs:\s+1/);
    assert.match(def.stdout, /Seccomp:\s+2/);
  });

  it('gives -t a real pseudo-terminal', async () => {
    requireTools('script');
    const cmd = `${process.execPath} ${BERTH_CLI} --root ${root} run --rm --network none -t ${image} sh -c 'tty; test -t 0 && echo is-a-tty'`;
    const r = await run('script', ['-qec', cmd, '/dev/null'], { allowFailure: true, timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/0/);
    assert.match(r.stdout, /is-a-tty/);
  });

  it('takes -e from the environment and --env-file, and passes signals on to the container', async () => {
    const file = join(dir, 'env.list');
    writeFileSync(file, '# comment\nFROM_FILE=file value\n\nOVERRIDE=file\n');
    const r = await berth(root, ['run', '--rm', '--network', 'none', '--env-file', file, '-e', 'OVERRIDE=flag', '-e', 'FROM_HOST', image, 'sh', '-c', 'echo "$FROM_FILE|$OVERRIDE|$FROM_HOST"'], { env: { FROM_HOST: 'host value' } });
    ok(r, 'run --env-file');
    assert.equal(r.stdout, 'file value|flag|host value\n');
    // SIGTERM to `berth run` reaches the container, whose handler picks the exit code
    const child = spawn(process.execPath, [BERTH_CLI, '--root', root, 'run', '--rm', '--network', 'none', image, 'sh', '-c', 'trap "echo got TERM; exit 5" TERM; echo ready; while true; do sleep 0.1; done'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    const ready = new Promise<void>((resolve) => child.stdout.on('data', (s: string) => {
      out += s;
      if (out.includes('ready')) resolve();
    }));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await ready;
    child.kill('SIGTERM');
    assert.equal(await exited, 5);
    assert.equal(out, 'ready\ngot TERM\n');
  });

  it('refuses bad input with one line and leaves no container behind', async () => {
    const before = readdirSync(join(root, 'containers')).length;
    // docker's "Unable to find image locally" and the pull's first line come before the error
    const missing = await berth(root, ['run', '--rm', '--network', 'none', `${registry?.url ?? ''}/run/missing:v1`, 'true']);
    assert.equal(missing.code, 1);
    assert.deepEqual(missing.stderr.split('\n').filter((l) => l.startsWith('berth:')).length, 1);
    assert.match(missing.stderr.trimEnd().split('\n').pop() ?? '', /^berth: .*missing.*not found/);
    fails(await berth(root, ['run', '--rm', '--network', 'none', '--memory', 'lots', image, 'true']), /--memory/, 'bad memory');
    fails(await berth(root, ['run', '--rm', '--network', 'none', '--cpus', '-1', image, 'true']), /--cpus/, 'bad cpus');
    fails(await berth(root, ['run', '--rm', '--network', 'none', '--network', 'mesh', image, 'true']), /--network/, 'bad network');
    fails(await berth(root, ['run', '--rm', '--network', 'none', '-v', 'relative', image, 'true']), /volume/, 'bad volume');
    fails(await berth(root, ['run', '--rm', '--network', 'none', '--cap-add', 'CAP_NOPE', image, 'true']), /capability/, 'bad capability');
    fails(await berth(root, ['run', '--rm', '--network', 'none', '-u', 'nosuchuser', image, 'true']), /nosuchuser/, 'unknown user');
    ok(await berth(root, ['run', '--network', 'none', '--name', 'taken', image, 'true']), 'first of a name');
    fails(await berth(root, ['run', '--network', 'none', '--name', 'taken', image, 'true']), /already in use/, 'name used');
    ok(await berth(root, ['rm', 'taken']), 'rm');
    assert.equal(readdirSync(join(root, 'containers')).length, before);
    const ps = await berth(root, ['ps', '-aq']);
    assert.equal(ps.stdout, '');
  });

  it('says in one line that it needs root', async () => {
    // an unmapped user namespace: berth sees uid 65534, yet reads its files wherever the checkout is
    const r = await run('unshare', ['--user', process.execPath, BERTH_CLI, '--root', join(dir, 'nobody'), 'ps'], { allowFailure: true });
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'berth: berth ps needs root: run it as root (e.g. with sudo)\n');
  });
});
