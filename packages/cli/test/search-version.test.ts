import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools, type RunResult, expectOk } from '@berth/test-support/exec';
import { buildTestImage } from '@berth/test-support/images';
import { freePort } from '@berth/test-support/net';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth } from './berth.js';

/** berth search (catalog), version (client and registries) and --format json, on Berth and Distribution. */
describe('berth search, version and --format json', () => {
  let berthRegistry: Registry | undefined;
  let distribution: Registry | undefined;
  let dir = '';
  let root = '';
  const repos = ['team/app', 'team/web', 'tools/app-builder', 'other/db', 'team/zz-last'];
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => [registryLog(berthRegistry), registryLog(distribution)], fn));
  };
  const ok = expectOk;
  const fails = (r: RunResult, pattern: RegExp, what: string): void => {
    assert.notEqual(r.code, 0, `${what} should fail: ${r.stdout}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
    assert.match(lines[0] ?? '', pattern, what);
  };
  const regs = (): Registry[] => [berthRegistry, distribution].filter((r): r is Registry => r !== undefined);

  before(async () => {
    requireTools('skopeo', 'busybox', 'docker-registry');
    dir = makeTempDir('search');
    const skopeo = skopeoRunner(dir);
    // a page size of 2 makes the search follow Link headers through three pages
    const started = await Promise.allSettled([startRegistry({ kind: 'berth', berthEnv: { BERTH_LIMITS_PAGESIZE: '2' } }), startRegistry({ kind: 'distribution' })]);
    if (started[0].status === 'fulfilled') berthRegistry = started[0].value;
    if (started[1].status === 'fulfilled') distribution = started[1].value;
    for (const s of started) if (s.status === 'rejected') throw s.reason;
    const built = await buildTestImage(join(dir, 'layout'), 'tiny', { marker: 'search' });
    for (const reg of regs()) {
      for (const repo of repos) await skopeo(['copy', '--dest-tls-verify=false', built.ref, `docker://${reg.url}/${repo}:v1`]);
    }
    root = join(dir, 'root');
    ok(await berth(root, ['pull', '-q', `${berthRegistry?.url ?? ''}/team/app:v1`]), 'pull');
  });

  after(async () => {
    await Promise.allSettled(regs().map((r) => r.stop()));
    if (dir !== '') removeTempDir(dir);
  });

  it('search finds repositories by a part of their name, on Berth (paged) and Distribution', async () => {
    for (const reg of regs()) {
      const r = ok(await berth(root, ['search', `${reg.url}/app`]), `search on ${reg.kind}`);
      assert.deepEqual(r.stdout.trimEnd().split('\n'), ['NAME', `${reg.url}/team/app`, `${reg.url}/tools/app-builder`]);
      const all = ok(await berth(root, ['search', `${reg.url}/`, '--format', 'json']), 'search all');
      const names = all.stdout.trimEnd().split('\n').map((l) => (JSON.parse(l) as { Name: string }).Name);
      assert.deepEqual(names, [...repos].sort().map((r) => `${reg.url}/${r}`), `every repository, in catalog order (${reg.kind})`);
      const limited = ok(await berth(root, ['search', '--limit', '2', `${reg.url}/team`]), 'limit');
      assert.equal(limited.stdout.trimEnd().split('\n').length, 3);
      const none = ok(await berth(root, ['search', `${reg.url}/no-such-thing`]), 'no match');
      assert.equal(none.stdout, 'NAME\n');
    }
  });

  it('search refuses bad input with one line', async () => {
    fails(await berth(root, ['search', 'app']), /^berth: name the registry to search/, 'no registry');
    fails(await berth(root, ['search', '--limit', '0', `${berthRegistry?.url ?? ''}/app`]), /^berth: invalid --limit "0"/, 'limit 0');
    fails(await berth(root, ['search', '--format', '{{.Name}}', `${berthRegistry?.url ?? ''}/app`]), /^berth: unsupported --format/, 'go template');
    const port = await freePort();
    fails(await berth(root, ['search', `127.0.0.1:${port}/app`]), /^berth: cannot reach registry 127\.0\.0\.1:\d+/, 'unreachable');
  });

  it('version reports the client, the Berth registry version, Distribution\'s API version, and unreachable ones', async () => {
    const port = await freePort();
    const b = berthRegistry?.url ?? '';
    const d = distribution?.url ?? '';
    const text = ok(await berth(root, ['version', '--registry', b, '--registry', d, '--registry', `127.0.0.1:${port}`]), 'version').stdout;
    assert.match(text, /^berth version \d+\.\d+\.\d+ \(node v20/);
    assert.match(text, new RegExp(`registry ${b}: berth \\d+\\.\\d+\\.\\d+, API registry/2\\.0`));
    assert.match(text, new RegExp(`registry ${d}: version not reported, API registry/2\\.0`));
    assert.match(text, new RegExp(`registry 127\\.0\\.0\\.1:${port}: unreachable`));
    const json = JSON.parse(ok(await berth(root, ['version', '--format', 'json', '--registry', b]), 'version json').stdout) as {
      Client: { Version: string };
      Registries: { Registry: string; Reachable: boolean; Version: string }[];
    };
    assert.match(json.Client.Version, /^\d+\.\d+\.\d+$/);
    assert.equal(json.Registries[0]?.Reachable, true);
    assert.match(json.Registries[0]?.Version ?? '', /^berth /);
  });

  it('images and inspect print JSON with --format json', async () => {
    const lines = ok(await berth(root, ['images', '--format', 'json']), 'images').stdout.trimEnd().split('\n');
    assert.equal(lines.length, 1);
    const row = JSON.parse(lines[0] ?? '') as Record<string, string>;
    assert.equal(row['Repository'], `${berthRegistry?.url ?? ''}/team/app`);
    assert.equal(row['Tag'], 'v1');
    assert.match(row['ID'] ?? '', /^[a-f0-9]{12}$/);
    assert.match(row['Digest'] ?? '', /^sha256:[a-f0-9]{64}$/);
    const inspected = JSON.parse(ok(await berth(root, ['inspect', '--format', 'json', `${berthRegistry?.url ?? ''}/team/app:v1`]), 'inspect').stdout) as unknown[];
    assert.equal(inspected.length, 1);
    fails(await berth(root, ['images', '--format', 'yaml']), /^berth: unsupported --format "yaml"/, 'images yaml');
  });
});
