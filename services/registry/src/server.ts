import { mkdirSync, readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { SqliteMetadataStore } from '@berth/metadata';
import { createApp } from './app.js';
import { dataPaths, parseListenAddress, type Config } from './config/index.js';
import { createLogger, type Logger } from './logger.js';
import { Metrics } from './metrics.js';
import { openBlobStore } from './storage.js';

export interface RunningRegistry {
  readonly server: Server;
  readonly address: AddressInfo;
  /** Stops accepting, lets in-flight requests finish (up to http.draintimeout), closes stores. */
  shutdown(): Promise<void>;
}

/**
 * Opens the stores, builds the app, listens, and runs the upload janitor: at start it
 * removes upload data without a session (left by a crash), then every purge interval it
 * cancels uploads idle longer than the expiry.
 */
export async function startRegistry(config: Config, logger: Logger = createLogger(config.log.level)): Promise<RunningRegistry> {
  const paths = dataPaths(config);
  mkdirSync(dirname(paths.database), { recursive: true });
  const metadata = new SqliteMetadataStore(paths.database, config.database.synchronous);
  const store = await openBlobStore(config, metadata);
  const { blobs } = store;
  const metrics = config.metrics.enabled ? new Metrics() : undefined;
  const registry = createApp({
    config,
    blobs,
    metadata,
    logger,
    ...(metrics !== undefined ? { metrics } : {}),
    ...(store.redirectUrl !== undefined ? { redirectUrl: store.redirectUrl } : {}),
  });

  // Storage that is down at start (S3 unreachable) must not keep the registry from serving.
  try {
    const orphans = await registry.uploads.removeOrphans();
    if (orphans > 0) logger.info('removed upload data without a session', { count: orphans });
    // Multipart uploads a crash left unrecorded; only old ones, in case another registry shares the bucket.
    const strays = (await store.sweep?.(Date.now() - config.uploads.expiry)) ?? 0;
    if (strays > 0) logger.info('aborted multipart uploads without an upload', { count: strays });
  } catch (err) {
    logger.warn('could not remove upload data without a session', { error: String(err) });
  }
  const purge = async (): Promise<void> => {
    const n = await registry.uploads.purge(Date.now() - config.uploads.expiry);
    if (n > 0) logger.info('expired upload sessions cancelled', { count: n });
  };
  await purge().catch((err: unknown) => logger.warn('upload purge failed', { error: String(err) }));
  const timer = setInterval(() => {
    purge().catch((err: unknown) => logger.error('upload purge failed', { error: String(err) }));
  }, Math.max(1000, config.uploads.purgeinterval));
  timer.unref();

  const tls = config.http.tlscert !== '';
  const server: Server = tls
    ? createHttpsServer({ cert: readFileSync(config.http.tlscert), key: readFileSync(config.http.tlskey) }, registry.app)
    : createHttpServer(registry.app);
  // Big uploads may take long in total; what is bounded is time without progress.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.setTimeout(config.http.idletimeout);
  server.maxHeadersCount = 200;

  const listen = parseListenAddress(config.http.addr) as { host: string; port: number };
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  logger.info('listening', { address: address.address, port: address.port, tls, driver: blobs.driverName, blobs: config.storage.driver === 's3' ? `s3://${config.storage.bucket}/${config.storage.rootprefix}` : paths.blobs, database: paths.database });

  let closing: Promise<void> | undefined;
  const shutdown = (): Promise<void> => {
    closing ??= (async () => {
      registry.draining = true;
      clearInterval(timer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const deadline = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), config.http.draintimeout).unref());
      if ((await Promise.race([closed, deadline])) === 'timeout') {
        logger.warn('drain timeout: closing remaining connections');
        server.closeAllConnections();
        await closed;
      }
      store.close();
      await metadata.close();
      logger.info('stopped');
    })();
    return closing;
  };
  return { server, address, shutdown };
}
