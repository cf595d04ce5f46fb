// Real networking, as root: namespaces, a test-only bridge and subnet, iptables rules. Every
// name is unique to this run and everything is removed afterwards; the host's own
// interfaces and other tools' rules are never touched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { connect, createServer } from 'node:net';
import { requireTools } from '@berth/test-support/exec';
import { freePort } from '@berth/test-support/net';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import {
  NetworkError,
  networkEndpoints,
  parsePortMappings,
  releaseNetwork,
  removeBridgeNetwork,
  setupNetwork,
} from '../src/index.js';
import { netnsName, vethName } from '../src/network/names.js';

const run = randomBytes(3).toString('hex');
const bridge = `bt${run}`;
const octet = 200 + (randomBytes(1)[0] ?? 0) % 50;
const third = randomBytes(1)[0] ?? 0;
const subnet = `10.${octet}.${third}.0/24`;
const gateway = `10.${octet}.${third}.1`;
const stateDir = makeTempDir('netstate');
const ids = new Set<string>();
const children = new Set<ChildProcess>();
const id = (name: string): string => {
  const v = `t${run}-${name}`;
  ids.add(v);
  return v;
};
const bridgeOpts = { mode: 'bridge' as const, bridge, subnet, stateDir };

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A TCP server inside the namespace that answers every connection with the peer's address. */
async function serveIn(netns: string, port: number): Promise<ChildProcess> {
  const script = `require('net').createServer((c) => c.end(c.remoteAddress + '\\n')).listen(${port}, '0.0.0.0', () => console.log('ready'))`;
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`server in ${netns} exited ${code}`)));
    child.stdout?.once('data', () => resolve());
  });
  return child;
}

function stop(child: ChildProcess): void {
  if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
  children.delete(child);
}

/** A UDP server inside the namespace that answers every datagram with the sender's address. */
async function serveUdpIn(netns: string, port: number): Promise<ChildProcess> {
  const script = `const s = require('dgram').createSocket('udp4'); s.on('message', (m, r) => s.send(r.address, r.port, r.address)); s.bind(${port}, '0.0.0.0', () => console.log('ready'))`;
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`udp server in ${netns} exited ${code}`)));
    child.stdout?.once('data', () => resolve());
  });
  return child;
}

function askUdpFromHost(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      reject(new Error(`no UDP answer from ${host}:${port}`));
    }, 5000);
    socket.once('message', (m: Buffer) => {
      clearTimeout(timer);
      socket.close();
      resolve(m.toString());
    });
    socket.send('hi', port, host);
  });
}

/** Connects from the host and returns what the server said (the address it saw us from). */
function askFromHost(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, timeout: 5000 });
    let data = '';
    socket.on('data', (d: Buffer) => (data += d.toString()));
    socket.on('end', () => resolve(data.trim()));
    socket.on('timeout', () => socket.destroy(new Error(`timeout connecting to ${host}:${port}`)));
    socket.on('error', reject);
  });
}

/** Connects from inside a namespace. */
function askFromNetns(netns: string, host: string, port: number): string {
  const script = `const s = require('net').connect({ host: '${host}', port: ${port}, timeout: 5000 }); let d = ''; s.on('data', (b) => (d += b)); s.on('end', () => process.stdout.write(d.trim())); s.on('timeout', () => { console.error('timeout'); process.exit(2); }); s.on('error', (e) => { console.error(e.message); process.exit(1); });`;
  return sh('ip', ['netns', 'exec', netns, process.execPath, '-e', script]);
}

function natRulesOf(containerId: string): string[] {
  return sh('iptables-save', ['-t', 'nat'])
    .split('\n')
    .filter((l) => l.includes(`berth:${containerId}"`));
}

