import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools, run, type RunResult, expectOk } from '@berth/test-support/exec';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { Containers } from '@berth/runtime/containers';
import { berth, BERTH_CLI, busyboxImage, CGROUP_LIMITS } from './run-helpers.js';

/** Detached containers under conmon: ps, logs, exec, stop, start, restart, kill, wait, rm, inspect, commit. */
describe('detached containers', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, () => {
  let registry: Registry | undefined;
  let dir = '';
  let root = '';
  let image = '';
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => [registryLog(registry)], fn));
  };
  const ok = expectOk;
  const b = (...args: string[]): Promise<RunResult> => berth(root, args);
  const SERVICE = 'echo started; echo to-stderr >&2; trap "echo got TERM; exit 3" TERM; while true; do sleep 0.1; done';

  before(async () => {
    requireTools('skopeo', 'busybox', 'runc', 'conmon');
    dir = makeTempDir('containers');
    root = join(dir, 'root');
    const skopeo = skopeoRunner(dir);
    const ref = await busyboxImage(join(dir, 'layout'), 'app', { Cmd: ['sh', '-c', SERVICE] });
    registry = await startRegistry();
    image = `${registry.url}/ctr/app:v1`;
    await skopeo(['copy', '--dest-tls-verify=false', ref, `docker://${image}`]);
    ok(await b('pull', '-q', image), 'pull');
  });

  after(async () => {
    if (root !== '') {
      const ids = (await b('ps', '-aq')).stdout.trim().split('\n').filter((l) => l !== '');
      if (ids.length > 0) await b('rm', '-f', ...ids);
    }
    await registry?.stop();
    if (dir !== '') removeTempDir(dir);
  });

  it('runs detached: ps, logs, exec, stop within the grace period, start, restart, rm', async () => {
    const run = ok(await b('run', '-d', '--name', 'svc', '--network', 'none', image), 'run -d');
    const id = run.stdout.trim();
    assert.match(id, /^[a-f0-9]{64}$/);
    const ps = ok(await b('ps'), 'ps');
    assert.match(ps.stdout, new RegExp(`^${id.slice(0, 12)}\\s+${image.replace(/[.]/g, '\\.')}\\s+.*Up .*svc$`, 'm'));
    assert.equal(ok(await b('ps', '-q'), 'ps -q').stdout, `${id.slice(0, 12)}\n`);
    // the output reaches the log (give the shell a moment to start)
    for (let i = 0; i < 50 && !(await b('logs', 'svc')).stdout.includes('started'); i++) await new Promise((r) => setTimeout(r, 100));
    const logs = ok(await b('logs', 'svc'), 'logs');
    assert.equal(logs.stdout, 'started\n');
    assert.equal(logs.stderr, 'to-stderr\n');
    const stamped = ok(await b('logs', '-t', '--tail', '1', id.slice(0, 8)), 'logs -t --tail');
    assert.match(stamped.stdout + stamped.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z (started|to-stderr)\n$/);
    const ex = await b('exec', '-e', 'X=42', '-u', 'app', '-w', '/tmp', 'svc', 'sh', '-c', 'echo $X $(id -u) $(pwd); exit 5');
    assert.equal(ex.code, 5);
    assert.equal(ex.stdout, '42 1000 /tmp\n');
    // the container's TERM handler exits 3 long before the 10 s grace period ends
    const t0 = Date.now();
    ok(await b('stop', '-t', '10', 'svc'), 'stop');
    assert.ok(Date.now() - t0 < 8000, `stop took ${Date.now() - t0} ms`);
    assert.match(ok(await b('ps', '-a'), 'ps -a').stdout, /Exited \(3\)/);
    assert.equal(ok(await b('wait', 'svc'), 'wait').stdout, '3\n');
    assert.match((await b('logs', 'svc')).stdout, /got TERM/);
    const notRunning = await b('exec', 'svc', 'true');
    assert.equal(notRunning.code, 1);
    assert.match(notRunning.stderr, /^berth: container svc is not running\n$/);
    // start again: same container, same rootfs
    ok(await b('start', 'svc'), 'start');
    ok(await b('exec', 'svc', 'touch', '/tmp/kept'), 'exec touch');
    ok(await b('restart', '-t', '1', 'svc'), 'restart');
    ok(await b('exec', 'svc', 'test', '-e', '/tmp/kept'), 'file kept across restart');
    const inspect = JSON.parse(ok(await b('inspect', 'svc'), 'inspect').stdout) as { Id: string; Name: string; State: { Running: boolean; Pid: number }; Config: { Cmd: string[] } }[];
    assert.equal(inspect[0]?.Id, id);
    assert.equal(inspect[0]?.Name, '/svc');
    assert.equal(inspect[0]?.State.Running, true);
    assert.ok((inspect[0]?.State.Pid ?? 0) > 1);
    // what a layer prune must keep: the container's one layer
    const containers = await Containers.open({ root });
    try {
      assert.equal((await containers.layersInUse()).size, 1);
      assert.equal(containers.imagesInUse().size, 1);
    } finally {
      containers.close();
    }
    // a name that is no container is still an image
    const img = JSON.parse(ok(await b('inspect', image), 'inspect image').stdout) as { Digest?: string; State?: unknown }[];
    assert.match(img[0]?.Digest ?? '', /^sha256:/);
    assert.equal(img[0]?.State, undefined);
    const rmRunning = await b('rm', 'svc');
    assert.equal(rmRunning.code, 1);
    assert.match(rmRunning.stderr, /is running/);
    ok(await b('rm', '-f', 'svc'), 'rm -f');
    assert.equal(ok(await b('ps', '-aq'), 'ps').stdout, '');
    assert.deepEqual(readdirSync(join(root, 'containers')).filter((n) => !n.startsWith('.')), [], 'no container is left (.overlay-mounts and .trash stay)');
  });

  it('kills with a signal, waits, removes --rm containers when they end', async () => {
    const id = ok(await b('run', '-d', '--rm', '--network', 'none', image, 'sh', '-c', 'trap "exit 9" USR1; while true; do sleep 0.1; done'), 'run -d --rm').stdout.trim();
    await new Promise((r) => setTimeout(r, 300));
    ok(await b('kill', '-s', 'USR1', id), 'kill -s USR1');
    const w = await b('wait', id);
    // an --rm container may be gone before wait looks
    assert.ok(w.stdout === '9\n' || /no such container|was removed/.test(w.stderr), w.stdout + w.stderr);
    for (let i = 0; i < 50 && (await b('ps', '-aq')).stdout !== ''; i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal((await b('ps', '-aq')).stdout, '');
    const bad = await b('kill', '-s', 'NOPE', 'nothing');
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.split('\n').length, 2);
  });

  it('start -a and attach stream the output and exit with the container\'s code', async () => {
    assert.equal((await b('run', '--name', 'once', '--network', 'none', image, 'sh', '-c', 'echo run-$RANDOM; exit 4')).code, 4);
    const a = await b('start', '-a', 'once');
    assert.equal(a.code, 4, a.stderr);
    assert.match(a.stdout, /^run-\d+\n$/);
    ok(await b('rm', 'once'), 'rm');
  });

  it('attach sends standard input to a container started with -i', async () => {
    requireTools('socat');
    ok(await b('run', '-di', '--name', 'reader', '--network', 'none', image, 'sh', '-c', 'while read line; do echo "got: $line"; [ "$line" = quit ] && exit 8; done'), 'run -di');
    const a = await berth(root, ['attach', 'reader'], { input: 'hello\nquit\n' });
    assert.equal(a.code, 8, a.stderr);
    assert.equal(a.stdout, 'got: hello\ngot: quit\n');
    ok(await b('rm', 'reader'), 'rm');
  });

  it('gives detached -t containers a terminal; exec -t too', async () => {
    requireTools('script');
    const id = ok(await b('run', '-dt', '--network', 'none', image, 'sh', '-c', 'tty; sleep 1; echo done; exit 6'), 'run -dt').stdout.trim();
    const a = await b('attach', id);
    // attached after `tty` ran, perhaps: the rest of the output and the exit code
    assert.equal(a.code, 6, a.stderr);
    assert.match(a.stdout, /done/);
    assert.match(ok(await b('logs', id), 'logs').stdout, /^\/dev\/pts\/0\r?\ndone/);
    ok(await b('rm', id), 'rm');
    ok(await b('run', '-d', '--name', 'forexec', '--network', 'none', image, 'sleep', '30'), 'run -d');
    const cmd = `${process.execPath} ${BERTH_CLI} --root ${root} exec -it forexec sh -c 'tty; echo $TERM'`;
    const r = await run('script', ['-qec', cmd, '/dev/null'], { allowFailure: true, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /\/dev\/pts\/\d+\r?\nxterm/);
    ok(await b('rm', '-f', 'forexec'), 'rm -f');
  });

  it('runs with crun as well as runc (crun hidden from the cgroup v2 mount of this hybrid host)', async () => {
    requireTools('crun');
    const fg = await b('run', '--rm', '--runtime', 'crun', '--network', 'none', '--memory', '64m', '--pids-limit', '30', image, 'sh', '-c', `echo $$; ${CGROUP_LIMITS}`);
    assert.equal(fg.code, 0, fg.stderr);
    const [pid, memory, cpu, pids] = fg.stdout.trim().split('\n');
    assert.deepEqual([pid, memory, pids], ['1', '67108864', '30']);
    assert.ok(cpu === '-1' || cpu === 'max', `no CPU quota, got ${cpu ?? ''}`);
    const id = ok(await b('run', '-d', '--runtime', 'crun', '--network', 'none', image), 'run -d crun').stdout.trim();
    for (let i = 0; i < 50 && !(await b('logs', id)).stdout.includes('started'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.equal(ok(await b('exec', id, 'echo', 'in crun'), 'exec').stdout, 'in crun\n');
    ok(await b('stop', '-t', '5', id), 'stop');
    assert.equal(ok(await b('wait', id), 'wait').stdout, '3\n');
    const inspect = JSON.parse(ok(await b('inspect', id), 'inspect').stdout) as { HostConfig: { Runtime: string } }[];
    assert.equal(inspect[0]?.HostConfig.Runtime, 'crun');
    ok(await b('rm', id), 'rm');
  });

  it('commits a container\'s changes as a new image that can be pushed, pulled and run', async () => {
    ok(await b('run', '--name', 'tocommit', '--network', 'none', image, 'sh', '-c', 'echo committed > /etc/marker; rm /bin/false'), 'run');
    const committed = `${registry?.url ?? ''}/ctr/committed:v2`;
    const id = ok(await b('commit', '-c', 'CMD ["cat", "/etc/marker"]', 'tocommit', committed), 'commit').stdout.trim();
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    ok(await b('push', committed), 'push');
    // a fresh store pulls the committed image and runs it
    const other = join(dir, 'other');
    const r = await berth(other, ['run', '--rm', '--network', 'none', committed]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'committed\n');
    // the deletion is a whiteout in the new layer
    const gone = await berth(other, ['run', '--rm', '--network', 'none', committed, 'sh', '-c', 'test -e /bin/false && echo present || echo deleted']);
    assert.equal(gone.stdout, 'deleted\n');
    ok(await b('rm', 'tocommit'), 'rm');
  });

  it('rmi refuses an image a container was made from, then removes it and its unpacked layers once the container is gone', async () => {
    const other = join(dir, 'rmi-root');
    const r = (...args: string[]): Promise<RunResult> => berth(other, args);
    ok(await r('pull', '-q', image), 'pull');
    ok(await r('run', '--name', 'holder', '--network', 'none', image, 'true'), 'run');
    const layers = (): string[] => readdirSync(join(other, 'layers', 'sha256')).filter((n) => !n.startsWith('.'));
    assert.ok(layers().length > 0, 'layers unpacked');
    const refused = await r('rmi', image);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^berth: image .* is used by container holder/);
    assert.equal(refused.stderr.trimEnd().split('\n').length, 1);
    assert.notEqual(ok(await r('images', '-q'), 'images').stdout.trim(), '', 'the image is still there');
    ok(await r('rm', 'holder'), 'rm');
    ok(await r('rmi', image), 'rmi');
    assert.deepEqual(layers(), [], 'the layer cache holds nothing no image or container uses');
    assert.equal(ok(await r('images', '-q'), 'images').stdout, '');
  });
});
