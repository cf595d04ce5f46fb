import assert from 'node:assert/strict';
import http from 'node:http';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { patternBuffer } from './support/data.js';
import { request, slowRequest, type Response } from './support/http.js';
import { errorCodes, startUpload, uploadId } from './support/oci.js';
import { killAll, startRegistry, tempDir, type Registry } from './support/registry.js';

const PIECE = 64 * 1024;
const PIECES = 10;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return -1;
  }
}

/** A request after SIGTERM: refused at connect, or answered 503 UNAVAILABLE. Returns what happened. */
async function refused(reg: Registry, agent?: http.Agent): Promise<string> {
  let res: Response;
  try {
    res = await request('GET', `${reg.url}/v2/`, { timeoutMs: 3000, ...(agent !== undefined ? { agent } : {}) });
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    assert.ok(code === 'ECONNREFUSED' || code === 'ECONNRESET', `new request after SIGTERM failed with ${String(code)}: ${String(err)}`);
    return String(code);
  }
  assert.equal(res.status, 503, `request after SIGTERM answered ${res.status}, expected a refusal`);
  assert.deepEqual(errorCodes(res), ['UNAVAILABLE']);
  return '503';
}

describe('graceful shutdown (SIGTERM)', () => {
  const tmp = tempDir();
  after(async () => {
    await killAll();
    tmp.cleanup();
  });

  for (const keepAlive of [false, true]) {
    test(`an in-flight slow PATCH completes, new connections are refused, exit 0 well within the drain timeout (keep-alive client: ${keepAlive})`, async () => {
      const drainMs = 8000;
      const dataDir = join(tmp.path, `data-${keepAlive}`);
      const reg = await startRegistry({ dataDir, env: { BERTH_HTTP_DRAINTIMEOUT: `${drainMs}ms` } });
      const agent = keepAlive ? new http.Agent({ keepAlive: true, maxSockets: 1 }) : undefined;
      try {
        const uploadUrl = await startUpload(reg, 'e2e/drain');
        const total = PIECE * PIECES;
        const slow = slowRequest('PATCH', uploadUrl, {
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': total, 'Content-Range': `0-${total - 1}` },
          ...(agent !== undefined ? { agent } : {}),
        });
        const response = slow.response.then(
          (r) => r,
          (err: unknown) => err,
        );
        await slow.write(patternBuffer('drain', 0, PIECE));
        const file = join(dataDir, 'blobs', 'uploads', uploadId(uploadUrl));
        await until(() => fileSize(file) > 0, 5000, 'the first piece on disk');

        const tSig = Date.now();
        reg.proc.signal('SIGTERM');
        await reg.proc.waitFor(() => reg.proc.stdout.includes('"msg":"shutting down"'), 3000, 'the shutting down log line');

        // A new connection while draining is refused.
        const fresh = await refused(reg);
        assert.equal(reg.proc.exit, undefined, `the process must still be draining (new request: ${fresh})`);

        for (let i = 1; i < PIECES; i++) {
          await sleep(60);
          await slow.write(patternBuffer('drain', i * PIECE, PIECE));
        }
        slow.end();
        const res = await response;
        assert.ok(!(res instanceof Error), `the in-flight PATCH failed: ${String(res)}`);
        const r = res as Response;
        assert.equal(r.status, 202, `in-flight PATCH: ${r.status} ${r.body.toString()}`);
        assert.equal(r.header('range'), `0-${total - 1}`);

        // Another request on the same keep-alive client is refused too (503 or no connection).
        if (agent !== undefined) await refused(reg, agent);

        const exit = await reg.proc.exited;
        const elapsed = Date.now() - tSig;
        assert.deepEqual(exit, { code: 0, signal: null }, `stderr:\n${reg.proc.stderr}`);
        assert.ok(elapsed < drainMs, `exited ${elapsed} ms after SIGTERM (drain timeout ${drainMs} ms)`);
        const msgs = reg.proc.logLines().map((l) => l['msg']);
        assert.ok(msgs.includes('stopped'), 'logs "stopped"');
        assert.ok(
          !msgs.includes('drain timeout: closing remaining connections'),
          `the drain timeout was hit although the only request had finished (exit after ${elapsed} ms)`,
        );

        // The chunk accepted during the drain is durable: the session has it after a restart.
        const again = await startRegistry({ dataDir });
        const status = await request('GET', `${again.url}${new URL(uploadUrl).pathname}`);
        assert.equal(status.status, 204);
        assert.equal(status.header('range'), `0-${total - 1}`);
        assert.deepEqual(await again.proc.stop(), { code: 0, signal: null });
      } finally {
        agent?.destroy();
      }
    });
  }

  test('a request stalled past the drain timeout is cut off and the process still exits 0', async () => {
    const drainMs = 1000;
    const reg = await startRegistry({ dataDir: join(tmp.path, 'data-stalled'), env: { BERTH_HTTP_DRAINTIMEOUT: `${drainMs}ms` } });
    const uploadUrl = await startUpload(reg, 'e2e/stalled');
    const slow = slowRequest('PATCH', uploadUrl, { headers: { 'Content-Length': 10 * PIECE, 'Content-Range': `0-${10 * PIECE - 1}` } });
    const response = slow.response.then(
      (r) => `response ${r.status}`,
      (err: unknown) => `error ${String((err as { code?: unknown }).code ?? err)}`,
    );
    await slow.write(patternBuffer('stalled', 0, PIECE));
    await sleep(100);
    const tSig = Date.now();
    reg.proc.signal('SIGTERM');
    const exit = await reg.proc.exited;
    const elapsed = Date.now() - tSig;
    assert.deepEqual(exit, { code: 0, signal: null }, `stderr:\n${reg.proc.stderr}`);
    assert.ok(elapsed >= drainMs - 100, `exited after ${elapsed} ms, before the drain timeout of ${drainMs} ms`);
    assert.ok(elapsed < drainMs + 2000, `exited ${elapsed} ms after SIGTERM (drain timeout ${drainMs} ms)`);
    assert.match(await response, /^error /, 'the stalled request was cut off');
    const msgs = reg.proc.logLines().map((l) => l['msg']);
    assert.ok(msgs.includes('drain timeout: closing remaining connections'));
    assert.ok(msgs.includes('stopped'));
  });

  test('idle keep-alive connections do not hold up the exit; SIGINT is graceful too', async () => {
    const drainMs = 8000;
    const reg = await startRegistry({ dataDir: join(tmp.path, 'data-idle'), env: { BERTH_HTTP_DRAINTIMEOUT: `${drainMs}ms` } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      // Several idle pooled connections, as a docker client keeps them.
      await Promise.all([1, 2, 3].map(() => request('GET', `${reg.url}/v2/`, { agent })));
      const tSig = Date.now();
      reg.proc.signal('SIGINT');
      const exit = await reg.proc.exited;
      const elapsed = Date.now() - tSig;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(elapsed < 2000, `exited ${elapsed} ms after SIGINT with only idle connections open`);
      const lines = reg.proc.logLines();
      assert.ok(lines.some((l) => l['msg'] === 'shutting down' && l['signal'] === 'SIGINT'));
      assert.ok(!lines.some((l) => l['msg'] === 'drain timeout: closing remaining connections'));
    } finally {
      agent.destroy();
    }
  });
});
