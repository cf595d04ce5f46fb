import express, { type Express } from 'express';
import type { MetadataStore } from '@berth/metadata';
import { RegistryError } from '@berth/oci';
import type { BlobStore } from '@berth/storage';
import { createAuth, type Auth } from './auth/index.js';
import type { Config } from './config/index.js';
import { ManifestService } from './core/manifests.js';
import { UploadService } from './core/uploads.js';
import { requestContext } from './http/context.js';
import { dispatchV2 } from './http/dispatch.js';
import { errorHandler } from './http/errors.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { REGISTRY_VERSION } from './version.js';

export interface AppDeps {
  readonly config: Config;
  readonly blobs: BlobStore;
  readonly metadata: MetadataStore;
  readonly logger: Logger;
  /** Omit to serve no /metrics. */
  readonly metrics?: Metrics;
  /** Omit to build it from config.auth (which reads the htpasswd file and keys). */
  readonly auth?: Auth;
  /** Given, blob GETs redirect (307) to the URL it returns for the digest. */
  readonly redirectUrl?: (digest: string) => Promise<string | undefined>;
}

export interface RegistryApp {
  readonly app: Express;
  readonly uploads: UploadService;
  /** Set while shutting down: new requests are refused with 503. */
  draining: boolean;
}

/** Builds the express app from its dependencies; no listening, no I/O but reading auth files. */
export function createApp(deps: AppDeps): RegistryApp {
  const { config, blobs, metadata, logger, metrics } = deps;
  const auth = deps.auth ?? createAuth(config, logger);
  const uploads = new UploadService(blobs, metadata, {
    maxBlobSize: config.limits.blobsize,
    maxSessions: config.uploads.maxsessions,
  });
  const manifests = new ManifestService(metadata);
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  const state: RegistryApp = { app, uploads, draining: false };

  app.use(requestContext(logger, metrics, config.log.requests));
  app.use((_req, res, next) => {
    res.setHeader('Berth-Version', REGISTRY_VERSION);
    next();
  });
  app.use((_req, res, next) => {
    if (!state.draining) return next();
    res.setHeader('Connection', 'close');
    next(new RegistryError('UNAVAILABLE', 'the registry is shutting down', undefined, { 'Retry-After': '5' }));
  });
  app.get('/healthz', (_req, res) => {
    res.locals['route'] = 'healthz';
    res.json({ status: 'ok' });
  });
  if (metrics !== undefined) {
    app.get('/metrics', (_req, res, next) => {
      res.locals['route'] = 'metrics';
      metrics.registry.metrics().then((text) => {
        res.setHeader('Content-Type', metrics.registry.contentType);
        res.end(text);
      }, next);
    });
  }
  const token = auth?.token;
  if (token !== undefined) {
    app.get('/auth/token', (req, res, next) => {
      res.locals['route'] = 'token';
      token.get(req, res).catch(next);
    });
    app.post('/auth/token', express.urlencoded({ extended: false, limit: '16kb' }), (req, res, next) => {
      res.locals['route'] = 'token';
      token.post(req, res).catch(next);
    });
  }
  const v2 = dispatchV2({ config, blobs, metadata, uploads, manifests, metrics, redirectUrl: deps.redirectUrl });
  app.use((req, res, next) => {
    if (req.path !== '/v2' && !req.path.startsWith('/v2/')) next(new RegistryError('ROUTE_UNKNOWN'));
    else if (auth === undefined) v2(req, res, next);
    else auth.guard(req, res, (err?: unknown) => (err !== undefined ? next(err) : v2(req, res, next)));
  });
  app.use(errorHandler(logger));
  return state;
}
