import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import {
  buildSpec,
  capabilitySet,
  DEFAULT_CAPABILITIES,
  defaultSeccomp,
  InvalidCapabilityError,
  MASKED_PATHS,
  NoCommandError,
  parseRecord,
  processArgs,
  readLog,
  resolveUser,
  UnknownUserError,
  type LogRecord,
  type RuntimeSpec,
  type SpecInput,
} from '@berth/runtime/containers';
import { containerRlimits } from '../src/containers/rlimits.js';
import { kernelHasX32 } from '../src/containers/x32.js';

const base: SpecInput = {
  image: { Cmd: ['sh'], Env: ['PATH=/usr/bin:/bin', 'LANG=C'], WorkingDir: '/app' },
  command: [],
  env: [],
  user: { uid: 0, gid: 0 },
  hostname: 'abc',
  tty: false,
  readOnly: false,
  capAdd: [],
  capDrop: [],
  volumes: [],
  etcFiles: {},
  network: 'new',
  cgroupsPath: '/berth/x',
  rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
  arch: 'x64',
};

const CAPS = new Set([
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
]);

/** The runtime-spec's (v1.0.2) rules for config.json that apply to what we generate. */
function assertValidSpec(s: RuntimeSpec): void {
  assert.match(s.ociVersion, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'ociVersion is SemVer');
  assert.equal(s.root.path, 'rootfs');
  assert.ok(s.process.cwd.startsWith('/'), 'process.cwd MUST be absolute');
  assert.ok(s.process.args.length > 0, 'process.args is required');
  for (const e of s.process.env) assert.match(e, /^[^=]+=/, `env entry ${e} is KEY=value`);
  for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) {
    for (const c of s.process.capabilities[set]) assert.ok(CAPS.has(c), `${c} is a capability`);
  }
  for (const r of s.process.rlimits) {
    assert.match(r.type, /^RLIMIT_[A-Z]+$/);
    assert.ok(r.soft <= r.hard, 'soft <= hard');
  }
  for (const m of s.mounts) assert.ok(m.destination.startsWith('/'), `mount destination ${m.destination} absolute`);
  const types = s.linux.namespaces.map((n) => n.type);
  assert.equal(new Set(types).size, types.length, 'each namespace type at most once');
  for (const t of types) assert.ok(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup'].includes(t));
  if (s.hostname !== '') assert.ok(types.includes('uts'), 'a hostname needs a new UTS namespace');
  assert.ok(s.linux.cgroupsPath.startsWith('/'));
  for (const p of [...s.linux.maskedPaths, ...s.linux.readonlyPaths]) assert.ok(p.startsWith('/'));
  const actions = new Set(['SCMP_ACT_KILL', 'SCMP_ACT_KILL_PROCESS', 'SCMP_ACT_KILL_THREAD', 'SCMP_ACT_TRAP', 'SCMP_ACT_ERRNO', 'SCMP_ACT_TRACE', 'SCMP_ACT_ALLOW', 'SCMP_ACT_LOG']);
  assert.ok(actions.has(s.linux.seccomp.defaultAction));
  for (const sc of s.linux.seccomp.syscalls) {
    assert.ok(actions.has(sc.action));
    assert.ok(sc.names.length > 0);
    for (const a of sc.args ?? []) assert.ok(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ'].includes(a.op));
  }
  for (const a of s.linux.seccomp.architectures) assert.match(a, /^SCMP_ARCH_[A-Z0-9_]+$/);
}

describe('config.json generation', () => {
  test('the defaults: Docker\'s namespaces, capabilities, masked paths, no-new-privileges, seccomp, device cgroup', () => {
    const s = buildSpec(base);
    assertValidSpec(s);
    assert.deepEqual(s.linux.namespaces.map((n) => n.type).sort(), ['cgroup', 'ipc', 'mount', 'network', 'pid', 'uts']);
    assert.deepEqual(s.process.capabilities.effective, [...DEFAULT_CAPABILITIES]);
    assert.deepEqual(s.process.capabilities.bounding, [...DEFAULT_CAPABILITIES]);
    assert.deepEqual(s.process.capabilities.ambient, []);
    assert.equal(s.process.noNewPrivileges, true);
    assert.ok(MASKED_PATHS.every((p) => s.linux.maskedPaths.includes(p)));
    assert.ok(s.linux.maskedPaths.includes('/proc/kcore'));
    assert.ok(s.linux.readonlyPaths.includes('/proc/sys'));
    assert.deepEqual(s.linux.resources.devices, [{ allow: false, access: 'rwm' }]);
    assert.equal(s.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    assert.equal(s.linux.resources.memory, undefined);
    assert.equal(s.root.readonly, false);
    assert.deepEqual(s.process.args, ['sh']);
    assert.equal(s.process.cwd, '/app');
    assert.deepEqual(s.process.env, ['PATH=/usr/bin:/bin', 'LANG=C', 'HOSTNAME=abc']);
    const sysfs = s.mounts.find((m) => m.destination === '/sys');
    assert.equal(sysfs?.type, 'sysfs');
    assert.ok(sysfs?.options.includes('ro'));
  });

  test('Entrypoint and Cmd combine as Docker does with the run arguments and --entrypoint', () => {
    const img = { Entrypoint: ['/entry', '-x'], Cmd: ['default'] };
    assert.deepEqual(processArgs(img, [], undefined), ['/entry', '-x', 'default']);
    assert.deepEqual(processArgs(img, ['given'], undefined), ['/entry', '-x', 'given']);
    // a new entrypoint drops the image's Cmd
    assert.deepEqual(processArgs(img, [], 'other'), ['other']);
    assert.deepEqual(processArgs(img, ['a'], ''), ['a']);
    assert.throws(() => processArgs({}, [], undefined), NoCommandError);
    assert.throws(() => processArgs(img, [], ''), NoCommandError);
  });

  test('flags: env order, user, workdir, tty, read-only, init, volumes, limits, host network', () => {
    const s = buildSpec({
      ...base,
      env: ['LANG=en', 'NEW=1'],
      user: { uid: 1000, gid: 1000, additionalGids: [2000] },
      workdir: '/work',
      tty: true,
      readOnly: true,
      init: '/usr/bin/catatonit',
      volumes: [{ source: '/srv/data', destination: '/data', readonly: true }],
      etcFiles: { hosts: '/b/hosts', hostname: '/b/hostname', 'resolv.conf': '/b/resolv.conf' },
      memory: 64 * 1024 * 1024,
      cpus: 1.5,
      pidsLimit: 50,
      network: 'host',
    });
    assertValidSpec(s);
    assert.deepEqual(s.process.env, ['PATH=/usr/bin:/bin', 'LANG=en', 'HOSTNAME=abc', 'TERM=xterm', 'NEW=1']);
    assert.deepEqual(s.process.user, { uid: 1000, gid: 1000, additionalGids: [2000] });
    assert.equal(s.process.cwd, '/work');
    assert.equal(s.process.terminal, true);
    assert.equal(s.root.readonly, true);
    assert.deepEqual(s.process.args, ['/sbin/berth-init', '--', 'sh']);
    assert.ok(s.mounts.some((m) => m.destination === '/sbin/berth-init' && m.source === '/usr/bin/catatonit' && m.options.includes('ro')));
    assert.ok(s.mounts.some((m) => m.destination === '/data' && m.source === '/srv/data' && m.type === 'bind' && m.options.includes('ro')));
    assert.ok(s.mounts.some((m) => m.destination === '/etc/resolv.conf' && m.source === '/b/resolv.conf'));
    assert.deepEqual(s.linux.resources.memory, { limit: 67108864 });
    assert.deepEqual(s.linux.resources.cpu, { quota: 150000, period: 100000 });
    assert.deepEqual(s.linux.resources.pids, { limit: 50 });
    // host networking: no network namespace, and /sys bound from the host (sysfs needs its own netns)
    assert.equal(s.linux.namespaces.some((n) => n.type === 'network'), false);
    assert.equal(s.mounts.find((m) => m.destination === '/sys')?.type, 'bind');
    const joined = buildSpec({ ...base, network: { path: '/run/netns/x' } });
    assert.deepEqual(joined.linux.namespaces.find((n) => n.type === 'network'), { type: 'network', path: '/run/netns/x' });
  });

  test('--cap-add and --cap-drop follow Docker: drops from the defaults, then adds; ALL; bad names refused', () => {
    assert.deepEqual(capabilitySet(['NET_ADMIN'], ['ALL']), ['CAP_NET_ADMIN']);
    assert.ok(!capabilitySet([], ['chown']).includes('CAP_CHOWN'));
    assert.equal(capabilitySet(['ALL']).length, CAPS.size);
    assert.ok(capabilitySet(['cap_sys_admin']).includes('CAP_SYS_ADMIN'));
    assert.throws(() => capabilitySet(['CAP_NOPE']), InvalidCapabilityError);
  });

  test('the seccomp profile follows the capabilities: namespaces and mount only with CAP_SYS_ADMIN', () => {
    const allowed = (caps: string[]): Set<string> => new Set(defaultSeccomp(caps, 'x64').syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && s.args === undefined).flatMap((s) => s.names));
    const plain = allowed([...DEFAULT_CAPABILITIES]);
    for (const n of ['read', 'write', 'execve', 'arch_prctl', 'chroot']) assert.ok(plain.has(n), `${n} allowed`);
    for (const n of ['mount', 'unshare', 'setns', 'reboot', 'bpf', 'kexec_load', 'init_module', 'ptrace']) {
      if (n === 'ptrace') continue; // allowed since kernel 4.8, as in Docker
      assert.ok(!plain.has(n), `${n} refused by default`);
    }
    const p = defaultSeccomp([...DEFAULT_CAPABILITIES], 'x64');
    assert.deepEqual(p.syscalls.find((s) => s.names.includes('clone3')), { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 });
    assert.deepEqual(p.syscalls.find((s) => s.names[0] === 'clone')?.args, [{ index: 0, value: 2114060288, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
    assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    assert.deepEqual(defaultSeccomp([...DEFAULT_CAPABILITIES], 'x64', false).architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], 'no x32 where the kernel has none');
    const admin = allowed([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN']);
    for (const n of ['mount', 'unshare', 'setns', 'clone', 'clone3']) assert.ok(admin.has(n), `${n} with CAP_SYS_ADMIN`);
    assert.equal(defaultSeccomp([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], 'x64').syscalls.some((s) => s.names.includes('clone3') && s.action === 'SCMP_ACT_ERRNO'), false);
    // s390 passes clone's flags second
    assert.equal(defaultSeccomp([], 's390x').syscalls.find((s) => s.names[0] === 'clone')?.args?.[0]?.index, 1);
  });

  test('x32 is filtered only where the kernel may run it; the answer is kept per boot', () => {
    const dir = makeTempDir('x32');
    try {
      let config: string | undefined;
      try {
        config = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
      } catch {
        config = undefined;
      }
      const expected = config === undefined || /^CONFIG_X86_X32(_ABI)?=y$/m.test(config);
      assert.equal(kernelHasX32(dir), expected);
      const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
      assert.equal(readFileSync(join(dir, 'kernel-x32'), 'utf8'), `${boot} ${expected ? 'y' : 'n'}`);
      // this boot's answer is read back; another boot's is worked out again
      writeFileSync(join(dir, 'kernel-x32'), `${boot} ${expected ? 'n' : 'y'}`);
      assert.equal(kernelHasX32(dir), !expected);
      writeFileSync(join(dir, 'kernel-x32'), `00000000-0000-0000-0000-000000000000 ${expected ? 'n' : 'y'}`);
      assert.equal(kernelHasX32(dir), expected);
    } finally {
      removeTempDir(dir);
    }
  });

  test('rlimits never exceed the caller\'s own hard limits', () => {
    const dir = makeTempDir('rlimits');
    try {
      const file = join(dir, 'limits');
      writeFileSync(file, 'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 4096                 files\n');
      assert.deepEqual(containerRlimits(file), [{ type: 'RLIMIT_NOFILE', hard: 4096, soft: 4096 }]);
      writeFileSync(file, 'Max open files            unlimited            unlimited            files\n');
      assert.deepEqual(containerRlimits(file), [{ type: 'RLIMIT_NOFILE', hard: 1048576, soft: 1048576 }]);
      const own = containerRlimits();
      assert.equal(own.length, 1);
    } finally {
      removeTempDir(dir);
    }
  });
});

describe('users from the rootfs', () => {
  test('names, ids, groups and supplementary groups; an /etc/passwd symlink out of the rootfs is not followed', () => {
    const dir = makeTempDir('users');
    try {
      const rootfs = join(dir, 'rootfs');
      mkdirSync(join(rootfs, 'etc'), { recursive: true });
      writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n');
      writeFileSync(join(rootfs, 'etc/group'), 'root:x:0:\napp:x:1001:\nwheel:x:10:app,other\n');
      assert.deepEqual(resolveUser(rootfs, undefined), { uid: 0, gid: 0 });
      assert.deepEqual(resolveUser(rootfs, 'app'), { uid: 1000, gid: 1001, additionalGids: [10] });
      // supplementary groups are the /etc/group lists naming the user, as runc's GetExecUser has them
      assert.deepEqual(resolveUser(rootfs, 'app:root'), { uid: 1000, gid: 0, additionalGids: [10] });
      assert.deepEqual(resolveUser(rootfs, '1000:5'), { uid: 1000, gid: 5, additionalGids: [10] });
      assert.deepEqual(resolveUser(rootfs, '4242'), { uid: 4242, gid: 0 });
      assert.throws(() => resolveUser(rootfs, 'nobody'), UnknownUserError);
      assert.throws(() => resolveUser(rootfs, 'app:nogroup'), UnknownUserError);
      const evil = join(dir, 'evil');
      mkdirSync(join(evil, 'etc'), { recursive: true });
      symlinkSync('/etc/passwd', join(evil, 'etc/passwd'));
      // the host's root entry must not be found through the link
      assert.throws(() => resolveUser(evil, 'root'), UnknownUserError);
    } finally {
      removeTempDir(dir);
    }
  });
});

describe('container logs', () => {
  test('k8s-file records: streams, partial lines, --tail counts whole lines', async () => {
    assert.deepEqual(parseRecord('2024-01-01T00:00:00.000000001+00:00 stdout F hello'), { time: '2024-01-01T00:00:00.000000001+00:00', stream: 'stdout', text: 'hello\n' });
    assert.deepEqual(parseRecord('2024-01-01T00:00:00Z stderr P part'), { time: '2024-01-01T00:00:00Z', stream: 'stderr', text: 'part' });
    assert.equal(parseRecord('garbage'), undefined);
    const dir = makeTempDir('logs');
    try {
      const file = join(dir, 'ctr.log');
      const lines = ['T stdout F one', 'T stderr F two', 'T stdout P thr', 'T stdout F ee', 'T stdout F four'];
      writeFileSync(file, `${lines.join('\n')}\n`);
      const read = async (tail?: number): Promise<string> => {
        const got: LogRecord[] = [];
        await readLog(file, { write: (r) => got.push(r) }, tail !== undefined ? { tail } : {});
        return got.map((r) => `${r.stream}:${r.text}`).join('');
      };
      assert.equal(await read(), 'stdout:one\nstderr:two\nstdout:thrstdout:ee\nstdout:four\n');
      assert.equal(await read(2), 'stdout:thrstdout:ee\nstdout:four\n');
      assert.equal(await read(0), '');
      assert.equal(await read(100), 'stdout:one\nstderr:two\nstdout:thrstdout:ee\nstdout:four\n');
    } finally {
      removeTempDir(dir);
    }
  });
});
