import type { RouteModule } from './deps.js';
import { nextLink, pageParams } from './pagination.js';

/** GET /v2/_catalog?n=&last=: repositories in lexical order, paginated with Link. */
export const catalogRoutes: RouteModule<'catalog'> = {
  GET: async (req, res, _ep, { metadata, config }) => {
    const { n, last } = pageParams(req.query, config.limits.pagesize);
    const page = n === 0 ? { items: [], more: false } : await metadata.listRepositories(n, last);
    const lastItem = page.items[page.items.length - 1];
    if (page.more && lastItem !== undefined) res.setHeader('Link', nextLink('/v2/_catalog', n, lastItem));
    res.json({ repositories: page.items });
  },
};
