import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '@berth/test-support/exec';
import { FAKE_HOST, startProxy } from '@berth/test-support/proxy';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';

/** The installed command (packages/cli/dist/test -> packages/cli/bin/berth): a shell script that runs dist/bundle/berth.cjs. */
const CLI_DIR = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
const BIN = join(CLI_DIR, 'bin', 'berth');

describe('the berth command (bin/berth and the bundle it runs)', () => {
  let dir = '';
  let cert = '';
  let server: Server | undefined;
  let proxy: Awaited<ReturnType<typeof startProxy>> | undefined;
  let registry = '';

  before(async () => {
    dir = makeTempDir('launcher');
    cert = join(dir, 'ca.pem');
    const key = join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${FAKE_HOST}`, '-addext', `subjectAltName=DNS:${FAKE_HOST}`, '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
    // a registry's /v2/ over TLS with a certificate of our own CA, reachable by name only through the proxy
    server = createServer({ cert: readFileSync(cert), key: readFileSync(key) }, (_req, res) => {
      res.writeHead(200, { 'docker-distribution-api-version': 'registry/2.0', 'berth-version': '9.9.9', 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    registry = `${FAKE_HOST}:${(server.address() as AddressInfo).port}`;
    proxy = await startProxy();
  });

  after(async () => {
    server?.closeAllConnections();
    await Promise.allSettled([new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())), proxy?.close()]);
    removeTempDir(dir);
  });

  /** A copy of the installed CLI (bin/, the bundle and its cache) whose cache a test may change. */
  const copyCli = (name: string): string => {
    const copy = join(dir, name);
    cpSync(join(CLI_DIR, 'bin'), join(copy, 'bin'), { recursive: true });
    // not the temporary files of caches other tests' commands are writing at this moment
    // (each is renamed away within a millisecond: copying one could fail with ENOENT)
    cpSync(join(CLI_DIR, 'dist', 'bundle'), join(copy, 'dist', 'bundle'), { recursive: true, filter: (src) => !/\.v8cache\.\d+$/.test(src) });
    cpSync(join(CLI_DIR, 'package.json'), join(copy, 'package.json'));
    return copy;
  };

  const version = (env: NodeJS.ProcessEnv, bin = BIN) =>
    run(bin, ['--root', join(dir, 'root'), 'version', '--registry', registry], { env: { ...process.env, HTTPS_PROXY: proxy?.url ?? '', NO_PROXY: '', BERTH_AUTH_FILE: join(dir, 'auth.json'), ...env }, allowFailure: true });

  test('NODE_EXTRA_CA_CERTS is honoured for HTTPS without node parsing it at start (the client adds it)', async () => {
    const trusted = await version({ NODE_EXTRA_CA_CERTS: cert });
    assert.equal(trusted.code, 0, trusted.stderr);
    assert.match(trusted.stdout, new RegExp(`registry ${registry}: berth 9\\.9\\.9, API registry/2\\.0`));
    const untrusted = await version({ NODE_EXTRA_CA_CERTS: '' });
    assert.match(untrusted.stdout, new RegExp(`registry ${registry}: unreachable \\(.*(certificate|self.signed)`, 'i'));
    const unreadable = await version({ NODE_EXTRA_CA_CERTS: join(dir, 'missing.pem') });
    assert.match(unreadable.stderr, /warning: ignoring extra CA certificates from .*missing\.pem/);
    assert.match(unreadable.stdout, /unreachable/);
  });

  test('runs through the symlink npm installs, from any directory', async () => {
    const link = join(dir, 'berth-link');
    symlinkSync(BIN, link);
    const r = await version({ NODE_EXTRA_CA_CERTS: cert }, link);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^berth version /);
  });

  test('the V8 code cache is written when missing or rejected, and a bad one changes nothing else', async () => {
    const copy = copyCli('cli');
    const cache = join(copy, 'dist', 'bundle', 'main.cjs.v8cache');
    const good = statSync(cache).size;
    writeFileSync(cache, 'not a code cache');
    const help = await run(join(copy, 'bin', 'berth'), ['--help'], { allowFailure: true });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: berth/);
    assert.ok(statSync(cache).size > 1000 && statSync(cache).size <= good * 2, 'a rejected cache is written again');
    const again = await run(join(copy, 'bin', 'berth'), ['--help'], { allowFailure: true });
    assert.equal(again.stdout, help.stdout);
  });

  test("a command's first successful run writes a cache of its own, once; a failed one writes none", async () => {
    const copy = copyCli('cli-commands');
    const bundleDir = join(copy, 'dist', 'bundle');
    const shared = join(bundleDir, 'main.cjs.v8cache');
    const own = join(bundleDir, 'main.cjs.version.v8cache');
    const berthIn = (args: string[]) => run(join(copy, 'bin', 'berth'), args, { allowFailure: true, env: { ...process.env, BERTH_AUTH_FILE: join(dir, 'none.json') } });
    for (const name of readdirSync(bundleDir)) if (/^main\.cjs\.[a-z-]+\.v8cache$/.test(name)) rmSync(join(bundleDir, name));
    const built = statSync(shared);
    // (a command that needs no SQLite: the copy has no node_modules beside it)
    const first = await berthIn(['--root', 'version', 'version']);
    assert.equal(first.code, 0, first.stderr);
    const made = statSync(own);
    assert.ok(made.size > built.size, `the build's functions and its own: ${built.size} -> ${made.size} bytes`);
    assert.equal(statSync(shared).ino, built.ino, "the build's cache is left as it is");
    const again = await berthIn(['version']);
    assert.equal(again.stdout, first.stdout);
    assert.equal(statSync(own).ino, made.ino, 'a command with a cache writes nothing');
    // an unknown command fails: no cache for it
    assert.equal((await berthIn(['nosuch'])).code, 2);
    assert.deepEqual(readdirSync(bundleDir).filter((n) => n.endsWith('.v8cache')).sort(), ['main.cjs.v8cache', 'main.cjs.version.v8cache']);
  });
});
