import { RegistryError } from '@berth/oci';
import { checkName } from '../core/validate.js';
import type { RouteModule } from './deps.js';
import { nextLink, pageParams } from './pagination.js';

/** GET /v2/<name>/tags/list?n=&last=: tags in lexical order, paginated with Link. */
export const tagsRoutes: RouteModule<'tags'> = {
  GET: async (req, res, ep, { metadata, config }) => {
    const name = checkName(ep.name);
    const { n, last } = pageParams(req.query, config.limits.pagesize);
    const page = await metadata.listTags(name, Math.max(n, 1), last);
    if (page === undefined) throw new RegistryError('NAME_UNKNOWN', undefined, { name });
    const items = n === 0 ? [] : page.items;
    const lastItem = items[items.length - 1];
    if (n > 0 && page.more && lastItem !== undefined) res.setHeader('Link', nextLink(`/v2/${name}/tags/list`, n, lastItem));
    res.json({ name, tags: items });
  },
};
