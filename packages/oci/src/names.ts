/**
 * Repository name and tag grammar of the OCI distribution-spec:
 *   name: [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*
 *   tag:  [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}
 * A name is at most 255 characters (as Distribution enforces), so it can never be
 * long enough to matter in a path or an index.
 */
const COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
export const NAME_PATTERN = `${COMPONENT}(?:/${COMPONENT})*`;
const NAME_RE = new RegExp(`^${NAME_PATTERN}$`);
export const TAG_PATTERN = '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}';
const TAG_RE = new RegExp(`^${TAG_PATTERN}$`);
export const MAX_NAME_LENGTH = 255;

export function isValidRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME_RE.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}
