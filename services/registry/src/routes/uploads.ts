import type { Request, Response } from 'express';
import { RegistryError, isValidRepositoryName, parseDigest, type ParsedDigest } from '@berth/oci';
import type { UploadSession } from '@berth/metadata';
import { mountDenied } from '../auth/locals.js';
import { rangeHeader, type ChunkRange } from '../core/uploads.js';
import { checkDigest, checkName, queryString } from '../core/validate.js';
import { hasBody } from '../http/body.js';
import { parseContentRange } from '../http/ranges.js';
import type { RouteDeps, RouteModule } from './deps.js';

/**
 * The blob upload endpoints: POST /v2/<name>/blobs/uploads/ (start, monolithic with
 * ?digest=, or cross-repository mount with ?mount=&from=), and PATCH, PUT, GET, DELETE on
 * /v2/<name>/blobs/uploads/<id>. Response headers follow the spec and Distribution.
 */
function sessionHeaders(res: Response, session: UploadSession): void {
  res.setHeader('Location', `/v2/${session.repository}/blobs/uploads/${session.id}`);
  res.setHeader('Docker-Upload-UUID', session.id);
  const range = rangeHeader(session.size);
  for (const [k, v] of Object.entries(range)) res.setHeader(k, v);
  res.setHeader('Content-Length', '0');
}

function created(res: Response, name: string, digest: string): void {
  res.status(201);
  res.setHeader('Location', `/v2/${name}/blobs/${digest}`);
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('Content-Length', '0');
  res.end();
}

/** Every `digest` query value, validated (the spec allows several). */
function digestParams(req: Request): ParsedDigest[] {
  const raw = (req.query as Record<string, unknown>)['digest'];
  const values = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw.filter((v): v is string => typeof v === 'string') : [];
  return values.map((v) => checkDigest(v));
}

/** Content-Range of a chunk; a malformed one is a 416 carrying the current Range. */
function chunkRange(req: Request, session: UploadSession): ChunkRange | undefined {
  const range = parseContentRange(req.headers['content-range']);
  if (range === 'invalid') throw new RegistryError('RANGE_INVALID', 'malformed Content-Range', undefined, rangeHeader(session.size));
  const len = req.headers['content-length'];
  if (range !== undefined && len !== undefined && Number(len) !== range.end - range.start + 1) {
    throw new RegistryError('RANGE_INVALID', 'Content-Length does not match Content-Range', undefined, rangeHeader(session.size));
  }
  return range;
}

async function tracked<T>(deps: RouteDeps, fn: () => Promise<T>): Promise<T> {
  deps.metrics?.uploadsInFlight.inc();
  try {
    return await fn();
  } finally {
    deps.metrics?.uploadsInFlight.dec();
  }
}

export const uploadStartRoutes: RouteModule<'upload-start'> = {
  POST: async (req, res, ep, deps) => {
    const name = checkName(ep.name);
    const mount = queryString(req.query, 'mount');
    const from = queryString(req.query, 'from');
    // A mount from a repository the caller may not pull is a normal session (auth/guard.ts).
    if (mount !== undefined && from !== undefined && !mountDenied(res)) {
      const parsed = parseDigest(mount);
      // Not mountable (bad arguments, or the source lacks the blob): a normal session.
      if (typeof parsed === 'object' && isValidRepositoryName(from)) {
        const mounted = await deps.metadata.mountBlob(name, from, parsed.digest);
        if (mounted !== undefined) return created(res, name, parsed.digest);
      }
    } else if ((req.query as Record<string, unknown>)['digest'] !== undefined) {
      const digests = digestParams(req);
      const result = await tracked(deps, () => deps.uploads.monolithic(name, digests, req));
      deps.metrics?.blobsCommitted.inc();
      return created(res, name, result.digest);
    }
    const session = await deps.uploads.start(name);
    sessionHeaders(res, session);
    res.status(202).end();
  },
};

export const uploadRoutes: RouteModule<'upload'> = {
  GET: async (_req, res, ep, { uploads }) => {
    const session = await uploads.get(checkName(ep.name), ep.id);
    sessionHeaders(res, session);
    res.status(204).end();
  },
  PATCH: async (req, res, ep, deps) => {
    const name = checkName(ep.name);
    const session = await deps.uploads.get(name, ep.id);
    const range = chunkRange(req, session);
    const updated = await tracked(deps, () => deps.uploads.append(name, session.id, req, range));
    sessionHeaders(res, updated);
    res.status(202).end();
  },
  PUT: async (req, res, ep, deps) => {
    const name = checkName(ep.name);
    const digests = digestParams(req);
    if (digests.length === 0) throw new RegistryError('DIGEST_INVALID', 'the digest query parameter is required');
    const session = await deps.uploads.get(name, ep.id);
    const range = chunkRange(req, session);
    const body = hasBody(req) ? req : undefined;
    const result = await tracked(deps, () => deps.uploads.complete(name, session.id, digests, body, range));
    deps.metrics?.blobsCommitted.inc();
    created(res, name, result.digest);
  },
  DELETE: async (_req, res, ep, { uploads }) => {
    await uploads.cancel(checkName(ep.name), ep.id);
    res.status(204).end();
  },
};
