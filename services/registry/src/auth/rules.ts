import { globToRegExp } from './glob.js';
import { Lru } from './lru.js';
import type { Action, RulesConfig } from './rules-config.js';

/** Who is asking: a user from the htpasswd file or a token's subject, or nobody. */
export type Identity = { readonly anonymous: true } | { readonly anonymous: false; readonly name: string };

export const ANONYMOUS: Identity = { anonymous: true };

const NONE: ReadonlySet<Action> = new Set();

interface CompiledRule {
  readonly patterns: readonly RegExp[];
  readonly actions: readonly Action[];
  readonly users: ReadonlySet<string>;
  readonly anyUser: boolean;
  readonly anonymous: boolean;
}

/**
 * The access rules, compiled once. `actions(identity, repository)` is the union of
 * what every matching rule grants; rules granted to anonymous clients apply to
 * logged-in users too. Answers are cached per (identity, repository), bounded.
 */
export class AccessRules {
  private readonly rules: readonly CompiledRule[];
  private readonly cache = new Lru<string, ReadonlySet<Action>>(10_000);

  constructor(config: RulesConfig) {
    this.rules = config.access.map((r) => {
      const users = new Set(r.users.filter((u) => u !== '*'));
      for (const g of r.groups) for (const u of config.groups[g] ?? []) users.add(u);
      return {
        patterns: r.repositories.map(globToRegExp),
        actions: r.actions,
        users,
        anyUser: r.users.includes('*'),
        anonymous: r.anonymous,
      };
    });
  }

  actions(identity: Identity, repository: string): ReadonlySet<Action> {
    const key = identity.anonymous ? `\0${repository}` : `${identity.name}\0${repository}`;
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const out = new Set<Action>();
    for (const rule of this.rules) {
      const applies = rule.anonymous || (!identity.anonymous && (rule.anyUser || rule.users.has(identity.name)));
      if (!applies || !rule.patterns.some((p) => p.test(repository))) continue;
      for (const a of rule.actions) out.add(a);
    }
    const result = out.size === 0 ? NONE : out;
    this.cache.set(key, result);
    return result;
  }

  allows(identity: Identity, repository: string, action: Action): boolean {
    return this.actions(identity, repository).has(action);
  }
}
