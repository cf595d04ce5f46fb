import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { startDockerd, type DockerDaemon } from '@berth/test-support/dockerd';
import { quote, requireTools, run, type RunResult, expectOk } from '@berth/test-support/exec';
import { buildTestImage, type BuiltImage } from '@berth/test-support/images';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth, BERTH_CLI, storeFiles } from './berth.js';

/** berth save / load: OCI layout tars, docker save tars, and real docker, skopeo on the other side. */
describe('berth save and load', () => {
  let registry: Registry | undefined;
  let dockerd: DockerDaemon | undefined;
  let dir = '';
  let app: BuiltImage;
  let name = '';
  let root = '';
  let skopeo: (args: readonly string[], allowFailure?: boolean) => Promise<RunResult>;
  const it = (title: string, fn: () => Promise<void>): void => {
    test(title, withLogs(() => [registryLog(registry), dockerd && { name: 'dockerd', logTail: (n) => dockerd?.logTail(n) ?? '' }], fn));
  };
  const ok = expectOk;
  const fails = (r: RunResult, pattern: RegExp, what: string): void => {
    assert.equal(r.code, 1, `${what} should exit 1, got ${r.code}: ${r.stdout}`);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, `${what}: one line on stderr, got:\n${r.stderr}`);
    assert.match(lines[0] ?? '', pattern, what);
  };
  const inspect = async (storeRoot: string, image: string): Promise<{ Id: string; Digest: string; RepoTags: string[] }> => {
    const out = ok(await berth(storeRoot, ['inspect', image]), 'inspect').stdout;
    const parsed = JSON.parse(out) as { Id: string; Digest: string; RepoTags: string[] }[];
    assert.ok(parsed[0]);
    return parsed[0];
  };

  before(async () => {
    requireTools('skopeo', 'busybox', 'docker', 'dockerd');
    dir = makeTempDir('save-load');
    skopeo = skopeoRunner(dir);
    const starting = Promise.allSettled([startRegistry(), startDockerd()]);
    app = (await buildTestImage(join(dir, 'layout'), 'app', { marker: 'save app', randomLayerSize: 3 * 1024 * 1024 })).image;
    const [r, d] = await starting;
    if (r.status === 'fulfilled') registry = r.value;
    if (d.status === 'fulfilled') dockerd = d.value;
    if (r.status === 'rejected') throw r.reason;
    if (d.status === 'rejected') throw d.reason;
    name = `${registry?.url ?? ''}/save/app:v1`;
    await skopeo(['copy', '--dest-tls-verify=false', `oci:${join(dir, 'layout')}:app`, `docker://${name}`]);
    root = join(dir, 'root');
    ok(await berth(root, ['pull', '-q', name]), 'pull');
  });

  after(async () => {
    await Promise.allSettled([registry?.stop(), dockerd?.stop()]);
    if (dir !== '') removeTempDir(dir);
  });

  it('save -o then load -i: the same image, digests and blobs in another store', async () => {
    const tar = join(dir, 'app.tar');
    ok(await berth(root, ['save', '-o', tar, name]), 'save');
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
    const other = join(dir, 'root-load');
    const loaded = ok(await berth(other, ['load', '-i', tar]), 'load');
    assert.equal(loaded.stdout, `Loaded image: ${name}\n`);
    const a = await inspect(root, name);
    const b = await inspect(other, name);
    assert.equal(b.Digest, a.Digest);
    assert.equal(b.Id, a.Id);
    assert.deepEqual(storeFiles(other), storeFiles(root));
    // loading again changes nothing
    ok(await berth(other, ['load', '-i', tar]), 'second load');
    assert.deepEqual(storeFiles(other), storeFiles(root));
  });

  it('save to a pipe and load from standard input', async () => {
    const other = join(dir, 'root-pipe');
    const cmd = `${quote([process.execPath, BERTH_CLI, '--root', root, 'save', name])} | ${quote([process.execPath, BERTH_CLI, '--root', other, 'load'])}`;
    const r = ok(await run('sh', ['-c', cmd], { allowFailure: true }), 'save | load');
    assert.match(r.stdout, /Loaded image: /);
    assert.equal((await inspect(other, name)).Digest, (await inspect(root, name)).Digest);
    assert.deepEqual(readdirSync(join(other, 'ingest')), [], 'the spooled archive is removed');
  });

  it('skopeo reads the archive as oci-archive, byte for byte the same manifest', async () => {
    const tar = join(dir, 'skopeo-in.tar');
    ok(await berth(root, ['save', '-o', tar, name]), 'save');
    const raw = (await skopeo(['inspect', '--raw', `oci-archive:${tar}`])).stdout;
    const digest = (await inspect(root, name)).Digest;
    assert.equal(`sha256:${(await import('node:crypto')).createHash('sha256').update(raw).digest('hex')}`, digest);
  });

  it('loads what skopeo writes as a docker-archive (docker save format)', async () => {
    const tar = join(dir, 'docker-archive.tar');
    await skopeo(['copy', `oci:${join(dir, 'layout')}:app`, `docker-archive:${tar}:example.com/team/app:2`]);
    const other = join(dir, 'root-docker-archive');
    assert.equal(ok(await berth(other, ['load', '-i', tar]), 'load').stdout, 'Loaded image: example.com/team/app:2\n');
    const loaded = await inspect(other, 'example.com/team/app:2');
    assert.equal(loaded.Id, app.config.digest, 'same config, so the same image id');
  });

  it('docker loads what berth saves, and berth loads what docker saves', async () => {
    assert.ok(dockerd);
    const tar = join(dir, 'for-docker.tar');
    ok(await berth(root, ['save', '-o', tar, name]), 'save');
    const loaded = await dockerd.docker(['load', '-i', tar]);
    assert.match(loaded.stdout, new RegExp(`Loaded image: ${name.replace(/[.]/g, '\\.')}`));
    const id = (await dockerd.docker(['image', 'inspect', '--format', '{{.Id}}', name])).stdout.trim();
    assert.equal(id, app.config.digest);

    await dockerd.docker(['tag', name, 'docker-saved/app:3']);
    const saved = join(dir, 'docker-saved.tar');
    await dockerd.docker(['save', '-o', saved, 'docker-saved/app:3']);
    const other = join(dir, 'root-from-docker');
    assert.equal(ok(await berth(other, ['load', '-i', saved]), 'load').stdout, 'Loaded image: docker-saved/app:3\n');
    assert.equal((await inspect(other, 'docker-saved/app:3')).Id, app.config.digest);
    // and it can be pushed on to a registry and pulled back
    const pushed = `${registry?.url ?? ''}/save/from-docker:3`;
    ok(await berth(other, ['tag', 'docker-saved/app:3', pushed]), 'tag');
    ok(await berth(other, ['push', '-q', pushed]), 'push');
    ok(await berth(join(dir, 'root-repull'), ['pull', '-q', pushed]), 'pull back');
  });

  it('refuses broken archives with one line, and stores nothing of them', async () => {
    const good = join(dir, 'good.tar');
    ok(await berth(root, ['save', '-o', good, name]), 'save');
    const other = join(dir, 'root-bad');
    const notTar = join(dir, 'not.tar');
    writeFileSync(notTar, 'this is not a tar archive at all'.repeat(40));
    fails(await berth(other, ['load', '-i', notTar]), /^berth: not a tar archive$/, 'not a tar');
    const truncated = join(dir, 'truncated.tar');
    writeFileSync(truncated, readFileSync(good));
    truncateSync(truncated, Math.floor(statSync(good).size / 2));
    fails(await berth(other, ['load', '-i', truncated]), /^berth: .*(truncated|lacks)/, 'truncated');
    // one byte of the big layer flipped: refused naming the layer's digest
    const corrupt = join(dir, 'corrupt.tar');
    const bytes = readFileSync(good);
    const layer = app.layers.reduce((a, b) => (b.size > a.size ? b : a));
    const at = bytes.lastIndexOf(Buffer.from(`blobs/sha256/${layer.digest.slice(7)}`)); // its tar header
    assert.ok(at >= 0);
    bytes[at + 512 + 1000] = (bytes[at + 512 + 1000] ?? 0) ^ 0xff;
    writeFileSync(corrupt, bytes);
    fails(await berth(other, ['load', '-i', corrupt]), new RegExp(layer.digest), 'corrupted layer');
    assert.deepEqual(storeFiles(other).filter((f) => f.startsWith('blobs/')), [], 'nothing stored');
    assert.equal(ok(await berth(other, ['images', '-q']), 'images').stdout, '');
    fails(await berth(other, ['load', '-i', join(dir, 'missing.tar')]), /^berth: .*ENOENT|no such file/i, 'missing file');
    fails(await berth(root, ['save', '-o', join(dir, 'x.tar'), 'nothing/here:1']), /^berth: image not known locally/, 'unknown image');
    assert.equal(existsSync(join(dir, 'x.tar')), false);
  });
});
