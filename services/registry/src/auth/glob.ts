/**
 * Repository patterns of the access rules: `*` matches within one path component,
 * `**` matches across components (any depth, also none), `?` one character other than
 * `/`. Everything else is literal. `team-a/*` matches `team-a/app` but not
 * `team-a/x/app`; `team-a/**` matches both.
 */
export function globToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        // `a/**/b` also matches `a/b`: swallow the slash that follows.
        if (pattern[i + 1] === '/') {
          i++;
          out += '(?:.*/)?';
        } else {
          out += '.*';
        }
      } else {
        out += '[^/]*';
      }
    } else if (c === '?') {
      out += '[^/]';
    } else {
      out += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }
  }
  return new RegExp(`^${out}$`);
}