describe('container networks (root)', { concurrency: false }, () => {
  before(() => {
    if (process.getuid?.() !== 0) throw new Error('network tests need root (namespaces, bridges, iptables): run npm test as root');
    requireTools('ip', 'iptables');
  });

  after(async () => {
    for (const child of children) stop(child);
    for (const c of ids) await releaseNetwork(c, { stateDir }).catch(() => undefined);
    for (const b of [bridge, `bx${run}`]) await removeBridgeNetwork(b, { stateDir }).catch(() => undefined);
    removeTempDir(stateDir);
  });

  test('none: a namespace with loopback only, up; release removes it', async () => {
    const net = await setupNetwork(id('none'), { mode: 'none', stateDir });
    assert.equal(net.netnsPath, `/run/netns/${netnsName(net.containerId)}`);
    const links = JSON.parse(sh('ip', ['-n', netnsName(net.containerId), '-j', 'link', 'show'])) as { ifname: string; flags: string[] }[];
    assert.deepEqual(links.map((l) => l.ifname), ['lo']);
    assert.ok(links[0]?.flags.includes('UP'), 'lo is up');
    const server = await serveIn(netnsName(net.containerId), 7000);
    assert.equal(askFromNetns(netnsName(net.containerId), '127.0.0.1', 7000), '127.0.0.1');
    stop(server);
    await net.release();
    assert.ok(!existsSync(net.netnsPath ?? ''), 'namespace gone');
    assert.deepEqual(await networkEndpoints({ stateDir }), []);
  });

  test('bridge: two containers get distinct addresses, a default route, and reach each other directly', async () => {
    const [a, b] = await Promise.all([setupNetwork(id('a'), bridgeOpts), setupNetwork(id('b'), bridgeOpts)]);
    assert.ok(a !== undefined && b !== undefined);
    assert.notEqual(a.ip, b.ip);
    for (const n of [a, b]) {
      assert.equal(n.gateway, gateway);
      assert.equal(n.prefixLength, 24);
      assert.ok(n.ip?.startsWith(`10.${octet}.${third}.`), n.ip);
    }
    const route = JSON.parse(sh('ip', ['-n', netnsName(a.containerId), '-j', 'route', 'show', 'default'])) as { gateway?: string; dev?: string }[];
    assert.deepEqual([route[0]?.gateway, route[0]?.dev], [gateway, 'eth0']);
    const server = await serveIn(netnsName(a.containerId), 8080);
    assert.equal(askFromNetns(netnsName(b.containerId), a.ip ?? '', 8080), b.ip, 'no NAT between containers on one bridge');
    stop(server);
    await Promise.all([a.release(), b.release()]);
  });

  test('a published port answers on 127.0.0.1 and on the host\'s other addresses', async () => {
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    const net = await setupNetwork(id('pub'), { ...bridgeOpts, ports: parsePortMappings([`${p1}:8080`, `127.0.0.1:${p2}:8080`, `127.0.0.1:${p3}:5353/udp`]) });
    const server = await serveIn(netnsName(net.containerId), 8080);
    const udp = await serveUdpIn(netnsName(net.containerId), 5353);
    assert.equal(await askUdpFromHost('127.0.0.1', p3), gateway);
    stop(udp);
    // From 127.0.0.1 the source is masqueraded to the gateway (127/8 cannot leave loopback).
    assert.equal(await askFromHost('127.0.0.1', p1), gateway);
    assert.equal(await askFromHost('127.0.0.1', p2), gateway);
    assert.equal(await askFromHost(gateway, p1), gateway);
    // Bound to 127.0.0.1 only: another host address does not forward.
    await assert.rejects(askFromHost(gateway, p2), /ECONNREFUSED/);
    // Hairpin: the container reaches its own published port through a host address.
    assert.equal(askFromNetns(netnsName(net.containerId), gateway, p1), gateway);
    assert.equal(natRulesOf(net.containerId).length, 3);
    stop(server);
    await net.release();
  });

  test('traffic leaving the bridge is masqueraded; a published port is reachable from outside with the client address kept', async () => {
    // A stand-in for "the outside world": another namespace on a /30 link to the host.
    const outside = `bto-${run}`;
    const hostEnd = `bto${run}`;
    const linkNet = `10.${octet}.${(third + 128) % 256}`;
    sh('ip', ['netns', 'add', outside]);
    try {
      sh('ip', ['link', 'add', hostEnd, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside]);
      sh('ip', ['addr', 'add', `${linkNet}.1/30`, 'dev', hostEnd]);
      sh('ip', ['link', 'set', hostEnd, 'up']);
      sh('ip', ['-n', outside, 'addr', 'add', `${linkNet}.2/30`, 'dev', 'eth0']);
      sh('ip', ['-n', outside, 'link', 'set', 'eth0', 'up']);
      const server = await serveIn(outside, 9000);
      const port = await freePort();
      const net = await setupNetwork(id('out'), { ...bridgeOpts, ports: parsePortMappings([`${port}:8080`]) });
      assert.equal(askFromNetns(netnsName(net.containerId), `${linkNet}.2`, 9000), `${linkNet}.1`);
      stop(server);
      const inside = await serveIn(netnsName(net.containerId), 8080);
      assert.equal(askFromNetns(outside, `${linkNet}.1`, port), `${linkNet}.2`);
      stop(inside);
      await net.release();
    } finally {
      spawnSync('ip', ['link', 'del', hostEnd]);
      spawnSync('ip', ['netns', 'del', outside]);
    }
  });

  test('release removes the veth, the DNAT rules, the namespace and the lease; twice is fine', async () => {
    const port = await freePort();
    const net = await setupNetwork(id('rel'), { ...bridgeOpts, ports: parsePortMappings([`${port}:80/udp`]) });
    assert.ok(existsSync(`/sys/class/net/${vethName(net.containerId)}`));
    assert.equal(natRulesOf(net.containerId).length, 1);
    assert.deepEqual(
      (await networkEndpoints({ stateDir })).map((e) => [e.containerId, e.ip, e.ports.length]),
      [[net.containerId, net.ip, 1]],
    );
    await releaseNetwork(net.containerId, { stateDir });
    await releaseNetwork(net.containerId, { stateDir });
    assert.ok(!existsSync(`/sys/class/net/${vethName(net.containerId)}`), 'veth gone');
    assert.ok(!existsSync(net.netnsPath ?? ''), 'namespace gone');
    assert.deepEqual(natRulesOf(net.containerId), []);
    assert.deepEqual(await networkEndpoints({ stateDir }), []);
    // The port is free again for another container.
    const again = await setupNetwork(id('rel2'), { ...bridgeOpts, ports: parsePortMappings([`${port}:80/udp`]) });
    await again.release();
  });

  test('concurrent setups in several processes get distinct addresses', async () => {
    const module = new URL('../src/index.js', import.meta.url).pathname;
    const worker = (n: number): Promise<string[]> => {
      const mine = [0, 1, 2].map((i) => id(`c${n}x${i}`));
      const script = `import(${JSON.stringify(module)}).then(async (m) => { const nets = await Promise.all(${JSON.stringify(mine)}.map((c) => m.setupNetwork(c, ${JSON.stringify(bridgeOpts)}))); console.log(JSON.stringify(nets.map((x) => x.ip))); }).catch((e) => { console.error(e.message); process.exit(1); })`;
      return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        let err = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (err += d.toString()));
        child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`worker ${n}: ${err}`))));
      });
    };
    const ips = (await Promise.all([worker(1), worker(2), worker(3)])).flat();
    assert.equal(ips.length, 9);
    assert.equal(new Set(ips).size, 9, `distinct: ${ips.join(' ')}`);
    const recorded = await networkEndpoints({ stateDir });
    assert.deepEqual(recorded.map((e) => e.ip).sort(), [...ips].sort());
    // Released by this process, from the state the workers recorded.
    for (const e of recorded) await releaseNetwork(e.containerId, { stateDir });
    assert.deepEqual(await networkEndpoints({ stateDir }), []);
    assert.equal(sh('ip', ['-o', 'link', 'show', 'master', bridge]).trim(), '');
  });

  test('a setup that fails half-way leaves nothing behind', async () => {
    const c = id('fail');
    // Something already holds the veth name, so the namespace gets made and the veth cannot.
    sh('ip', ['link', 'add', vethName(c), 'type', 'bridge']);
    const port = await freePort();
    await assert.rejects(
      setupNetwork(c, { ...bridgeOpts, ports: parsePortMappings([`${port}:80`]) }),
      (err: unknown) => err instanceof NetworkError && err.kind === 'failed' && /ip link add/.test(err.message),
    );
    assert.ok(!existsSync(`/run/netns/${netnsName(c)}`), 'namespace removed');
    assert.deepEqual(natRulesOf(c), []);
    assert.deepEqual(await networkEndpoints({ stateDir }), []);
    spawnSync('ip', ['link', 'del', vethName(c)]);
  });

  test('host ports already taken are refused, by a host process or another container', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const addr = busy.address();
    const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
    try {
      await assert.rejects(
        setupNetwork(id('busy'), { ...bridgeOpts, ports: parsePortMappings([`127.0.0.1:${port}:80`]) }),
        (err: unknown) => err instanceof NetworkError && err.kind === 'conflict' && err.message.includes(`127.0.0.1:${port}/tcp is in use on the host`),
      );
    } finally {
      busy.close();
    }
    await assert.rejects(
      setupNetwork(id('notlocal'), { ...bridgeOpts, ports: parsePortMappings(['203.0.113.7:8080:80']) }),
      (err: unknown) => err instanceof NetworkError && err.kind === 'invalid' && err.message.includes('203.0.113.7 is not an address of this host'),
    );
    const free = await freePort();
    const first = await setupNetwork(id('p1'), { ...bridgeOpts, ports: parsePortMappings([`${free}:80`]) });
    await assert.rejects(
      setupNetwork(id('p2'), { ...bridgeOpts, ports: parsePortMappings([`127.0.0.1:${free}:81`]) }),
      new RegExp(`container ${first.containerId} already publishes ${free}:80/tcp`),
    );
    await first.release();
    assert.deepEqual(await networkEndpoints({ stateDir }), []);
  });

  test('subnets: a bridge keeps its own, and one a host route covers is refused', async () => {
    await assert.rejects(setupNetwork(id('sub'), { ...bridgeOpts, subnet: `10.${octet}.${(third + 1) % 256}.0/24` }), /uses subnet 10\./);
    const implicit = await setupNetwork(id('sub0'), { mode: 'bridge', bridge, stateDir });
    assert.equal(implicit.gateway, gateway, 'without a subnet, the bridge keeps its own');
    await implicit.release();
    // Another state directory would lease the same addresses again: refused.
    const otherState = makeTempDir('netstate2');
    try {
      await assert.rejects(
        setupNetwork(id('sub1'), { ...bridgeOpts, stateDir: otherState }),
        new RegExp(`bridge ${bridge} is managed by another network state \\(berth:${stateDir}\\)`),
      );
    } finally {
      removeTempDir(otherState);
    }
    const other = `bd${run}`;
    const taken = `10.${octet}.${(third + 64) % 256}`;
    sh('ip', ['link', 'add', other, 'type', 'bridge']);
    try {
      sh('ip', ['addr', 'add', `${taken}.1/24`, 'dev', other]);
      await assert.rejects(
        setupNetwork(id('sub2'), { mode: 'bridge', bridge: `bx${run}`, subnet: `${taken}.0/25`, stateDir }),
        (err: unknown) => err instanceof NetworkError && err.kind === 'conflict' && err.message.includes(`overlaps ${taken}.0/24 on ${other}`),
      );
      assert.ok(!existsSync(`/sys/class/net/bx${run}`), 'no bridge made');
    } finally {
      spawnSync('ip', ['link', 'del', other]);
    }
  });

  test('without root: one clear line', () => {
    const module = new URL('../src/index.js', import.meta.url).pathname;
    const script = `import(${JSON.stringify(module)}).then((m) => m.setupNetwork('x', { mode: 'bridge', stateDir: '/run/berth-network-test-never-created' })).catch((e) => { console.error(e.message); process.exit(1); })`;
    // A user namespace without mappings: the process is uid 65534 to itself, yet still reads
    // the root-owned checkout (wherever CI put it) as its owner.
    const r = spawnSync('unshare', ['--user', process.execPath, '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, '--network bridge needs root (network namespaces, veth, iptables); run berth as root or use --network host\n');
    assert.ok(!existsSync('/run/berth-network-test-never-created'), 'refused before touching anything');
  });
});
