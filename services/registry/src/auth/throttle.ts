/**
 * Failed logins, counted per key (`user:<name>` and `addr:<ip>`). After `maxFailures`
 * failures within the window a key is locked for 1 s, doubling with each further
 * failure up to `maxLockout`. A success clears the user's key (not the address's, or
 * one valid account would reset an attacker's address). At most `capacity` keys are
 * tracked; the stalest is forgotten first.
 */
export interface ThrottleOptions {
  readonly maxFailures: number;
  readonly maxLockoutMs: number;
  readonly windowMs?: number;
  readonly capacity?: number;
  readonly now?: () => number;
}

interface Entry {
  failures: number;
  last: number;
  lockedUntil: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly windowMs: number;
  private readonly capacity: number;
  private readonly now: () => number;

  constructor(private readonly options: ThrottleOptions) {
    this.windowMs = options.windowMs ?? 15 * 60_000;
    this.capacity = options.capacity ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  /** Milliseconds until any of the keys may try again; 0 when none is locked. */
  retryAfter(keys: readonly string[]): number {
    const now = this.now();
    let wait = 0;
    for (const k of keys) {
      const e = this.entries.get(k);
      if (e !== undefined && e.lockedUntil > now) wait = Math.max(wait, e.lockedUntil - now);
    }
    return wait;
  }

  failure(keys: readonly string[]): void {
    const now = this.now();
    for (const k of keys) {
      const previous = this.entries.get(k);
      const e = previous !== undefined && now - previous.last < this.windowMs ? previous : { failures: 0, last: now, lockedUntil: 0 };
      e.failures++;
      e.last = now;
      const over = e.failures - this.options.maxFailures;
      if (over >= 0) e.lockedUntil = now + Math.min(1000 * 2 ** Math.min(over, 30), this.options.maxLockoutMs);
      this.entries.delete(k);
      this.entries.set(k, e);
      if (this.entries.size > this.capacity) {
        const oldest = this.entries.keys().next();
        if (oldest.done !== true) this.entries.delete(oldest.value);
      }
    }
  }

  success(key: string): void {
    this.entries.delete(key);
  }

  get tracked(): number {
    return this.entries.size;
  }
}
