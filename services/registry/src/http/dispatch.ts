import type { RequestHandler } from 'express';
import { RegistryError } from '@berth/oci';
import { baseRoutes } from '../routes/base.js';
import { blobRoutes } from '../routes/blobs.js';
import { catalogRoutes } from '../routes/catalog.js';
import type { RouteDeps, RouteModule } from '../routes/deps.js';
import { manifestRoutes } from '../routes/manifests.js';
import { referrersRoutes } from '../routes/referrers.js';
import { tagsRoutes } from '../routes/tags.js';
import { uploadRoutes, uploadStartRoutes } from '../routes/uploads.js';
import { METHODS, matchEndpoint, type EndpointKind } from './match.js';

const MODULES: { readonly [K in EndpointKind]: RouteModule<K> } = {
  base: baseRoutes,
  catalog: catalogRoutes,
  manifest: manifestRoutes,
  blob: blobRoutes,
  'upload-start': uploadStartRoutes,
  upload: uploadRoutes,
  tags: tagsRoutes,
  referrers: referrersRoutes,
};

/** Routes every /v2 request to its module's handler; unknown paths and methods are OCI errors. */
export function dispatchV2(deps: RouteDeps): RequestHandler {
  return (req, res, next) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const endpoint = matchEndpoint(req.path);
    if (endpoint === undefined) {
      next(new RegistryError('ROUTE_UNKNOWN'));
      return;
    }
    res.locals['route'] = endpoint.kind;
    const handler = (MODULES[endpoint.kind] as RouteModule<EndpointKind>)[req.method];
    if (handler === undefined) {
      res.setHeader('Allow', METHODS[endpoint.kind].join(', '));
      next(new RegistryError('METHOD_NOT_ALLOWED'));
      return;
    }
    handler(req, res, endpoint, deps).catch(next);
  };
}
