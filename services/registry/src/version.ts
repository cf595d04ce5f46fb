import { readFileSync } from 'node:fs';

/** The registry's version (its package.json), read once at startup; sent as Berth-Version. */
export const REGISTRY_VERSION: string = ((): string => {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
})();
