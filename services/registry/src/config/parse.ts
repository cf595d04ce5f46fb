/** Parsers for config values given as YAML scalars or environment strings. */

const DURATION_RE = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const DURATION_UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "10m", "24h", "500ms"; a bare number is seconds. Returns milliseconds. */
export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value * 1000 : undefined;
  if (typeof value !== 'string') return undefined;
  const m = DURATION_RE.exec(value.trim());
  if (m === null) return undefined;
  return Math.round(Number(m[1]) * (DURATION_UNIT_MS[m[2] ?? 's'] ?? 1000));
}

const SIZE_RE = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib|k|m|g|t)?$/i;
const SIZE_UNIT: Readonly<Record<string, number>> = {
  b: 1, k: 1024, kb: 1000, kib: 1024, m: 1024 ** 2, mb: 1000 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1000 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1000 ** 4, tib: 1024 ** 4,
};

/** "4MiB", "512k", "1GB"; a bare number is bytes. */
export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = SIZE_RE.exec(value.trim());
  if (m === null) return undefined;
  const n = Math.floor(Number(m[1]) * (SIZE_UNIT[(m[2] ?? 'b').toLowerCase()] ?? 1));
  return Number.isSafeInteger(n) ? n : undefined;
}

export function parseBool(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  const v = value.trim().toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  return undefined;
}

export function parseInteger(value: unknown, min: number, max: number): number | undefined {
  const n = typeof value === 'string' && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min || n > max) return undefined;
  return n;
}

/** "host:port", "[v6]:port" or ":port"; the port may be 0 (any free port). */
export function parseListenAddress(value: unknown): { host: string; port: number } | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value.trim());
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port > 65535) return undefined;
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}
