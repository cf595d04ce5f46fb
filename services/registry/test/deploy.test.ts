import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { parse } from 'yaml';
import { loadConfig, parseListenAddress } from '../src/config/index.js';

/**
 * The Dockerfile and docker-compose.yml, checked as far as this network allows: base
 * images cannot be pulled here, so no image is built; what can be checked is checked.
 */
const root = join(import.meta.dirname, '..', '..', '..', '..');
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const lines = dockerfile.split('\n').filter((l) => !l.trim().startsWith('#'));

describe('Dockerfile', () => {
  test('every COPY from the build context names a file or folder of the repository', () => {
    const sources = lines
      .filter((l) => /^COPY\s/.test(l) && !l.includes('--from='))
      .flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
    assert.ok(sources.length > 5);
    for (const s of sources) assert.ok(existsSync(join(root, s)), `COPY source ${s} is missing`);
  });

  test('the image runs the compiled registry entry point, on the default port', () => {
    const cmd = lines.find((l) => l.startsWith('CMD '));
    assert.ok(cmd !== undefined);
    const argv = JSON.parse(cmd.slice(4)) as string[];
    assert.equal(argv[0], 'node');
    assert.ok(existsSync(join(root, argv[1] as string)), `${argv[1]} is not built`);
    assert.match(dockerfile, /EXPOSE 5000/);
    assert.match(dockerfile, /BERTH_HTTP_ADDR=0\.0\.0\.0:5000/);
  });

  test('every workspace is in the build context before npm ci (the lockfile names them all)', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { workspaces: string[] };
    const build = lines.slice(0, lines.findIndex((l) => l.includes('npm ci')));
    const copied = build.filter((l) => /^COPY\s/.test(l)).flatMap((l) => l.trim().split(/\s+/).slice(1, -1));
    for (const ws of pkg.workspaces) {
      assert.ok(copied.some((c) => ws === c || ws.startsWith(`${c}/`)), `${ws} is not copied before npm ci`);
    }
  });

  test('the runtime stage copies every workspace the registry imports', () => {
    const pkg = JSON.parse(readFileSync(join(root, 'services/registry/package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies).filter((d) => d.startsWith('@berth/'))) {
      const dir = `packages/${dep.slice('@berth/'.length)}`;
      assert.ok(dockerfile.includes(`/src/${dir}/dist ${dir}/dist`), `${dir}/dist is not in the image`);
    }
  });
});

describe('docker-compose.yml', () => {
  const text = readFileSync(join(root, 'docker-compose.yml'), 'utf8');
  const compose = parse(text) as { services: Record<string, { ports: string[]; environment: Record<string, string>; volumes: string[] }> };
  const registry = compose.services['registry'];

  test('defines the registry service with its port and a data volume', () => {
    assert.ok(registry !== undefined);
    assert.deepEqual(registry.ports, ['5000:5000']);
    assert.ok(registry.volumes.some((v) => v.endsWith(':/var/lib/berth')));
  });

  test('its environment is a valid Berth configuration that listens on the published port', () => {
    const config = loadConfig({ env: registry?.environment ?? {} });
    assert.equal(parseListenAddress(config.http.addr)?.port, 5000);
    assert.equal(config.data.dir, '/var/lib/berth');
  });

  test('docker-compose validates it', () => {
    execFileSync('docker-compose', ['-f', join(root, 'docker-compose.yml'), 'config', '-q'], { stdio: 'pipe' });
  });

  test('profile s3: the registry on the s3 driver against the S3-compatible server of the profile, validated', () => {
    const s3 = compose.services['registry-s3'] as { environment: Record<string, string>; profiles?: string[]; depends_on?: Record<string, unknown> } | undefined;
    assert.ok(s3 !== undefined);
    assert.deepEqual(s3.profiles, ['s3']);
    // ${VAR:-default} as compose resolves it without the variables set.
    const env = Object.fromEntries(Object.entries(s3.environment).map(([k, v]) => [k, v.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1')]));
    const config = loadConfig({ env });
    assert.equal(config.storage.driver, 's3');
    assert.equal(config.storage.endpoint, 'http://s3:9000');
    assert.equal(config.storage.bucket, 'berth');
    // The endpoint's host name is internal to the compose network: blobs must stream, not redirect.
    assert.equal(config.storage.redirect, false);
    assert.ok(compose.services['s3'] !== undefined && compose.services['s3-bucket'] !== undefined);
    const out = execFileSync('docker-compose', ['-f', join(root, 'docker-compose.yml'), '--profile', 's3', 'config'], { stdio: 'pipe' }).toString();
    assert.match(out, /registry-s3:/);
    assert.match(out, /BERTH_STORAGE_DRIVER: s3/);
  });
});
