import type { Request, Response } from 'express';
import { RegistryError } from '@berth/oci';
import { fromStorageError } from '../core/storage-errors.js';
import { checkDigest, checkName } from '../core/validate.js';
import { parseRangeHeader } from '../http/ranges.js';
import type { EndpointOf, RouteDeps, RouteModule } from './deps.js';

/**
 * GET/HEAD/DELETE /v2/<name>/blobs/<digest>. A blob is readable only through a
 * repository it is linked to; its size comes from metadata, its bytes stream from the
 * store with single-range support, or (storage.redirect) a 307 sends the client to a
 * pre-signed storage URL. HEAD answers from metadata alone. DELETE unlinks the blob.
 */
async function serve(req: Request, res: Response, ep: EndpointOf<'blob'>, { metadata, blobs, redirectUrl }: RouteDeps, head: boolean): Promise<void> {
  const name = checkName(ep.name);
  const { digest } = checkDigest(ep.digest);
  const info = await metadata.getBlob(name, digest);
  if (info === undefined) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
  const etag = `"${digest}"`;
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('ETag', etag);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('Cache-Control', 'max-age=31536000');
  res.setHeader('Content-Type', 'application/octet-stream');
  if (req.headers['if-none-match'] === etag) {
    res.status(304).end();
    return;
  }
  if (!head && redirectUrl !== undefined) {
    // The client fetches the bytes (and any Range) from storage directly.
    let url;
    try {
      url = await redirectUrl(digest);
    } catch (err) {
      throw fromStorageError(err, digest);
    }
    if (url === undefined) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    res.status(307).setHeader('Location', url).setHeader('Cache-Control', 'no-store').setHeader('Content-Length', '0').end();
    return;
  }
  const range = parseRangeHeader(req.headers.range, info.size);
  if (range === 'unsatisfiable') {
    throw new RegistryError('BLOB_RANGE_NOT_SATISFIABLE', undefined, { size: info.size }, { 'Content-Range': `bytes */${info.size}` });
  }
  if (range !== undefined) {
    res.status(206);
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${info.size}`);
    res.setHeader('Content-Length', range.end - range.start + 1);
  } else {
    res.setHeader('Content-Length', info.size);
  }
  if (head) {
    res.end();
    return;
  }
  // Before the first byte a missing blob is still a 404; after it, a failure (or a
  // client gone) reaches the error handler, which cuts the response off.
  try {
    await blobs.writeTo(digest, range, info.size, res);
  } catch (err) {
    throw fromStorageError(err, digest);
  }
  res.end();
}

export const blobRoutes: RouteModule<'blob'> = {
  GET: (req, res, ep, deps) => serve(req, res, ep, deps, false),
  HEAD: (req, res, ep, deps) => serve(req, res, ep, deps, true),
  DELETE: async (_req, res, ep, { metadata, config }) => {
    if (!config.delete.enabled) throw new RegistryError('DELETE_DISABLED');
    const name = checkName(ep.name);
    const { digest } = checkDigest(ep.digest);
    if (!(await metadata.unlinkBlob(name, digest))) throw new RegistryError('BLOB_UNKNOWN', undefined, { digest });
    res.status(202).setHeader('Content-Length', '0').end();
  },
};
