/** The Authorization header, split into what the registry understands. */
export type Credentials =
  | { readonly scheme: 'basic'; readonly user: string; readonly password: string }
  | { readonly scheme: 'bearer'; readonly token: string }
  | { readonly scheme: 'invalid' };

const MAX_HEADER = 16 * 1024;

export function parseAuthorization(header: string | undefined): Credentials | undefined {
  if (header === undefined || header === '') return undefined;
  if (header.length > MAX_HEADER) return { scheme: 'invalid' };
  const space = header.indexOf(' ');
  if (space <= 0) return { scheme: 'invalid' };
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer' && /^[A-Za-z0-9._~+/=-]+$/.test(value)) return { scheme: 'bearer', token: value };
  if (scheme === 'basic') {
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    // containers/image sends `Basic Og==` (":") when it has no credentials: anonymous.
    if (decoded === ':' || value === '') return undefined;
    const colon = decoded.indexOf(':');
    if (colon > 0) return { scheme: 'basic', user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { scheme: 'invalid' };
}

/** The client's address, the key failed logins are also counted under. */
export function clientAddress(remote: string | undefined): string {
  return remote ?? 'unknown';
}
