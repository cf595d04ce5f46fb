import { MediaType } from '@berth/oci';
import { checkDigest, checkName, queryString } from '../core/validate.js';
import type { RouteModule } from './deps.js';
import { nextLink, pageParams } from './pagination.js';

/**
 * GET /v2/<name>/referrers/<digest>?artifactType=: an image index of the manifests whose
 * subject is <digest>. Never a 404: no referrers is an empty index. Filtering by
 * artifactType is announced with OCI-Filters-Applied.
 */
export const referrersRoutes: RouteModule<'referrers'> = {
  GET: async (req, res, ep, { metadata, config }) => {
    const name = checkName(ep.name);
    const { digest } = checkDigest(ep.digest);
    const artifactType = queryString(req.query, 'artifactType');
    const filter = artifactType !== undefined && artifactType !== '' ? artifactType.slice(0, 255) : undefined;
    const { n, last } = pageParams(req.query, config.limits.pagesize);
    const page = await metadata.listReferrers(name, digest, filter, Math.max(n, 1), last);
    if (filter !== undefined) res.setHeader('OCI-Filters-Applied', 'artifactType');
    const lastItem = page.items[page.items.length - 1];
    if (page.more && lastItem !== undefined) {
      const base = nextLink(`/v2/${name}/referrers/${digest}`, n, lastItem.digest);
      res.setHeader('Link', filter === undefined ? base : base.replace('>;', `&artifactType=${encodeURIComponent(filter)}>;`));
    }
    res.setHeader('Content-Type', MediaType.ociIndex);
    res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: page.items }));
  },
};
