/**
 * A real S3-compatible server for tests: @20minutes/s3rver (a maintained fork of s3rver)
 * on 127.0.0.1, a random port and a temporary directory, with one bucket. It can be
 * stopped and started again on the same port and data (fault tests), and it answers
 * AbortMultipartUpload, which s3rver lacks: the upload's parts are deleted, as S3 does.
 *
 *   const s3 = await startS3Server();
 *   s3.endpoint  // http://127.0.0.1:<port>, bucket s3.bucket, credentials S3RVER/S3RVER
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import S3rver from '@20minutes/s3rver';

/** Misbehaviour for the next `count` requests (matching `method`, if given). */
export interface S3Fault {
  readonly count: number;
  readonly method?: string;
  /** Answer with this HTTP status and S3 error code (e.g. 503 SlowDown) instead of serving. */
  readonly status?: number;
  readonly code?: string;
  /** Wait this long before serving (or answering the error): a slow server. */
  readonly delayMs?: number;
}

export interface TestS3Server {
  readonly endpoint: string;
  readonly bucket: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly directory: string;
  readonly port: number;
  /** Stops listening and cuts every open connection (the server died). */
  stop(): Promise<void>;
  /** Starts again on the same port with the same data. */
  start(): Promise<void>;
  /** Makes the next requests fail or stall; returns a function that ends the fault. */
  inject(fault: S3Fault): () => void;
  /** Requests served so far, by method (to check what the registry asked S3). */
  readonly requests: Record<string, number>;
  /** Multipart uploads started and neither completed nor aborted. */
  openMultipartUploads(): Promise<number>;
  /** Stops and removes the data. */
  close(): Promise<void>;
}

const BUCKET = 'berth-test';

export async function startS3Server(): Promise<TestS3Server> {
  const directory = await mkdtemp(join(tmpdir(), 'berth-s3rver-'));
  let server: S3rver | undefined;
  let port = 0;
  const sockets = new Set<Socket>();
  const faults: { fault: S3Fault; left: number }[] = [];
  const requests: Record<string, number> = {};

  const start = async (): Promise<void> => {
    if (server !== undefined) return;
    const s = new S3rver({ address: '127.0.0.1', port, directory, silent: true, configureBuckets: [{ name: BUCKET }] });
    // AbortMultipartUpload: DELETE /<bucket>/<key>?uploadId=<id>.
    s.middleware.unshift(async (ctx, next) => {
      const uploadId = ctx.query['uploadId'];
      if (ctx.method !== 'DELETE' || uploadId === undefined || !/^[0-9a-f]+$/.test(uploadId)) return next();
      const bucket = ctx.path.split('/')[1] ?? '';
      const dir = join(s.store.getResourcePath(bucket, undefined, 'uploads'), uploadId);
      await rm(dir, { recursive: true, force: true });
      ctx.status = 204;
      ctx.body = '';
    });
    s.middleware.unshift(async (ctx, next) => {
      requests[ctx.method] = (requests[ctx.method] ?? 0) + 1;
      const f = faults.find((x) => x.left > 0 && (x.fault.method === undefined || x.fault.method === ctx.method));
      if (f === undefined) return next();
      f.left--;
      if (f.fault.delayMs !== undefined) await sleep(f.fault.delayMs);
      if (f.fault.status === undefined) return next();
      const code = f.fault.code ?? 'InternalError';
      ctx.status = f.fault.status;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected ${code}</Message></Error>`;
    });
    const address = await s.run();
    port = address.port;
    s.httpServer?.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (s === undefined) return;
    const closed = s.close();
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  await start();
  return {
    get endpoint() {
      return `http://127.0.0.1:${port}`;
    },
    bucket: BUCKET,
    region: 'us-east-1',
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
    directory,
    get port() {
      return port;
    },
    stop,
    start,
    inject(fault) {
      const entry = { fault, left: fault.count };
      faults.push(entry);
      return () => {
        entry.left = 0;
      };
    },
    requests,
    async openMultipartUploads() {
      try {
        return (await readdir(join(directory, BUCKET, '._S3rver_uploads'))).length;
      } catch {
        return 0;
      }
    },
    async close() {
      await stop();
      await rm(directory, { recursive: true, force: true });
    },
  };
}
