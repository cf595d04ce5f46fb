import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { Lru } from './lru.js';

const BCRYPT_RE = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;

/** `user:hash` lines (blank lines and `#` comments skipped); only bcrypt hashes. */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`line ${i + 1}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (!BCRYPT_RE.test(hash)) throw new Error(`line ${i + 1}: user "${user}" has no bcrypt hash; create it with htpasswd -B`);
    users.set(user, hash);
  }
  return users;
}

/**
 * Users and bcrypt hashes from an Apache htpasswd file (`htpasswd -B`), re-read when
 * the file changes (checked at most every two seconds), so users are added without a
 * restart. bcrypt costs ~100 ms of CPU, and clients send Basic credentials with every
 * request, so a successful check is remembered under an HMAC of user and password
 * (with a key that lives only in this process) until that user's hash changes.
 * Unknown users are checked against a dummy hash, so timing does not tell them apart.
 */
export class Htpasswd {
  private users: Map<string, string>;
  private fileStamp: string;
  private lastCheck = Date.now();
  private reloading: Promise<void> = Promise.resolve();
  private readonly verified = new Lru<string, string>(1000);
  private readonly secret = randomBytes(32);
  private readonly dummy = bcrypt.hashSync(randomBytes(16).toString('hex'), 10);

  /** Reads the file now; throws with a one-line reason. */
  constructor(
    readonly path: string,
    private readonly onReloadError: (message: string) => void = () => undefined,
  ) {
    this.users = parseHtpasswd(readFileSync(path, 'utf8'));
    const s = statSync(path);
    this.fileStamp = `${s.mtimeMs}:${s.size}`;
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  /** True when this password was verified before and the user's hash has not changed since. */
  cached(user: string, password: string): boolean {
    // A removed user must not live on in the cache: look at the file now and then here too.
    void this.reloadIfChanged();
    const hash = this.users.get(user);
    return hash !== undefined && this.verified.get(this.cacheKey(user, password)) === hash;
  }

  async verify(user: string, password: string): Promise<boolean> {
    await this.reloadIfChanged();
    const hash = this.users.get(user);
    const key = this.cacheKey(user, password);
    if (hash !== undefined && this.verified.get(key) === hash) return true;
    const ok = await bcrypt.compare(password, hash ?? this.dummy);
    if (ok && hash !== undefined) {
      this.verified.set(key, hash);
      return true;
    }
    return false;
  }

  private cacheKey(user: string, password: string): string {
    return createHmac('sha256', this.secret).update(user).update('\0').update(password).digest('base64');
  }

  private reloadIfChanged(): Promise<void> {
    const now = Date.now();
    if (now - this.lastCheck >= 2000) {
      this.lastCheck = now;
      this.reloading = this.reload();
    }
    return this.reloading;
  }

  private async reload(): Promise<void> {
    try {
      const s = await stat(this.path);
      const stamp = `${s.mtimeMs}:${s.size}`;
      if (stamp === this.fileStamp) return;
      this.users = parseHtpasswd(readFileSync(this.path, 'utf8'));
      this.fileStamp = stamp;
    } catch (err) {
      this.onReloadError(err instanceof Error ? err.message : String(err));
    }
  }
}
