import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseDigest } from '@berth/oci';

/**
 * The local store's layout under BERTH_ROOT:
 *
 *   <root>/
 *     store.db                    SQLite: image names and tags, images, blob records, leases, ingest locks
 *     blobs/sha256/<hex>          committed content (layers, configs, manifests), never rewritten,
 *                                 shared by every image that references it
 *     ingest/sha256-<hex>.partial a download in progress; kept after an interruption so the next
 *                                 pull resumes it with a Range request
 *
 * ingest/ and blobs/ are on one file system, so a commit is fsync + rename + fsync(dir).
 */
export function defaultRoot(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['BERTH_ROOT'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (typeof process.getuid === 'function' && process.getuid() === 0) return '/var/lib/berth';
  const dataHome = env['XDG_DATA_HOME'];
  return join(dataHome !== undefined && dataHome !== '' ? dataHome : join(homedir(), '.local', 'share'), 'berth');
}

export class StorePaths {
  readonly db: string;
  readonly blobs: string;
  readonly ingest: string;

  constructor(readonly root: string) {
    this.db = join(root, 'store.db');
    this.blobs = join(root, 'blobs');
    this.ingest = join(root, 'ingest');
  }

  /** Path of a committed blob; the digest is validated, so it never escapes the root. */
  blob(digest: string): string {
    const { algorithm, hex } = checked(digest);
    return join(this.blobs, algorithm, hex);
  }

  partial(digest: string): string {
    const { algorithm, hex } = checked(digest);
    return join(this.ingest, `${algorithm}-${hex}.partial`);
  }
}

function checked(digest: string): { algorithm: string; hex: string } {
  const parsed = parseDigest(digest);
  if (typeof parsed !== 'object') throw new Error(`invalid digest "${digest.slice(0, 100)}"`);
  return parsed;
}
