import type { MetadataStore } from '@berth/metadata';
import { catalogFilter, type RepositoryFilter } from '../auth/locals.js';
import type { RouteModule } from './deps.js';
import { nextLink, pageParams } from './pagination.js';

/**
 * A page of the repositories the caller may pull: reads on until n pass the filter.
 * `more` may be true with nothing left to show past the last page read in part.
 */
async function filtered(metadata: MetadataStore, n: number, last: string | undefined, filter: RepositoryFilter): Promise<{ items: string[]; more: boolean }> {
  const items: string[] = [];
  let cursor = last;
  for (;;) {
    const page = await metadata.listRepositories(Math.max(n, 100), cursor);
    for (const [i, name] of page.items.entries()) {
      if (!filter(name)) continue;
      items.push(name);
      if (items.length === n) return { items, more: page.more || page.items.slice(i + 1).some(filter) };
    }
    cursor = page.items[page.items.length - 1];
    if (!page.more || cursor === undefined) return { items, more: false };
  }
}

/** GET /v2/_catalog?n=&last=: repositories in lexical order, paginated with Link. */
export const catalogRoutes: RouteModule<'catalog'> = {
  GET: async (req, res, _ep, { metadata, config }) => {
    const { n, last } = pageParams(req.query, config.limits.pagesize);
    const filter = catalogFilter(res);
    const page = n === 0 ? { items: [], more: false } : filter === undefined ? await metadata.listRepositories(n, last) : await filtered(metadata, n, last, filter);
    const lastItem = page.items[page.items.length - 1];
    if (page.more && lastItem !== undefined) res.setHeader('Link', nextLink('/v2/_catalog', n, lastItem));
    res.json({ repositories: page.items });
  },
};
