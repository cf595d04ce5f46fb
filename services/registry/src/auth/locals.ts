import type { Response } from 'express';

/**
 * What the auth guard tells the route handlers after it let a request through: the
 * catalog shows only repositories the caller may pull, and a cross-repository mount
 * from a repository the caller may not pull becomes a plain upload session.
 */
export type RepositoryFilter = (name: string) => boolean;

export function setCatalogFilter(res: Response, filter: RepositoryFilter): void {
  res.locals['catalogFilter'] = filter;
}

export function catalogFilter(res: Response): RepositoryFilter | undefined {
  return res.locals['catalogFilter'] as RepositoryFilter | undefined;
}

export function denyMount(res: Response): void {
  res.locals['mountDenied'] = true;
}

export function mountDenied(res: Response): boolean {
  return res.locals['mountDenied'] === true;
}
