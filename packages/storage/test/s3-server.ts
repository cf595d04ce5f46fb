/**
 * A real S3-compatible server for tests: @20minutes/s3rver (a maintained fork of s3rver)
 * on 127.0.0.1, a random port and a temporary directory, with one bucket. It can be
 * stopped and started again on the same port and data (fault tests). It also answers
 * three multipart calls s3rver lacks, over s3rver's own record of multipart uploads:
 * AbortMultipartUpload (the parts are deleted, as S3 does), ListMultipartUploads and
 * ListParts (Distribution's S3 driver needs them to resume its uploads).
 *
 *   const s3 = await startS3Server();
 *   s3.endpoint  // http://127.0.0.1:<port>, bucket s3.bucket, credentials S3RVER/S3RVER
 */
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
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
  /** TCP connections accepted so far. */
  readonly connections: number;
  /** `x-amz-storage-class` and `x-amz-server-side-encryption*` headers of the requests, as "name: value". */
  readonly amzHeaders: string[];
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
  const amzHeaders: string[] = [];
  let connections = 0;

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
      for (const [name, value] of Object.entries(ctx.req.headers)) {
        if (name === 'x-amz-storage-class' || name.startsWith('x-amz-server-side-encryption')) amzHeaders.push(`${name}: ${String(value)}`);
      }
      const f = faults.find((x) => x.left > 0 && (x.fault.method === undefined || x.fault.method === ctx.method));
      if (f === undefined) return next();
      f.left--;
      if (f.fault.delayMs !== undefined) await sleep(f.fault.delayMs);
      // A client that gave up meanwhile is not served (s3rver fails badly on a body cut off).
      if (ctx.req.destroyed || ctx.req.socket.destroyed) {
        ctx.status = 499;
        ctx.body = '';
        return;
      }
      if (f.fault.status === undefined) return next();
      const code = f.fault.code ?? 'InternalError';
      ctx.status = f.fault.status;
      ctx.type = 'application/xml';
      ctx.body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>injected ${code}</Message></Error>`;
    });
    s.middleware.unshift(async (ctx, next) => {
      if (ctx.method !== 'GET') return next();
      const [, bucket = '', ...rest] = ctx.path.split('/');
      const keyParts = rest.length === 1 && rest[0] === '' ? [] : rest;
      const uploadsDir = s.store.getResourcePath(bucket, undefined, 'uploads');
      if (keyParts.length === 0 && 'uploads' in ctx.query) {
        ctx.type = 'application/xml';
        ctx.body = await listMultipartUploads(uploadsDir, bucket, ctx.query['prefix'] ?? '');
        return;
      }
      const uploadId = ctx.query['uploadId'];
      if (keyParts.length > 0 && uploadId !== undefined && /^[0-9a-f]+$/.test(uploadId)) {
        const body = await listParts(join(uploadsDir, uploadId), bucket, decodeURIComponent(keyParts.join('/')), uploadId);
        if (body === undefined) {
          ctx.status = 404;
          ctx.type = 'application/xml';
          ctx.body = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>no such upload</Message></Error>';
          return;
        }
        ctx.type = 'application/xml';
        ctx.body = body;
        return;
      }
      return next();
    });
    const address = await s.run();
    port = address.port;
    s.httpServer?.on('connection', (socket: Socket) => {
      connections++;
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
    get connections() {
      return connections;
    },
    amzHeaders,
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

function xmlEscape(v: string): string {
  return v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

async function listMultipartUploads(uploadsDir: string, bucket: string, prefix: string): Promise<string> {
  const entries: string[] = [];
  for (const id of await readdir(uploadsDir).catch(() => [] as string[])) {
    const key = await readFile(join(uploadsDir, id, 'key'), 'utf8').catch(() => undefined);
    if (key === undefined || !key.startsWith(prefix)) continue;
    const initiated = (await stat(join(uploadsDir, id, 'key'))).mtime.toISOString();
    entries.push(`<Upload><Key>${xmlEscape(key)}</Key><UploadId>${id}</UploadId><Initiated>${initiated}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${xmlEscape(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><NextKeyMarker></NextKeyMarker><NextUploadIdMarker></NextUploadIdMarker><Prefix>${xmlEscape(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${entries.join('')}</ListMultipartUploadsResult>`;
}

async function listParts(dir: string, bucket: string, key: string, uploadId: string): Promise<string | undefined> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return undefined;
  }
  const numbers = names.filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  const parts: string[] = [];
  for (const n of numbers) {
    const info = await stat(join(dir, String(n)));
    const md5 = (await readFile(join(dir, `${n}.md5`), 'utf8').catch(() => '')).trim();
    parts.push(`<Part><PartNumber>${n}</PartNumber><LastModified>${info.mtime.toISOString()}</LastModified><ETag>"${md5}"</ETag><Size>${info.size}</Size></Part>`);
  }
  return `<?xml version="1.0" encoding="UTF-8"?><ListPartsResult><Bucket>${xmlEscape(bucket)}</Bucket><Key>${xmlEscape(key)}</Key><UploadId>${uploadId}</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>${numbers[numbers.length - 1] ?? 0}</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>${parts.join('')}</ListPartsResult>`;
}
