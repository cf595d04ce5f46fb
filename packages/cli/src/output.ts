/** Human output: plain lines, sizes and ids as docker prints them. */
export function shortId(digest: string): string {
  const colon = digest.indexOf(':');
  return digest.slice(colon + 1, colon + 13);
}

export function shortDigest(digest: string): string {
  return `${digest.slice(0, digest.indexOf(':') + 13)}`;
}

export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${u === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[u]}`;
}

/** Left-aligned columns separated by three spaces, as `docker images`. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('   ');
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export type OutputFormat = 'table' | 'json';

/** `--format`: json or table; Go templates (docker's other choice) are refused clearly. */
export function parseFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'table') return 'table';
  if (value === 'json') return 'json';
  throw new Error(`unsupported --format "${value.slice(0, 100)}": use json or table (Go templates are not supported)`);
}
