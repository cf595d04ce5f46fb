import type { Request, Response } from 'express';
import { RegistryError } from '@berth/oci';
import { checkName, checkReference } from '../core/validate.js';
import { readBoundedBody } from '../http/body.js';
import type { EndpointOf, RouteDeps, RouteModule } from './deps.js';

/**
 * GET/HEAD/PUT/DELETE /v2/<name>/manifests/<tag or digest>. Manifests are served byte
 * for byte as pushed, with the media type they were pushed as.
 */
async function serve(_req: Request, res: Response, ep: EndpointOf<'manifest'>, { metadata }: RouteDeps, head: boolean): Promise<void> {
  const name = checkName(ep.name);
  const reference = checkReference(ep.reference);
  const manifest = head ? await metadata.headManifest(name, reference) : await metadata.getManifest(name, reference);
  if (manifest === undefined) {
    if (!(await metadata.repositoryExists(name))) throw new RegistryError('NAME_UNKNOWN', undefined, { name });
    throw new RegistryError('MANIFEST_UNKNOWN', undefined, reference);
  }
  res.setHeader('Content-Type', manifest.mediaType);
  res.setHeader('Docker-Content-Digest', manifest.digest);
  res.setHeader('ETag', `"${manifest.digest}"`);
  res.setHeader('Content-Length', manifest.size);
  res.end('content' in manifest ? manifest.content : undefined);
}

export const manifestRoutes: RouteModule<'manifest'> = {
  GET: (req, res, ep, deps) => serve(req, res, ep, deps, false),
  HEAD: (req, res, ep, deps) => serve(req, res, ep, deps, true),
  PUT: async (req, res, ep, { manifests, config }) => {
    const name = checkName(ep.name);
    const reference = checkReference(ep.reference);
    const body = await readBoundedBody(req, config.limits.manifestsize);
    const result = await manifests.put(name, reference, body, req.headers['content-type']);
    res.status(201);
    res.setHeader('Location', `/v2/${name}/manifests/${result.digest}`);
    res.setHeader('Docker-Content-Digest', result.digest);
    if (result.subject !== undefined) res.setHeader('OCI-Subject', result.subject);
    res.setHeader('Content-Length', '0');
    res.end();
  },
  DELETE: async (_req, res, ep, { metadata, config }) => {
    if (!config.delete.enabled) throw new RegistryError('DELETE_DISABLED');
    const name = checkName(ep.name);
    const reference = checkReference(ep.reference);
    const deleted = 'digest' in reference
      ? await metadata.deleteManifest(name, reference.digest)
      : await metadata.deleteTag(name, reference.tag);
    if (!deleted) throw new RegistryError('MANIFEST_UNKNOWN', undefined, reference);
    res.status(202).setHeader('Content-Length', '0').end();
  },
};
