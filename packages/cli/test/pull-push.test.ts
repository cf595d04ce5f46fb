import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { quote, requireTools, run, type RunResult, expectOk } from '@berth/test-support/exec';
import { ARM64, buildMultiArchImage, buildTestImage, type BuiltImage, type Descriptor } from '@berth/test-support/images';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth, BERTH_CLI, corruptingProxy, storeFiles } from './berth.js';

/** berth pull/push/images/tag/inspect/rmi against a started Berth registry, anonymously. */
describe('berth pull and push (anonymous)', () => {
  let registry: Registry | undefined;
  let dir = '';
  let app: { image: BuiltImage };
  let other: { image: BuiltImage };
  let multi: { index: Descriptor; images: BuiltImage[] };
  let skopeo: (args: readonly string[], allowFailure?: boolean) => Promise<RunResult>;
  const it = (name: string, fn: () => Promise<void>): void => {
    test(name, withLogs(() => [registryLog(registry)], fn));
  };
  const reg = (): Registry => {
    assert.ok(registry, 'registry did not start');
    return registry;
  };
  const ok = expectOk;
  const fails = (r: RunResult, pattern: RegExp, what: string): void => {
    assert.equal(r.code, 1, `${what} should exit 1, got ${r.code}: ${r.stdout}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
    assert.match(lines[0] ?? '', /^berth: /);
    assert.match(lines[0] ?? '', pattern, what);
  };

  before(async () => {
    requireTools('skopeo', 'busybox');
    dir = makeTempDir('cli');
    skopeo = skopeoRunner(dir);
    const layout = join(dir, 'layout');
    const a = await buildTestImage(layout, 'app', { marker: 'cli app', randomLayerSize: 2 * 1024 * 1024 });
    const o = await buildTestImage(layout, 'other', { marker: 'cli other', randomLayerSize: 256 * 1024 });
    const m = await buildMultiArchImage(layout, 'multi', 'cli multi');
    app = a;
    other = o;
    multi = m;
    registry = await startRegistry();
    await skopeo(['copy', '--dest-tls-verify=false', a.ref, `docker://${reg().url}/cli/app:v1`]);
    await skopeo(['copy', '--dest-tls-verify=false', o.ref, `docker://${reg().url}/cli/other:v1`]);
    await skopeo(['copy', '--all', '--dest-tls-verify=false', m.ref, `docker://${reg().url}/cli/multi:v1`]);
  });

  after(async () => {
    await registry?.stop();
    if (dir !== '') removeTempDir(dir);
  });

  it('pulls an image: every blob stored once under its digest, listed, inspectable', async () => {
    const root = join(dir, 'root-pull');
    const name = `${reg().url}/cli/app:v1`;
    ok(await berth(root, ['pull', name]), 'pull');
    for (const d of [app.image.manifest, app.image.config, ...app.image.layers]) {
      assert.ok(existsSync(join(root, 'blobs', 'sha256', d.digest.slice(7))), `blob ${d.digest} stored`);
    }
    assert.deepEqual(storeFiles(root).filter((f) => f.startsWith('ingest/')), [], 'no partial left');
    const images = await berth(root, ['images', '--digests']);
    ok(images, 'images');
    assert.match(images.stdout, new RegExp(`${reg().url}/cli/app\\s+v1\\s+${app.image.manifest.digest}\\s+${app.image.config.digest.slice(7, 19)}`));
    const quiet = await berth(root, ['images', '-q']);
    assert.equal(quiet.stdout, `${app.image.config.digest.slice(7, 19)}\n`);
    const inspect = await berth(root, ['inspect', name]);
    ok(inspect, 'inspect');
    const [info] = JSON.parse(inspect.stdout) as { Id: string; Digest: string; Config: { config: { Labels: Record<string, string> } }; Manifest: { layers: unknown[] } }[];
    assert.equal(info?.Id, app.image.config.digest);
    assert.equal(info?.Digest, app.image.manifest.digest);
    assert.equal(info?.Config.config.Labels['org.berth.test'], 'cli app');
    assert.equal(info?.Manifest.layers.length, 3);
    // a second pull downloads nothing
    const again = await berth(root, ['pull', name]);
    ok(again, 'second pull');
    assert.doesNotMatch(again.stdout, /downloading/);
  });

  it('draws per-blob progress in place on a terminal (a real pty through script), plain lines otherwise', async () => {
    const root = join(dir, 'root-tty');
    const name = `${reg().url}/cli/app:v1`;
    const viaPty = (args: readonly string[]): Promise<RunResult> =>
      run('script', ['-qfec', quote([process.execPath, BERTH_CLI, '--root', root, ...args]), '/dev/null'], { allowFailure: true, env: { ...process.env, BERTH_AUTH_FILE: `${root}.auth/berth.json`, DOCKER_CONFIG: `${root}.auth/docker` } });
    const first = await viaPty(['pull', name]);
    ok(first, 'pull on a pty');
    const complete = first.stdout.match(/\x1b\[2K[0-9a-f]{12}: Pull complete/g) ?? [];
    assert.ok(complete.length >= 2, `a final frame with every blob complete:\n${JSON.stringify(first.stdout)}`);
    assert.doesNotMatch(first.stdout, /: downloading /, 'no plain lines on a terminal');
    const second = await viaPty(['pull', name]);
    assert.match(second.stdout, /\x1b\[2K[0-9a-f]{12}: Already exists/);
    const plain = await berth(root, ['pull', name]);
    assert.doesNotMatch(plain.stdout, /\x1b\[/, 'no escape sequences when stdout is not a terminal');
  });

  it('a no-op pull leaves store.db untouched; a tag moved to an image already stored is re-pointed', async () => {
    const root = join(dir, 'root-noop');
    await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg().url}/cli/app:v1`, `docker://${reg().url}/cli/moving:v1`]);
    await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg().url}/cli/other:v1`, `docker://${reg().url}/cli/moving:v2`]);
    ok(await berth(root, ['pull', `${reg().url}/cli/moving:v1`]), 'pull v1');
    ok(await berth(root, ['pull', `${reg().url}/cli/moving:v2`]), 'pull v2');
    const db = (): string => createHash('sha256').update(readFileSync(join(root, 'store.db'))).digest('hex');
    const before = db();
    const again = await berth(root, ['pull', `${reg().url}/cli/moving:v1`]);
    ok(again, 'no-op pull');
    assert.match(again.stdout, /already exists/);
    assert.equal(db(), before, 'store.db unchanged by a no-op pull');
    // v1 now names the image v2 names, which the store holds: only the name changes
    await skopeo(['copy', '--src-tls-verify=false', '--dest-tls-verify=false', `docker://${reg().url}/cli/other:v1`, `docker://${reg().url}/cli/moving:v1`]);
    ok(await berth(root, ['pull', `${reg().url}/cli/moving:v1`]), 'pull moved v1');
    const images = (await berth(root, ['images', '--digests'])).stdout;
    assert.match(images, new RegExp(`${reg().url}/cli/moving\\s+v1\\s+${other.image.manifest.digest}`));
    assert.match(images, new RegExp(`${reg().url}/cli/moving\\s+v2\\s+${other.image.manifest.digest}`));
  });

  it('picks the platform from an index: the host default and --platform', async () => {
    const root = join(dir, 'root-multi');
    const name = `${reg().url}/cli/multi:v1`;
    ok(await berth(root, ['pull', '--platform', 'linux/arm64', name]), 'pull arm64');
    const arm = multi.images.find((i) => i.platform.architecture === ARM64.architecture);
    const inspect = JSON.parse((await berth(root, ['inspect', name])).stdout) as { Digest: string }[];
    assert.equal(inspect[0]?.Digest, arm?.manifest.digest, 'arm64 manifest chosen');
    ok(await berth(root, ['pull', '--platform', 'linux/amd64', name]), 'pull amd64');
    const amd = multi.images.find((i) => i.platform.architecture === 'amd64');
    const again = JSON.parse((await berth(root, ['inspect', name])).stdout) as { Digest: string }[];
    assert.equal(again[0]?.Digest, amd?.manifest.digest, 'amd64 manifest chosen');
    fails(await berth(root, ['pull', '--platform', 'linux/s390x', name]), /no image for platform linux\/s390x \(available: linux\/amd64, linux\/arm64\/v8\)/, 'missing platform');
  });

  it('pull --all-platforms keeps the whole index; push then sends every manifest and the index, byte for byte', async () => {
    const root = join(dir, 'root-all');
    const name = `${reg().url}/cli/multi:v1`;
    ok(await berth(root, ['pull', '--all-platforms', name]), 'pull all platforms');
    for (const i of multi.images) assert.ok(existsSync(join(root, 'blobs', 'sha256', i.manifest.digest.slice(7))), `${i.manifest.digest} stored`);
    const target = `${reg().url}/cli/multi-copy:v2`;
    ok(await berth(root, ['tag', name, target]), 'tag');
    const pushed = await berth(root, ['push', '-q', target]);
    ok(pushed, 'push index');
    assert.equal(pushed.stdout.trim(), multi.index.digest, 'the index digest, unchanged');
    const raw = await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${target}`]);
    assert.equal(`sha256:${createHash('sha256').update(raw.stdout).digest('hex')}`, multi.index.digest);
    for (const i of multi.images) await skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${reg().url}/cli/multi-copy@${i.manifest.digest}`]);
    // without --all-platforms only the host's image is there: push sends that manifest alone
    const single = join(dir, 'root-single');
    ok(await berth(single, ['pull', name]), 'pull one platform');
    ok(await berth(single, ['tag', name, `${reg().url}/cli/multi-one:v1`]), 'tag');
    const one = await berth(single, ['push', '-q', `${reg().url}/cli/multi-one:v1`]);
    ok(one, 'push one');
    assert.equal(one.stdout.trim(), multi.images.find((i) => i.platform.architecture === 'amd64')?.manifest.digest);
  });

  it('tags and pushes: cross-repository mount on the same registry, chunked upload to another', async () => {
    const root = join(dir, 'root-push');
    ok(await berth(root, ['pull', `${reg().url}/cli/other:v1`]), 'pull');
    ok(await berth(root, ['tag', `${reg().url}/cli/other:v1`, `${reg().url}/cli/copy:v2`]), 'tag');
    const pushed = await berth(root, ['push', `${reg().url}/cli/copy:v2`]);
    ok(pushed, 'push');
    assert.match(pushed.stdout, /mounted from cli\/other/);
    assert.match(pushed.stdout, new RegExp(`Digest: ${other.image.manifest.digest}`));
    const second = await startRegistry({ kind: 'berth' });
    try {
      ok(await berth(root, ['tag', `${reg().url}/cli/other:v1`, `${second.url}/moved/other:v3`]), 'tag to the second registry');
      const chunked = await berth(root, ['push', '--chunk-size', '65536', `${second.url}/moved/other:v3`]);
      ok(chunked, 'chunked push');
      assert.match(chunked.stdout, /pushed/);
      const back = join(dir, 'root-back');
      ok(await berth(back, ['pull', `${second.url}/moved/other:v3`]), 'pull back');
      assert.deepEqual(storeFiles(back), storeFiles(root).filter((f) => storeFiles(back).includes(f)));
      const log = second.logTail(400);
      assert.match(log, /"method":"PATCH"/, 'uploaded in PATCH chunks');
      const again = await berth(root, ['push', `${second.url}/moved/other:v3`]);
      ok(again, 'second push');
      assert.doesNotMatch(again.stdout, /pushed/, 'every blob already there');
    } finally {
      await second.stop();
    }
  });

  it('rmi removes the name, then the blobs no image uses any more', async () => {
    const root = join(dir, 'root-rmi');
    ok(await berth(root, ['pull', `${reg().url}/cli/app:v1`]), 'pull app');
    ok(await berth(root, ['pull', `${reg().url}/cli/other:v1`]), 'pull other');
    ok(await berth(root, ['tag', `${reg().url}/cli/app:v1`, 'example.com/team/app:latest']), 'tag');
    ok(await berth(root, ['rmi', `${reg().url}/cli/app:v1`]), 'rmi one name');
    assert.ok(existsSync(join(root, 'blobs', 'sha256', app.image.config.digest.slice(7))), 'still named example.com/team/app');
    const rmi = await berth(root, ['rmi', 'example.com/team/app']);
    ok(rmi, 'rmi last name');
    assert.match(rmi.stdout, new RegExp(`Deleted: ${app.image.manifest.digest}`));
    const busybox = app.image.layers[0]?.digest ?? '';
    const files = storeFiles(root);
    assert.ok(files.includes(`blobs/sha256/${busybox.slice(7)}`), 'busybox layer kept: other uses it');
    for (const d of [app.image.manifest, app.image.config, ...app.image.layers.slice(1)]) {
      assert.ok(!files.includes(`blobs/sha256/${d.digest.slice(7)}`), `${d.digest} removed`);
    }
    assert.equal((await berth(root, ['images', '-q'])).stdout, `${other.image.config.digest.slice(7, 19)}\n`);
  });

  it('refuses a corrupted layer naming its digest, and leaves the store unchanged', async () => {
    const root = join(dir, 'root-corrupt');
    ok(await berth(root, ['pull', `${reg().url}/cli/other:v1`]), 'pull other');
    const before = storeFiles(root);
    const imagesBefore = (await berth(root, ['images'])).stdout;
    const bad = app.image.layers[2]?.digest ?? '';
    const proxy = await corruptingProxy(reg().base, bad);
    try {
      fails(await berth(root, ['pull', `${proxy.url}/cli/app:v1`]), new RegExp(`blob ${bad}: content has digest sha256:[a-f0-9]{64}; refused`), 'corrupted pull');
    } finally {
      await proxy.close();
    }
    assert.deepEqual(storeFiles(root), before, 'no blob added, no partial left');
    assert.equal((await berth(root, ['images'])).stdout, imagesBefore);
  });

  it('two processes pulling the same image at once both succeed and store one copy', async () => {
    const root = join(dir, 'root-concurrent');
    const name = `${reg().url}/cli/app:v1`;
    const [a, b] = await Promise.all([berth(root, ['pull', name]), berth(root, ['pull', name])]);
    ok(a ?? { code: 1, stdout: '', stderr: 'missing' }, 'first pull');
    ok(b ?? { code: 1, stdout: '', stderr: 'missing' }, 'second pull');
    const expected = [app.image.manifest, app.image.config, ...app.image.layers].map((d) => `blobs/sha256/${d.digest.slice(7)}`).sort();
    assert.deepEqual(storeFiles(root), expected);
    assert.equal((await berth(root, ['images', '-q'])).stdout.split('\n').filter((l) => l !== '').length, 1);
  });

  it('errors are one line on stderr with exit 1', async () => {
    const root = join(dir, 'root-errors');
    fails(await berth(root, ['pull', 'Not/A:valid:ref']), /invalid reference/, 'bad reference');
    fails(await berth(root, ['inspect', 'example.com/nothing:here']), /image not known locally: example.com\/nothing:here/, 'unknown image');
    fails(await berth(root, ['rmi', 'example.com/nothing:here']), /image not known locally/, 'rmi unknown image');
    fails(await berth(root, ['push', 'example.com/nothing:here']), /image not known locally/, 'push unknown image');
    fails(await berth(root, ['pull', '127.0.0.1:1/team/app:v1']), /cannot reach registry 127\.0\.0\.1:1/, 'unreachable');
    fails(await berth(root, ['pull', `${reg().url}/cli/absent:v1`]), /not found/, 'unknown remote image');
    const usage = await berth(root, ['pull']);
    assert.equal(usage.code, 2, 'usage error exit 2');
    assert.match(usage.stderr, /missing required argument/);
    ok(await berth(root, ['version']), 'version');
  });
});
