/**
 * Token scopes as clients send them to the token endpoint and registries send them in
 * challenges: `repository:<name>:<action>[,<action>...]`, `repository(plugin):...`,
 * `registry:catalog:*`. A name may itself contain `:` (a host with a port), so the
 * type ends at the first colon and the actions start after the last one. Several
 * scopes come as repeated `scope` parameters or space-separated in one (OAuth2).
 */
export interface Scope {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

const MAX_SCOPES = 64;

export function parseScope(text: string): Scope | undefined {
  const first = text.indexOf(':');
  const last = text.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  // `repository(plugin)` is a repository for access purposes, as in Distribution.
  const type = text.slice(0, first).replace(/\(.*\)$/, '');
  const name = text.slice(first + 1, last);
  const actions = text.slice(last + 1).split(',').filter((a) => a !== '');
  if (name === '' || name.length > 512) return undefined;
  return { type, name, actions: [...new Set(actions)] };
}

/** Every scope of a query or form value (string or repeated), malformed ones dropped. */
export function parseScopes(value: unknown): Scope[] {
  const raw = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
  const out: Scope[] = [];
  for (const item of raw) {
    for (const part of item.split(' ')) {
      if (part === '') continue;
      const scope = parseScope(part);
      if (scope !== undefined) out.push(scope);
      if (out.length >= MAX_SCOPES) return out;
    }
  }
  return out;
}

export function formatScope(scope: Scope): string {
  return `${scope.type}:${scope.name}:${scope.actions.join(',')}`;
}
