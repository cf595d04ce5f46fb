import type { Request } from 'express';
import { queryString } from '../core/validate.js';
import type { Endpoint } from '../http/match.js';
import type { Action } from './rules-config.js';

/**
 * What a /v2 request needs, decided from its endpoint and method alone, before any
 * handler runs: `login` (the version check: any valid credentials), `catalog`, or
 * actions on one repository. Reads need pull; writes need push and pull (as
 * Distribution asks, so a client can check what it pushes); deletes need delete. A
 * cross-repository mount also names the source, which the caller must be able to pull.
 */
export type Need =
  | { readonly kind: 'login' }
  | { readonly kind: 'catalog' }
  | { readonly kind: 'repository'; readonly name: string; readonly actions: readonly Action[]; readonly mountFrom?: string };

const PULL: readonly Action[] = ['pull'];
const PUSH: readonly Action[] = ['pull', 'push'];
const DELETE: readonly Action[] = ['delete'];

export function requirement(endpoint: Endpoint, req: Request): Need {
  switch (endpoint.kind) {
    case 'base':
      return { kind: 'login' };
    case 'catalog':
      return { kind: 'catalog' };
    case 'upload-start': {
      const from = queryString(req.query, 'from');
      const mount = queryString(req.query, 'mount');
      return { kind: 'repository', name: endpoint.name, actions: PUSH, ...(from !== undefined && mount !== undefined ? { mountFrom: from } : {}) };
    }
    case 'upload':
      return { kind: 'repository', name: endpoint.name, actions: PUSH };
    case 'manifest':
    case 'blob':
      if (req.method === 'DELETE') return { kind: 'repository', name: endpoint.name, actions: DELETE };
      if (req.method === 'PUT') return { kind: 'repository', name: endpoint.name, actions: PUSH };
      return { kind: 'repository', name: endpoint.name, actions: PULL };
    case 'tags':
    case 'referrers':
      return { kind: 'repository', name: endpoint.name, actions: PULL };
  }
}
