import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { NetworkError, PortSpecError, parsePortMapping, parsePortMappings, setupNetwork, writeNetworkFiles } from '../src/index.js';
import { formatIPv4, overlaps, parseIPv4, parseRoutePrefix, parseSubnet } from '../src/network/ipv4.js';
import { filterResolvConf } from '../src/network/files.js';
import { vethName } from '../src/network/names.js';
import { allocateAddress } from '../src/network/lease.js';
import { withState } from '../src/network/state.js';

describe('-p parsing', () => {
  test('host:container, ip:host:container and the protocol suffix', () => {
    assert.deepEqual(parsePortMapping('8080:80'), { hostPort: 8080, containerPort: 80, protocol: 'tcp' });
    assert.deepEqual(parsePortMapping('127.0.0.1:8080:80/udp'), { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' });
    assert.deepEqual(parsePortMapping('0.0.0.0:53:53/UDP'), { hostPort: 53, containerPort: 53, protocol: 'udp' });
    assert.deepEqual(parsePortMapping(':1:65535'), { hostPort: 1, containerPort: 65535, protocol: 'tcp' });
  });

  const bad: [string, RegExp][] = [
    ['0:80', /host port 0 is out of range 1-65535/],
    ['8080:65536', /container port 65536 is out of range/],
    ['99999:80', /host port 99999 is out of range/],
    ['http:80', /host port "http" is not a number/],
    ['8080:', /container port "" is not a number/],
    ['80', /a host port is required/],
    ['8080:80/sctp', /protocol must be tcp or udp, got "sctp"/],
    ['256.1.1.1:8080:80', /"256.1.1.1" is not an IPv4 address/],
    ['localhost:8080:80', /"localhost" is not an IPv4 address/],
    ['[::1]:8080:80', /IPv6 host addresses are not supported/],
    ['8000-8010:80', /port ranges are not supported/],
    ['1:2:3:4', /expected \[ip:\]hostPort:containerPort/],
    ['-1:80', /port ranges are not supported|not a number/],
  ];
  for (const [spec, reason] of bad) {
    test(`refuses "${spec}" naming the value`, () => {
      assert.throws(
        () => parsePortMapping(spec),
        (err: unknown) =>
          err instanceof PortSpecError && err.kind === 'invalid' && err.message.startsWith(`invalid port mapping "${spec}": `) && reason.test(err.message),
      );
    });
  }

  test('duplicates: same port and protocol on overlapping addresses', () => {
    assert.throws(() => parsePortMappings(['8080:80', '8080:81']), /host port 8080\/tcp is already published by "8080:80"/);
    assert.throws(() => parsePortMappings(['127.0.0.1:8080:80', '8080:81']), /already published by "127.0.0.1:8080:80"/);
    assert.equal(parsePortMappings(['8080:80', '8080:80/udp', '127.0.0.1:9090:1', '127.0.0.2:9090:1']).length, 4);
  });
});

describe('IPv4 arithmetic', () => {
  test('addresses and subnets', () => {
    assert.equal(parseIPv4('10.89.0.1'), 0x0a590001);
    assert.equal(formatIPv4(0xffffffff), '255.255.255.255');
    for (const badIp of ['1.2.3', '01.2.3.4', '1.2.3.4.5', '1.2.3.256', '']) assert.equal(parseIPv4(badIp), undefined, badIp);
    assert.equal(parseSubnet('10.89.0.0/24').cidr, '10.89.0.0/24');
    assert.throws(() => parseSubnet('10.89.0.1/24'), /host bits set \(did you mean 10.89.0.0\/24\?\)/);
    assert.throws(() => parseSubnet('10.89.0.0/31'), /prefix \/8 to \/30/);
    assert.throws(() => parseSubnet('nonsense'), /invalid subnet "nonsense"/);
    assert.ok(overlaps(parseSubnet('10.88.0.0/16'), parseSubnet('10.88.7.0/24')));
    assert.ok(!overlaps(parseSubnet('10.88.0.0/16'), parseSubnet('10.89.0.0/24')));
    const host = parseRoutePrefix('10.89.0.77');
    assert.ok(host !== undefined && overlaps(host, parseSubnet('10.89.0.0/24')));
    assert.equal(parseRoutePrefix('192.168.1.77/16')?.cidr, '192.168.0.0/16');
  });

  test('veth names fit IFNAMSIZ and differ per container', () => {
    const a = vethName('a'.repeat(128));
    assert.equal(a.length, 15);
    assert.notEqual(vethName('x1'), vethName('x2'));
  });
});

describe('container files', () => {
  test('resolv.conf for a bridge drops loopback and IPv6 nameservers, keeps search and options', () => {
    const host = 'search example.com\nnameserver 127.0.0.53\nnameserver 192.0.2.53\nnameserver ::1\noptions edns0\n';
    assert.equal(filterResolvConf(host), 'search example.com\nnameserver 192.0.2.53\noptions edns0\n');
    assert.equal(filterResolvConf('nameserver 127.0.0.1\n'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n');
  });

  test('hosts, hostname and resolv.conf per mode', async () => {
    const dir = makeTempDir('netfiles');
    try {
      const resolv = join(dir, 'host-resolv.conf');
      const hosts = join(dir, 'host-hosts');
      writeFileSync(resolv, 'nameserver 127.0.0.1\nnameserver 10.1.2.3\n');
      writeFileSync(hosts, '127.0.0.1 localhost\n192.0.2.9 build-host');
      const out = join(dir, 'bridge');
      mkdirSync(out);
      const files = await writeNetworkFiles(out, {
        mode: 'bridge',
        hostname: 'web.example',
        ip: '10.89.0.2',
        extraHosts: [{ name: 'db', ip: '10.89.0.3' }],
        hostResolvConf: resolv,
      });
      assert.equal(readFileSync(files.hostname, 'utf8'), 'web.example\n');
      const h = readFileSync(files.hosts, 'utf8');
      assert.match(h, /^127\.0\.0\.1\tlocalhost\n/);
      assert.match(h, /\n10\.89\.0\.2\tweb\.example web\n/);
      assert.match(h, /\n10\.89\.0\.3\tdb\n$/);
      assert.equal(readFileSync(files.resolvConf, 'utf8'), 'nameserver 10.1.2.3\n');
      assert.equal(statSync(files.hosts).mode & 0o777, 0o644);

      const none = await writeNetworkFiles(out, { mode: 'none', hostname: 'box', hostResolvConf: resolv });
      assert.match(readFileSync(none.hosts, 'utf8'), /\n127\.0\.1\.1\tbox\n/);
      assert.equal(readFileSync(none.resolvConf, 'utf8'), 'nameserver 127.0.0.1\nnameserver 10.1.2.3\n');

      const host = await writeNetworkFiles(out, { mode: 'host', hostname: 'h', hostHosts: hosts, hostResolvConf: resolv });
      assert.equal(readFileSync(host.hosts, 'utf8'), '127.0.0.1 localhost\n192.0.2.9 build-host\n');

      await assert.rejects(writeNetworkFiles(out, { mode: 'bridge', hostname: 'bad_name!' }), /invalid hostname "bad_name!"/);
      await assert.rejects(writeNetworkFiles(out, { mode: 'none' }), /a hostname is needed/);
      await assert.rejects(
        writeNetworkFiles(out, { mode: 'none', hostname: 'a', extraHosts: [{ name: 'x', ip: 'nope' }] }),
        /invalid --add-host x:nope/,
      );
    } finally {
      removeTempDir(dir);
    }
  });
});

describe('setupNetwork argument checks', () => {
  test('host mode needs nothing and refuses -p', async () => {
    const stateDir = join(makeTempDir('nethost'), 'never-created');
    const net = await setupNetwork('hostmode', { mode: 'host', stateDir });
    assert.equal(net.netnsPath, undefined);
    await net.release();
    assert.ok(!existsSync(stateDir), 'host mode writes no state');
    removeTempDir(dirname(stateDir));
    await assert.rejects(
      setupNetwork('hostmode', { mode: 'host', ports: parsePortMappings(['8080:80']) }),
      (err: unknown) => err instanceof NetworkError && err.kind === 'invalid' && /need --network bridge, not host/.test(err.message),
    );
  });

  test('container ids are checked before anything happens', async () => {
    await assert.rejects(setupNetwork('../etc', { mode: 'none' }), /invalid container id "..\/etc"/);
  });
});

describe('address leases', () => {
  test('hands out addresses in order after the last one, wraps, and refuses when the subnet is full', async () => {
    const dir = makeTempDir('netlease');
    try {
      const subnet = parseSubnet('10.99.0.0/29'); // gateway .1, containers .2 to .6
      const take = (id: string): Promise<string> =>
        withState(dir, async (st) => {
          if (st.network('bl0') === undefined) st.addNetwork('bl0', subnet.cidr, subnet.base + 1);
          const ip = allocateAddress(st, 'bl0', subnet);
          st.addEndpoint({ containerId: id, mode: 'bridge', netns: undefined, bridge: 'bl0', ip, veth: undefined });
          return formatIPv4(ip);
        });
      const first = await Promise.all(['a', 'b', 'c', 'd', 'e'].map(take));
      assert.deepEqual([...first].sort(), ['10.99.0.2', '10.99.0.3', '10.99.0.4', '10.99.0.5', '10.99.0.6']);
      await assert.rejects(take('f'), /no free address left in 10.99.0.0\/29 on bridge bl0 \(5 containers\)/);
      await withState(dir, async (st) => {
        st.removeEndpoint('b');
        st.removeEndpoint('d');
      });
      const freed = await withState(dir, async (st) => [...st.usedIps('bl0')].length);
      assert.equal(freed, 3);
      // After .6 the search wraps: the lower of the two freed addresses comes first.
      assert.equal(await take('g'), first[1]);
      assert.equal(await take('h'), first[3]);
      // A failed transaction leaves no lease behind.
      await assert.rejects(
        withState(dir, async (st) => {
          st.removeEndpoint('a');
          throw new Error('boom');
        }),
        /boom/,
      );
      assert.ok(await withState(dir, async (st) => st.endpoint('a') !== undefined));
      // Recorded under another boot: every namespace and rule is gone, so the leases go too.
      const db = new Database(join(dir, 'network.db'));
      db.prepare("UPDATE meta SET value = 'an-earlier-boot' WHERE key = 'boot_id'").run();
      db.close();
      assert.deepEqual(await withState(dir, async (st) => st.endpoints()), []);
      assert.equal(await take('i'), '10.99.0.6', 'the network and its next address are kept');
    } finally {
      removeTempDir(dir);
    }
  });
});
