import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { registryLog, withLogs } from '@berth/test-support/diagnose';
import { requireTools } from '@berth/test-support/exec';
import { buildTestImage, type BuiltImage } from '@berth/test-support/images';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { skopeoRunner } from '@berth/test-support/skopeo';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { berth, storeFiles } from './berth.js';

/**
 * A proxy on 127.0.0.1 in front of the registry that, the first time blob `digest` is
 * fetched whole, sends half of it and then drops the connection; everything else passes
 * through. Records the Range header of every request for that blob.
 */
async function cuttingProxy(upstream: string, digest: string): Promise<{ url: string; ranges: (string | undefined)[]; close(): Promise<void> }> {
  const ranges: (string | undefined)[] = [];
  let cut = false;
  const server: Server = createServer((req, res) => {
    const target = new URL(req.url ?? '/', `http://${upstream}`);
    const isBlob = (req.url ?? '').includes(`/blobs/${digest}`) && req.method === 'GET';
    if (isBlob) ranges.push(req.headers.range);
    const up = request(target, { method: req.method ?? 'GET', headers: { ...req.headers, host: upstream } }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      if (isBlob && !cut && req.headers.range === undefined) {
        cut = true;
        const half = Number(upRes.headers['content-length']) >> 1;
        let sent = 0;
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= half) return;
          const part = chunk.subarray(0, half - sent);
          sent += part.length;
          res.write(part, () => {
            if (sent >= half) {
              upRes.destroy();
              req.socket.destroy();
            }
          });
        });
        return;
      }
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `127.0.0.1:${port}`,
    ranges,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('berth pull over a connection that breaks', () => {
  let registry: Registry | undefined;
  let dir = '';
  let image: BuiltImage;

  before(async () => {
    requireTools('skopeo', 'busybox');
    dir = makeTempDir('cli-resume');
    const built = await buildTestImage(join(dir, 'layout'), 'v1', { marker: 'cli resume', randomLayerSize: 3 * 1024 * 1024 });
    image = built.image;
    registry = await startRegistry();
    await skopeoRunner(dir)(['copy', '--dest-tls-verify=false', built.ref, `docker://${registry.url}/cli/resume:v1`]);
  });

  after(async () => {
    await registry?.stop();
    if (dir !== '') removeTempDir(dir);
  });

  test(
    'a blob download cut half-way resumes with a Range request and stores the right bytes',
    withLogs(() => [registryLog(registry)], async () => {
      assert.ok(registry);
      const big = [...image.layers].sort((a, b) => b.size - a.size)[0];
      assert.ok(big !== undefined && big.size >= 3 * 1024 * 1024);
      const proxy = await cuttingProxy(registry.url, big.digest);
      try {
        const root = join(dir, 'root');
        const r = await berth(root, ['pull', `${proxy.url}/cli/resume:v1`]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(proxy.ranges.length, 2, `requests for the blob: ${JSON.stringify(proxy.ranges)}`);
        assert.equal(proxy.ranges[0], undefined);
        assert.match(proxy.ranges[1] ?? '', /^bytes=[1-9]\d*-$/, 'the second request resumes where the first broke off');
        const stored = readFileSync(join(root, 'blobs', 'sha256', big.digest.slice(7)));
        assert.equal(`sha256:${createHash('sha256').update(stored).digest('hex')}`, big.digest);
        assert.deepEqual(storeFiles(root).filter((f) => f.startsWith('ingest/')), [], 'no partial left');
      } finally {
        await proxy.close();
      }
    }),
  );
});
