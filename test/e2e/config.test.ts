import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { RegistryProcess, freePort, killAll, tempDir, type Exit } from './support/registry.js';

/** Bad configuration: exit code 1, one short stderr line per problem, no stack trace. */
describe('configuration errors', () => {
  const tmp = tempDir();
  after(async () => {
    await killAll();
    tmp.cleanup();
  });

  async function run(options: { env?: Record<string, string>; args?: string[] }): Promise<{ exit: Exit; lines: string[]; proc: RegistryProcess }> {
    const proc = new RegistryProcess({ ...options, env: { BERTH_DATA_DIR: join(tmp.path, 'data'), ...options.env } });
    // A config error must stop the process before it listens; never leave it running.
    const timer = setTimeout(() => proc.forceKill(), 5000);
    const exit = await proc.exited;
    clearTimeout(timer);
    const lines = proc.stderr.split('\n').filter((l) => l !== '');
    return { exit, lines, proc };
  }

  function assertNoStack(stderr: string): void {
    assert.doesNotMatch(stderr, /^\s+at /m, `stack trace on stderr:\n${stderr}`);
    assert.doesNotMatch(stderr, /node:internal|\.js:\d+/, `source locations on stderr:\n${stderr}`);
  }

  test('a YAML file with an unknown key and a bad value: exit 1, one line per problem naming the key', async () => {
    const port = await freePort();
    const file = join(tmp.path, 'bad.yaml');
    writeFileSync(
      file,
      ['http:', `  addr: 127.0.0.1:${port}`, '  listen_backlog: 10', 'uploads:', '  expiry: forever', 'log:', '  level: info', ''].join('\n'),
    );
    const { exit, lines, proc } = await run({ args: ['--config', file] });
    assert.deepEqual(exit, { code: 1, signal: null }, `stderr:\n${proc.stderr}`);
    assert.equal(lines.length, 2, `expected exactly 2 stderr lines:\n${proc.stderr}`);
    const unknown = lines.find((l) => l.includes('http.listen_backlog'));
    const bad = lines.find((l) => l.includes('uploads.expiry'));
    assert.ok(unknown !== undefined, `a line names http.listen_backlog:\n${proc.stderr}`);
    assert.match(unknown, /unknown key/);
    assert.ok(bad !== undefined, `a line names uploads.expiry:\n${proc.stderr}`);
    assert.match(bad, /forever/);
    assertNoStack(proc.stderr);
    assert.doesNotMatch(proc.stdout, /listening/, 'never listened');
  });

  test('the same file through BERTH_CONFIG gives the same two problems', async () => {
    const file = join(tmp.path, 'bad2.yaml');
    writeFileSync(file, 'nosuchsection:\n  x: 1\nlimits:\n  blobsize: lots\n');
    const { exit, lines, proc } = await run({ env: { BERTH_CONFIG: file, BERTH_HTTP_ADDR: '127.0.0.1:0' } });
    assert.deepEqual(exit, { code: 1, signal: null }, `stderr:\n${proc.stderr}`);
    assert.equal(lines.length, 2, `expected exactly 2 stderr lines:\n${proc.stderr}`);
    assert.ok(lines.some((l) => l.includes('nosuchsection')), proc.stderr);
    assert.ok(lines.some((l) => l.includes('limits.blobsize') && l.includes('lots')), proc.stderr);
    assertNoStack(proc.stderr);
  });

  test('BERTH_HTTP_ADDR=nonsense: exit 1 with one clear line naming BERTH_HTTP_ADDR', async () => {
    const { exit, lines, proc } = await run({ env: { BERTH_HTTP_ADDR: 'nonsense' } });
    assert.deepEqual(exit, { code: 1, signal: null }, `stderr:\n${proc.stderr}`);
    assert.equal(lines.length, 1, `expected exactly 1 stderr line:\n${proc.stderr}`);
    assert.match(lines[0] ?? '', /BERTH_HTTP_ADDR/);
    assert.match(lines[0] ?? '', /nonsense/);
    assertNoStack(proc.stderr);
    assert.equal(proc.stdout, '');
  });

  test('a missing config file: exit 1 with one line naming the file', async () => {
    const missing = join(tmp.path, 'does-not-exist.yaml');
    const { exit, lines, proc } = await run({ args: ['--config', missing] });
    assert.deepEqual(exit, { code: 1, signal: null }, `stderr:\n${proc.stderr}`);
    assert.equal(lines.length, 1, `expected exactly 1 stderr line:\n${proc.stderr}`);
    assert.ok(lines[0]?.includes(missing), proc.stderr);
    assertNoStack(proc.stderr);
  });

  test('a port already in use: exit 1 with one line, no stack trace', async () => {
    const port = await freePort();
    const first = new RegistryProcess({ env: { BERTH_HTTP_ADDR: `127.0.0.1:${port}`, BERTH_DATA_DIR: join(tmp.path, 'd1') } });
    await first.waitFor(() => first.stdout.includes('"msg":"listening"'), 5000, 'listening');
    const { exit, lines, proc } = await run({ env: { BERTH_HTTP_ADDR: `127.0.0.1:${port}`, BERTH_DATA_DIR: join(tmp.path, 'd2') } });
    assert.deepEqual(exit, { code: 1, signal: null }, `stderr:\n${proc.stderr}`);
    assert.equal(lines.length, 1, `expected exactly 1 stderr line:\n${proc.stderr}`);
    assert.match(lines[0] ?? '', /EADDRINUSE/);
    assertNoStack(proc.stderr);
    assert.deepEqual(await first.stop(), { code: 0, signal: null });
  });
});
