import type { RouteModule } from './deps.js';

/** GET /v2/: the API version check every client starts with. */
export const baseRoutes: RouteModule<'base'> = {
  GET: (_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.end('{}');
    return Promise.resolve();
  },
  HEAD: (_req, res) => {
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Content-Length', '2');
    res.end();
    return Promise.resolve();
  },
};
