import { readdirSync } from 'node:fs';
import { createServer, request as httpRequest, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, type RunResult } from '@berth/test-support/exec';

/** The CLI as users run it: the bundle `npm run build` makes (packages/cli/dist/test -> dist/bundle/berth.cjs). */
export const BERTH_CLI = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'bundle', 'berth.cjs');

/**
 * Runs `berth --root <root> ...args` as its own process; never throws on a non-zero exit.
 * Credential files default to paths next to the store, so the host's own docker, podman
 * or berth logins never leak into a test.
 */
export function berth(root: string, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<RunResult> {
  const isolated = { BERTH_AUTH_FILE: `${root}.auth/berth.json`, REGISTRY_AUTH_FILE: `${root}.auth/podman.json`, DOCKER_CONFIG: `${root}.auth/docker` };
  return run(process.execPath, [BERTH_CLI, '--root', root, ...args], { allowFailure: true, env: { ...process.env, ...isolated, ...env }, timeoutMs: 90_000 });
}

/** Every file under the store's blobs/ and ingest/ trees, sorted (what "store unchanged" compares). */
export function storeFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? `${e.name}/` : e.name));
    } catch {
      return;
    }
    for (const e of entries) {
      if (e.endsWith('/')) walk(join(dir, e), `${rel}${e}`);
      else out.push(`${rel}${e}`);
    }
  };
  walk(join(root, 'blobs'), 'blobs/');
  walk(join(root, 'ingest'), 'ingest/');
  return out.sort();
}

/**
 * An HTTP proxy on 127.0.0.1 in front of a registry that flips one byte in the middle
 * of blob `digest` (same length, so only the digest check can notice).
 */
export async function corruptingProxy(upstream: string, digest: string): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      const headers: Record<string, string> = {};
      for (const k of ['accept', 'authorization', 'range']) {
        const v = req.headers[k];
        if (typeof v === 'string') headers[k] = v;
      }
      const up = await fetch(`${upstream}${req.url ?? '/'}`, { method: req.method ?? 'GET', headers, redirect: 'manual' });
      let body = Buffer.from(await up.arrayBuffer());
      if ((req.url ?? '').includes(`/blobs/${digest}`) && body.length > 0) {
        body = Buffer.from(body);
        body[body.length >> 1] = (body[body.length >> 1] ?? 0) ^ 0xff;
      }
      const out: Record<string, string> = {};
      up.headers.forEach((v, k) => {
        if (!['content-length', 'content-encoding', 'transfer-encoding', 'connection', 'keep-alive'].includes(k)) out[k] = v;
      });
      res.writeHead(up.status, out);
      res.end(req.method === 'HEAD' ? undefined : body);
    })().catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * An HTTP proxy on 127.0.0.1 in front of a registry that forwards the first `pauseAfter`
 * bytes of blob `digest` and then holds the response open (`paused` resolves) until
 * `cut()` breaks it, as a registry dying mid-transfer would. Requests it cannot forward
 * (the registry is gone) get 502.
 */
export async function pausingProxy(upstream: string, digest: string, pauseAfter: number): Promise<{ url: string; paused: Promise<void>; cut(): void; close(): Promise<void> }> {
  let onPaused: () => void = () => undefined;
  const paused = new Promise<void>((resolve) => (onPaused = resolve));
  const held = new Set<ServerResponse>();
  const target = new URL(upstream);
  const server: Server = createServer((req, res) => {
    const up = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      const hold = (req.url ?? '').includes(`/blobs/${digest}`) && req.method === 'GET' && held.size === 0;
      let sent = 0;
      upRes.on('data', (chunk: Buffer) => {
        if (!hold) return void res.write(chunk);
        if (sent >= pauseAfter) return; // swallowed: the client waits for the rest
        const part = chunk.subarray(0, pauseAfter - sent);
        sent += part.length;
        res.write(part);
        if (sent >= pauseAfter) {
          held.add(res);
          onPaused();
        }
      });
      upRes.on('end', () => {
        if (!held.has(res)) res.end();
      });
      upRes.on('error', () => res.destroy());
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `127.0.0.1:${port}`,
    paused,
    cut: () => {
      for (const res of held) res.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
