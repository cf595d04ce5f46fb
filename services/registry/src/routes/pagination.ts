import { RegistryError } from '@berth/oci';
import { queryString } from '../core/validate.js';

/**
 * `n` and `last` of the tags and catalog endpoints. `n` is capped at the configured page
 * size (absent means a full page) so a query string cannot make us allocate without end.
 */
export function pageParams(query: unknown, pageSize: number): { n: number; last: string | undefined } {
  const rawN = queryString(query, 'n');
  let n = pageSize;
  if (rawN !== undefined) {
    if (!/^\d{1,9}$/.test(rawN)) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'n must be a non-negative integer', { n: rawN.slice(0, 20) });
    n = Math.min(Number(rawN), pageSize);
  }
  const last = queryString(query, 'last');
  if (last !== undefined && last.length > 512) throw new RegistryError('PAGINATION_NUMBER_INVALID', 'last is too long');
  return { n, last: last === '' ? undefined : last };
}

/** RFC 5988 `Link` to the next page, as Distribution sends it. */
export function nextLink(path: string, n: number, last: string): string {
  return `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`;
}
