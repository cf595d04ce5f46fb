import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { request } from './support/http.js';
import { MAIN_JS, REPO_ROOT, RegistryProcess, freePort, killAll, startRegistry, tempDir } from './support/registry.js';

/** Start-up of the real process with nothing but an address and a data dir. */
describe('start-up', () => {
  const dirs: Array<() => void> = [];
  after(async () => {
    await killAll();
    for (const cleanup of dirs) cleanup();
  });

  test('serve with only BERTH_HTTP_ADDR and BERTH_DATA_DIR answers /v2/ within 3 s and creates the data dir', async () => {
    const tmp = tempDir();
    dirs.push(tmp.cleanup);
    // A data dir whose parents do not exist yet.
    const dataDir = join(tmp.path, 'nested', 'data');
    const port = await freePort();
    const t0 = Date.now();
    const proc = new RegistryProcess({ env: { BERTH_HTTP_ADDR: `127.0.0.1:${port}`, BERTH_DATA_DIR: dataDir } });
    let res;
    for (;;) {
      try {
        res = await request('GET', `http://127.0.0.1:${port}/v2/`, { timeoutMs: 1000 });
        break;
      } catch {
        if (proc.exit !== undefined) assert.fail(`registry exited: ${JSON.stringify(proc.exit)}\n${proc.stderr}`);
        if (Date.now() - t0 > 3000) break;
        await new Promise((r) => setTimeout(r, 10));
      }
    }
    const elapsed = Date.now() - t0;
    assert.ok(res !== undefined, `no answer from GET /v2/ after ${elapsed} ms\nstdout:\n${proc.stdout}\nstderr:\n${proc.stderr}`);
    assert.ok(elapsed < 3000, `GET /v2/ answered after ${elapsed} ms (limit 3000)`);
    assert.equal(res.status, 200);
    assert.equal(res.header('docker-distribution-api-version'), 'registry/2.0');
    assert.match(res.header('content-type'), /^application\/json/);
    assert.deepEqual(res.json(), {});

    // The first stdout line announces the address as JSON.
    const first = proc.logLines()[0];
    assert.equal(first?.['msg'], 'listening');
    assert.equal(first?.['port'], port);
    assert.equal(first?.['tls'], false);

    assert.ok(statSync(dataDir).isDirectory(), 'data dir created');
    assert.ok(existsSync(join(dataDir, 'metadata.db')), 'metadata.db created');
    assert.ok(statSync(join(dataDir, 'blobs')).isDirectory(), 'blobs dir created');
    assert.equal(proc.stderr, '', 'nothing on stderr');

    const exit = await proc.stop();
    assert.deepEqual(exit, { code: 0, signal: null });
  });

  test('without BERTH_DATA_DIR the data goes to ./data of the working directory', async () => {
    const tmp = tempDir();
    dirs.push(tmp.cleanup);
    const port = await freePort();
    const proc = new RegistryProcess({ cwd: tmp.path, env: { BERTH_HTTP_ADDR: `127.0.0.1:${port}` } });
    await proc.waitFor(() => proc.stdout.includes('"msg":"listening"'), 5000, 'listening');
    const res = await request('GET', `http://127.0.0.1:${port}/v2/`);
    assert.equal(res.status, 200);
    assert.ok(existsSync(join(tmp.path, 'data', 'metadata.db')), './data/metadata.db created');
    assert.ok(statSync(join(tmp.path, 'data', 'blobs', 'uploads')).isDirectory(), './data/blobs/uploads created');
    assert.deepEqual(await proc.stop(), { code: 0, signal: null });
  });

  test('the start script of package.json is this same command, and npm start serves', async () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    assert.equal(pkg.scripts?.['start'], 'node services/registry/dist/src/main.js serve');
    assert.ok(existsSync(MAIN_JS), `${MAIN_JS} is built`);

    const tmp = tempDir();
    dirs.push(tmp.cleanup);
    const reg = await startRegistry({ command: ['npm', 'start', '--silent'], dataDir: join(tmp.path, 'data') });
    const res = await request('GET', `${reg.url}/v2/`);
    assert.equal(res.status, 200);
    assert.equal(res.header('docker-distribution-api-version'), 'registry/2.0');
    // SIGTERM to the whole npm process group: the registry shuts down cleanly.
    const exit = await reg.proc.stop();
    // npm may exit before its child has written its last line: give the child a moment.
    for (let i = 0; i < 50 && !reg.proc.stdout.includes('"msg":"stopped"'); i++) await new Promise((r) => setTimeout(r, 100));
    assert.ok(reg.proc.stdout.includes('"msg":"stopped"'), `registry stopped cleanly:\n${reg.proc.stdout}`);
    assert.notEqual(exit.signal, 'SIGKILL');
  });
});
