/**
 * The `auth.rules` configuration: groups of users, and access rules granting actions on
 * repositories matching glob patterns to users, groups, any logged-in user (`users:
 * ["*"]`) or everyone including anonymous clients (`anonymous: true`).
 *
 *   rules:
 *     groups:
 *       team-a: [alice, bob]
 *     access:
 *       - repository: team-a/**
 *         groups: [team-a]
 *         actions: [pull, push]
 *       - repository: [public/*, docs/**]
 *         anonymous: true
 *         actions: [pull]
 *
 * In the YAML file it is a mapping; from BERTH_AUTH_RULES, the same as a JSON string.
 */
export type Action = 'pull' | 'push' | 'delete';
export const ACTIONS: readonly Action[] = ['pull', 'push', 'delete'];

export interface AccessRule {
  readonly repositories: readonly string[];
  readonly actions: readonly Action[];
  readonly users: readonly string[];
  readonly groups: readonly string[];
  readonly anonymous: boolean;
}

export interface RulesConfig {
  readonly groups: Readonly<Record<string, readonly string[]>>;
  readonly access: readonly AccessRule[];
}

export const NO_RULES: RulesConfig = { groups: {}, access: [] };

const RULE_KEYS = ['repository', 'actions', 'users', 'groups', 'anonymous'];

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function strings(v: unknown, where: string, allowOne: boolean): readonly string[] | string {
  if (allowOne && typeof v === 'string') return [v];
  if (!Array.isArray(v) || !v.every((x): x is string => typeof x === 'string' && x !== '')) {
    return `${where}: expected a list of names${allowOne ? ' (or one name)' : ''}`;
  }
  return v;
}

/** The rules, or one line saying what is wrong with them. */
export function parseRules(raw: unknown): RulesConfig | string {
  let value = raw;
  if (typeof raw === 'string') {
    try {
      value = JSON.parse(raw) as unknown;
    } catch {
      return 'expected a mapping with groups and access (as JSON in an environment variable)';
    }
  }
  if (!isRecord(value)) return 'expected a mapping with groups and access';
  for (const k of Object.keys(value)) if (k !== 'groups' && k !== 'access') return `unknown key "${k}" (known: groups, access)`;
  const groups: Record<string, readonly string[]> = {};
  const rawGroups = value['groups'] ?? {};
  if (!isRecord(rawGroups)) return 'groups: expected a mapping of group name to a list of users';
  for (const [name, members] of Object.entries(rawGroups)) {
    const list = strings(members, `groups.${name}`, false);
    if (typeof list === 'string') return list;
    groups[name] = list;
  }
  const rawAccess = value['access'] ?? [];
  if (!Array.isArray(rawAccess)) return 'access: expected a list of rules';
  const access: AccessRule[] = [];
  for (const [i, r] of (rawAccess as unknown[]).entries()) {
    const where = `access[${i}]`;
    if (!isRecord(r)) return `${where}: expected a mapping with repository, actions and users, groups or anonymous`;
    const unknown = Object.keys(r).find((k) => !RULE_KEYS.includes(k));
    if (unknown !== undefined) return `${where}: unknown key "${unknown}" (known: ${RULE_KEYS.join(', ')})`;
    const repositories = strings(r['repository'], `${where}.repository`, true);
    if (typeof repositories === 'string') return repositories;
    const rawActions = strings(r['actions'], `${where}.actions`, true);
    if (typeof rawActions === 'string') return rawActions;
    const actions = new Set<Action>();
    for (const a of rawActions) {
      if (a === '*') ACTIONS.forEach((x) => actions.add(x));
      else if ((ACTIONS as readonly string[]).includes(a)) actions.add(a as Action);
      else return `${where}.actions: unknown action "${a}" (known: ${ACTIONS.join(', ')}, *)`;
    }
    const users = strings(r['users'] ?? [], `${where}.users`, false);
    if (typeof users === 'string') return users;
    const ruleGroups = strings(r['groups'] ?? [], `${where}.groups`, false);
    if (typeof ruleGroups === 'string') return ruleGroups;
    const missing = ruleGroups.find((g) => groups[g] === undefined);
    if (missing !== undefined) return `${where}.groups: unknown group "${missing}"`;
    const anonymous = r['anonymous'] ?? false;
    if (typeof anonymous !== 'boolean') return `${where}.anonymous: expected true or false`;
    if (users.length === 0 && ruleGroups.length === 0 && !anonymous) return `${where}: grants nobody (set users, groups or anonymous)`;
    access.push({ repositories, actions: [...actions], users, groups: ruleGroups, anonymous });
  }
  return { groups, access };
}
