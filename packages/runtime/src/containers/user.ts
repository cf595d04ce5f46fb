import { LayerView } from '../layers/view.js';
import type { SpecUser } from './spec-types.js';

export class UnknownUserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnknownUserError';
  }
}

const MAX_ACCOUNTS_FILE = 4 * 1024 * 1024;

function entries(text: string | undefined): string[][] {
  return (text ?? '').split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split(':'));
}

const NUMERIC = /^\d{1,10}$/;

/**
 * Resolves `user[:group]` (names or ids, as -u and the image's User take them) against the
 * root's /etc/passwd and /etc/group (a directory, or the layers of one); supplementary groups are the user's groups there.
 * An empty spec is root.
 */
export function resolveUser(root: LayerView | string, spec: string | undefined): SpecUser {
  const view = typeof root === 'string' ? new LayerView([root]) : root;
  // the image controls these files: symlinks stay inside it, and files past MAX_ACCOUNTS_FILE are not read
  const read = (path: string): string | undefined => view.readFile(path, MAX_ACCOUNTS_FILE, () => new UnknownUserError(`${path} in the image is larger than ${MAX_ACCOUNTS_FILE} bytes`))?.toString('utf8');
  if (spec === undefined || spec === '') spec = '0';
  const [userPart = '', groupPart] = spec.split(':', 2);
  const passwd = entries(read('etc/passwd'));
  const groups = entries(read('etc/group'));
  let uid: number;
  let gid: number | undefined;
  let name: string | undefined;
  if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    const row = passwd.find((r) => r[2] === userPart);
    name = row?.[0];
    gid = row !== undefined ? Number(row[3]) : 0;
  } else {
    const row = passwd.find((r) => r[0] === userPart);
    if (row === undefined) throw new UnknownUserError(`unable to find user ${userPart.slice(0, 64)}: no matching entries in passwd file`);
    uid = Number(row[2]);
    gid = Number(row[3]);
    name = userPart;
  }
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const row = groups.find((r) => r[0] === groupPart);
      if (row === undefined) throw new UnknownUserError(`unable to find group ${groupPart.slice(0, 64)}: no matching entries in group file`);
      gid = Number(row[2]);
    }
  }
  if (!Number.isSafeInteger(uid) || uid > 0xfffffffe || !Number.isSafeInteger(gid) || (gid ?? 0) > 0xfffffffe) {
    throw new UnknownUserError(`invalid user "${spec.slice(0, 64)}"`);
  }
  const additional = name === undefined ? [] : groups.filter((r) => (r[3] ?? '').split(',').includes(name)).map((r) => Number(r[2])).filter((g) => Number.isSafeInteger(g) && g !== gid);
  return { uid, gid: gid ?? 0, ...(additional.length > 0 ? { additionalGids: additional } : {}) };
}
