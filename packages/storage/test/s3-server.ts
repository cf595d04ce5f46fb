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
import S3rver from '@20minutes/s3rver';

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

  const start = async (): Promise<void> => {
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
