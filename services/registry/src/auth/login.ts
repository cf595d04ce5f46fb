import { RegistryError } from '@berth/oci';
import type { Logger } from '../logger.js';
import type { Htpasswd } from './htpasswd.js';
import type { LoginThrottle } from './throttle.js';

/**
 * One password check, for Basic requests and the token endpoint alike: a password
 * already verified passes at once; otherwise, unless the user or the client address is
 * locked out by earlier failures (429 with Retry-After), bcrypt decides and a failure
 * is counted. Only the outcome is logged: never the password.
 */
export class PasswordLogin {
  constructor(
    private readonly htpasswd: Htpasswd | undefined,
    private readonly throttle: LoginThrottle,
    private readonly logger: Logger,
  ) {}

  /** True for good credentials, false for bad ones; throws TOOMANYREQUESTS when locked out. */
  async check(user: string, password: string, address: string): Promise<boolean> {
    const htpasswd = this.htpasswd;
    if (htpasswd?.cached(user, password) === true) return true;
    const keys = [`user:${user}`, `addr:${address}`];
    const wait = this.throttle.retryAfter(keys);
    if (wait > 0) {
      throw new RegistryError('TOOMANYREQUESTS', 'too many failed logins; retry later', undefined, { 'Retry-After': String(Math.ceil(wait / 1000)) });
    }
    const ok = htpasswd !== undefined && (await htpasswd.verify(user, password));
    if (ok) {
      this.throttle.success(keys[0] as string);
      return true;
    }
    this.throttle.failure(keys);
    this.logger.info('login failed', { user: htpasswd?.has(user) === true ? user : '(unknown user)', remote: address });
    return false;
  }
}
