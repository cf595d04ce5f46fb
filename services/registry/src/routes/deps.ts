import type { Request, Response } from 'express';
import type { MetadataStore } from '@berth/metadata';
import type { BlobStore } from '@berth/storage';
import type { Config } from '../config/index.js';
import type { ManifestService } from '../core/manifests.js';
import type { UploadService } from '../core/uploads.js';
import type { Endpoint, EndpointKind } from '../http/match.js';
import type { Metrics } from '../metrics.js';

/** What every route module gets: the app's services, built once in createApp. */
export interface RouteDeps {
  readonly config: Config;
  readonly blobs: BlobStore;
  readonly metadata: MetadataStore;
  readonly uploads: UploadService;
  readonly manifests: ManifestService;
  readonly metrics: Metrics | undefined;
  /** Set when blob GETs redirect to pre-signed storage URLs (storage.redirect). */
  readonly redirectUrl: ((digest: string) => Promise<string | undefined>) | undefined;
}

export type EndpointOf<K extends EndpointKind> = Extract<Endpoint, { kind: K }>;

export type Handler<K extends EndpointKind> = (req: Request, res: Response, endpoint: EndpointOf<K>, deps: RouteDeps) => Promise<void>;

/** A route module: one handler per HTTP method of its endpoint. */
export type RouteModule<K extends EndpointKind> = Readonly<Partial<Record<string, Handler<K>>>>;
