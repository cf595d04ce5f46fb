import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { httpRequest } from '../src/http.js';
import { isRetryable, Transport } from '../src/index.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A plain node:http server on 127.0.0.1 that counts the connections it accepted. */
async function serve(handler: Handler): Promise<{ base: string; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const server: Server = createServer(handler);
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('client HTTP on node:http', () => {
  let storage: Awaited<ReturnType<typeof serve>>;
  let registry: Awaited<ReturnType<typeof serve>>;
  const seen: { path: string; authorization: string | undefined }[] = [];

  before(async () => {
    storage = await serve((req, res) => {
      seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
      res.end('blob bytes');
    });
    registry = await serve((req, res) => {
      seen.push({ path: req.url ?? '', authorization: req.headers.authorization });
      if (req.url === '/elsewhere') res.writeHead(307, { location: `${storage.base}/signed?x=1` }).end();
      else if (req.url === '/same') res.writeHead(302, { location: '/target' }).end('moved');
      else if (req.url === '/target') res.end('here');
      else if (req.url === '/loop') res.writeHead(302, { location: '/loop' }).end();
      else if (req.url === '/denied') res.writeHead(401, { 'www-authenticate': 'Basic realm="r"', 'content-type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}');
      else if (req.url === '/big') res.writeHead(200, { 'content-length': String(1024 * 1024) }).end(Buffer.alloc(1024 * 1024));
      else if (req.url === '/cut') {
        // promises 1 MiB, sends half, then drops the connection
        res.writeHead(200, { 'content-length': String(1024 * 1024) });
        res.write(Buffer.alloc(512 * 1024), () => req.socket.destroy());
      } else res.writeHead(404).end();
    });
  });

  after(async () => {
    await storage.close();
    await registry.close();
  });

  test('a redirect to another origin drops Authorization; one on the same origin keeps it', async () => {
    seen.length = 0;
    const far = await httpRequest({ method: 'GET', url: `${registry.base}/elsewhere`, headers: { authorization: 'Basic c2VjcmV0' } });
    assert.equal(far.status, 200);
    assert.equal(await far.body.text(), 'blob bytes');
    assert.deepEqual(seen, [
      { path: '/elsewhere', authorization: 'Basic c2VjcmV0' },
      { path: '/signed?x=1', authorization: undefined },
    ]);
    seen.length = 0;
    const near = await httpRequest({ method: 'GET', url: `${registry.base}/same`, headers: { authorization: 'Basic c2VjcmV0' } });
    assert.equal(await near.body.text(), 'here');
    assert.deepEqual(seen.map((s) => s.authorization), ['Basic c2VjcmV0', 'Basic c2VjcmV0']);
    await assert.rejects(httpRequest({ method: 'GET', url: `${registry.base}/loop`, headers: {} }), /more than 5 redirects/);
  });

  test('dump() of an unread error body gives the connection back for the next request', async () => {
    const before = registry.connections();
    for (let i = 0; i < 3; i++) {
      const res = await httpRequest({ method: 'GET', url: `${registry.base}/denied`, headers: {} });
      assert.equal(res.status, 401);
      // the whole body has arrived but nobody read it: dump must still release the socket
      await new Promise((r) => setTimeout(r, 20));
      await res.body.dump();
    }
    assert.ok(registry.connections() - before <= 1, `${registry.connections() - before} connections for 3 requests`);
    const big = await httpRequest({ method: 'GET', url: `${registry.base}/big`, headers: {} });
    await big.body.dump();
    assert.ok(big.body.destroyed, 'a big unread body closes its connection instead of being read');
  });

  test('a connection dropped mid-body fails the reader with a retryable error', async () => {
    const res = await httpRequest({ method: 'GET', url: `${registry.base}/cut`, headers: {} });
    let got = 0;
    await assert.rejects(
      pipeline(
        res.body,
        new Writable({
          write(chunk: Buffer, _enc, cb): void {
            got += chunk.length;
            cb();
          },
        }),
      ),
      (err: unknown) => isRetryable(err),
    );
    assert.ok(got > 0 && got < 1024 * 1024);
  });

  test('Transport turns a refused challenge into one unauthorized error and lets the process exit', async () => {
    const transport = new Transport({ registry: registry.base.slice('http://'.length), retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } });
    await assert.rejects(transport.send({ method: 'GET', path: '/denied', scopes: [] }), (err: Error) => /authentication required/.test(err.message));
    const res = await transport.send({ method: 'GET', path: '/target', scopes: [] });
    assert.equal(await res.body.text(), 'here');
  });
});
