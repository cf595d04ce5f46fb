/**
 * relayGet, the streamed GET of the S3 driver, against HTTP servers that answer byte for
 * byte as told: the edge cases of HTTP/1.1 framing, keep-alive and failure that a real
 * S3 server produces only rarely (the S3 driver's own tests run it against s3rver).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { ConnectionPool } from '../src/s3/connections.js';
import { relayGet } from '../src/s3/relay.js';
import { isNotFound, isRetryable } from '../src/s3/retry.js';
import { sink } from './helpers.js';

const MiB = 1024 * 1024;

function pattern(n: number, seed = 7): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 12)) & 0xff;
  return b;
}

interface Answer {
  /** Raw bytes written for the request; `pieces` writes them in that many parts with a pause between. */
  readonly data: Buffer;
  readonly pieces?: number;
  /** Close the connection after (default: keep it). */
  readonly close?: boolean;
}

/** A server reading HTTP/1.1 requests off each connection and writing what `answer` returns for each, in order. */
async function rawServer(answer: (request: string, index: number) => Answer | 'hang' | 'close'): Promise<{ url: (path?: string) => URL; connections: () => number; open: () => number; requests: string[]; close: () => Promise<void> }> {
  const requests: string[] = [];
  let connections = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.on('data', (d: Buffer) => {
      buffered += d.toString('latin1');
      for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
        const request = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        requests.push(request);
        const a = answer(request, requests.length - 1);
        if (a === 'hang') return;
        if (a === 'close') {
          socket.destroy();
          return;
        }
        void send(socket, a);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path = '/bucket/key?X-Amz-Signature=abc') => new URL(`http://127.0.0.1:${port}${path}`),
    connections: () => connections,
    open: () => sockets.size,
    requests,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

async function send(socket: Socket, a: Answer): Promise<void> {
  const pieces = a.pieces ?? 1;
  const step = Math.ceil(a.data.length / pieces);
  for (let i = 0; i < a.data.length; i += step) {
    if (socket.destroyed) return;
    socket.write(a.data.subarray(i, i + step));
    if (pieces > 1) await new Promise((r) => setTimeout(r, 2));
  }
  if (a.close === true) socket.end();
}

function answer206(body: Buffer, from: number, to: number, total: number, extra = ''): Buffer {
  const piece = body.subarray(from, to + 1);
  return Buffer.concat([Buffer.from(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${from}-${to}/${total}\r\nContent-Length: ${piece.length}\r\n${extra}\r\n`, 'latin1'), piece]);
}

function requestedRange(request: string): { start: number; end: number } {
  const m = /\r\nRange: bytes=(\d+)-(\d+)/.exec(request);
  assert.ok(m !== null, request);
  return { start: Number(m[1]), end: Number(m[2]) };
}

const opts = (timeout = 5000): { timeout: number; signal: AbortSignal } => ({ timeout, signal: new AbortController().signal });

describe('relayGet', () => {
  const pools: ConnectionPool[] = [];
  const pool = (ca?: string): ConnectionPool => {
    const p = new ConnectionPool(ca !== undefined ? { ca } : {});
    pools.push(p);
    return p;
  };
  after(() => {
    for (const p of pools) p.close();
  });

  test('relays exactly the range asked for, with the head and body arriving in small pieces; sends the signed path and Range', async () => {
    const body = pattern(3 * MiB + 11);
    const srv = await rawServer((req) => {
      const r = requestedRange(req);
      return { data: answer206(body, r.start, r.end, body.length), pieces: 200 };
    });
    try {
      const p = pool();
      for (const r of [{ start: 0, end: body.length - 1 }, { start: 5, end: 5 }, { start: MiB - 3, end: 2 * MiB + 4 }, { start: body.length - 1, end: body.length - 1 }]) {
        const dest = sink();
        const relay = await relayGet(p, srv.url(), r, dest, opts());
        assert.ok(relay !== undefined);
        await relay.done;
        assert.deepEqual(dest.bytes(), body.subarray(r.start, r.end + 1));
      }
      assert.match(srv.requests[0] ?? '', /^GET \/bucket\/key\?X-Amz-Signature=abc HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nRange: bytes=0-3145738\r\n/);
      assert.equal(srv.connections(), 1, 'one kept-alive connection for every request');
    } finally {
      await srv.close();
    }
  });

  test('a slow destination gets every byte intact: reading waits for it (ring backpressure)', async () => {
    const body = pattern(12 * MiB, 3);
    const srv = await rawServer(() => ({ data: answer206(body, 0, body.length - 1, body.length) }));
    try {
      const dest = sink(3, 1024);
      const relay = await relayGet(pool(), srv.url(), { start: 0, end: body.length - 1 }, dest, opts(2000));
      await relay?.done;
      assert.equal(createHash('sha256').update(dest.bytes()).digest('hex'), createHash('sha256').update(body).digest('hex'));
    } finally {
      await srv.close();
    }
  });

  test('a wider answer (Range ignored, or widened as s3rver does for bytes=0-0) is cut to the range; its connection is not reused', async () => {
    const body = pattern(100_000);
    const srv = await rawServer((req, i) => {
      if (i === 0) return { data: Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`), body]) };
      return { data: answer206(body, 0, body.length - 1, body.length) };
    });
    try {
      const p = pool();
      let dest = sink();
      await (await relayGet(p, srv.url(), { start: 10, end: 19 }, dest, opts()))?.done;
      assert.deepEqual(dest.bytes(), body.subarray(10, 20));
      dest = sink();
      await (await relayGet(p, srv.url(), { start: 0, end: 0 }, dest, opts()))?.done;
      assert.deepEqual(dest.bytes(), body.subarray(0, 1));
      assert.equal(srv.connections(), 2);
    } finally {
      await srv.close();
    }
  });

  test('an answer narrower than asked is an error, before anything is written', async () => {
    const body = pattern(1000);
    const srv = await rawServer(() => ({ data: answer206(body, 0, 9, body.length) }));
    try {
      const dest = sink();
      await assert.rejects(relayGet(pool(), srv.url(), { start: 0, end: 99 }, dest, opts()), /S3 answered bytes 0-9\/1000 for bytes=0-99/);
      assert.equal(dest.bytes().length, 0);
    } finally {
      await srv.close();
    }
  });

  test('S3 error answers become errors named by their code: 404 is not found, 503 SlowDown is retryable, 403 is neither; the connection is kept', async () => {
    const xml = (code: string): string => `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>because ${code}</Message></Error>`;
    const answers: [number, string][] = [[404, 'NoSuchKey'], [503, 'SlowDown'], [403, 'AccessDenied']];
    const srv = await rawServer((_req, i) => {
      const [status, code] = answers[i] as [number, string];
      const body = Buffer.from(xml(code));
      return { data: Buffer.concat([Buffer.from(`HTTP/1.1 ${status} X\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\n\r\n`), body]), pieces: 3 };
    });
    try {
      const p = pool();
      const errors: unknown[] = [];
      for (let i = 0; i < answers.length; i++) {
        errors.push(await relayGet(p, srv.url(), { start: 0, end: 9 }, sink(), opts()).then(() => assert.fail('resolved'), (e: unknown) => e));
      }
      const [notFound, slow, denied] = errors as [Error, Error, Error];
      assert.equal(notFound.name, 'NoSuchKey');
      assert.ok(isNotFound(notFound));
      assert.equal(slow.name, 'SlowDown');
      assert.equal(slow.message, 'because SlowDown');
      assert.ok(isRetryable(slow));
      assert.ok(!isNotFound(denied) && !isRetryable(denied));
      assert.equal(srv.connections(), 1);
    } finally {
      await srv.close();
    }
  });

  test('a chunked answer (no Content-Length) resolves undefined: the caller reads it another way', async () => {
    const srv = await rawServer(() => ({ data: Buffer.from('HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-4/5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n') }));
    try {
      const dest = sink();
      assert.equal(await relayGet(pool(), srv.url(), { start: 0, end: 4 }, dest, opts()), undefined);
      assert.equal(dest.bytes().length, 0);
    } finally {
      await srv.close();
    }
  });

  test('a kept-alive connection the server dropped meanwhile is replaced at once, not reported', async () => {
    const body = pattern(5000);
    const srv = await rawServer((req, i) => (i === 1 ? 'close' : { data: answer206(body, requestedRange(req).start, requestedRange(req).end, body.length) }));
    try {
      const p = pool();
      for (let i = 0; i < 2; i++) {
        const dest = sink();
        await (await relayGet(p, srv.url(), { start: 0, end: 4999 }, dest, opts()))?.done;
        assert.deepEqual(dest.bytes(), body);
      }
      assert.equal(srv.connections(), 2);
    } finally {
      await srv.close();
    }
  });

  test('no answer within the timeout: ETIMEDOUT, retryable; an aborted signal rejects with its reason', async () => {
    const srv = await rawServer(() => 'hang');
    try {
      const started = Date.now();
      const err = await relayGet(pool(), srv.url(), { start: 0, end: 9 }, sink(), opts(300)).then(() => undefined, (e: unknown) => e as { code?: string });
      assert.equal(err?.code, 'ETIMEDOUT');
      assert.ok(isRetryable(err));
      assert.ok(Date.now() - started < 2000);
      const ctl = new AbortController();
      const pending = relayGet(pool(), srv.url(), { start: 0, end: 9 }, sink(), { timeout: 5000, signal: ctl.signal });
      setTimeout(() => ctl.abort(new Error('deadline')), 50);
      await assert.rejects(pending, /deadline/);
    } finally {
      await srv.close();
    }
  });

  test('a connection refused is a retryable error', async () => {
    const srv = await rawServer(() => 'hang');
    const url = srv.url();
    await srv.close();
    const err = await relayGet(pool(), url, { start: 0, end: 9 }, sink(), opts()).then(() => undefined, (e: unknown) => e as { code?: string });
    assert.equal(err?.code, 'ECONNREFUSED');
    assert.ok(isRetryable(err));
  });

  test('the server cutting the body midway rejects `done`; the destination has only what came', async () => {
    const body = pattern(2 * MiB);
    const srv = await rawServer(() => ({ data: answer206(body, 0, body.length - 1, body.length).subarray(0, MiB), close: true }));
    try {
      const dest = sink();
      const relay = await relayGet(pool(), srv.url(), { start: 0, end: body.length - 1 }, dest, opts());
      await assert.rejects(relay?.done ?? Promise.resolve(), /closed/);
      assert.ok(dest.bytes().length < body.length);
    } finally {
      await srv.close();
    }
  });

  test('the destination closing midway (client gone) rejects `done` and closes the connection', async () => {
    const body = pattern(8 * MiB);
    const srv = await rawServer(() => ({ data: answer206(body, 0, body.length - 1, body.length), pieces: 64 }));
    try {
      const dest = sink(5, 1024);
      const relay = await relayGet(pool(), srv.url(), { start: 0, end: body.length - 1 }, dest, opts());
      setTimeout(() => dest.destroy(), 30);
      await assert.rejects(relay?.done ?? Promise.resolve());
      // The server sees its connection go.
      for (let i = 0; i < 200 && srv.open() > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(srv.open(), 0);
    } finally {
      await srv.close();
    }
  });

  test('over TLS', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-relay-tls-'));
    try {
      const key = join(dir, 'key.pem');
      const cert = join(dir, 'cert.pem');
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-days', '1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
      const body = pattern(MiB + 3);
      const server = createTlsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (socket) => {
        socket.once('data', (d: Buffer) => {
          const r = requestedRange(d.toString('latin1'));
          socket.end(answer206(body, r.start, r.end, body.length));
        });
        socket.on('error', () => undefined);
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const url = new URL(`https://localhost:${(server.address() as AddressInfo).port}/b/k?sig=1`);
        const dest = sink();
        await (await relayGet(pool(readFileSync(cert, 'utf8')), url, { start: 1, end: body.length - 1 }, dest, opts()))?.done;
        assert.deepEqual(dest.bytes(), body.subarray(1));
        // Without the CA the certificate is refused.
        await assert.rejects(relayGet(pool(), url, { start: 0, end: 9 }, sink(), opts()), /self-signed|certificate/);
      } finally {
        server.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
