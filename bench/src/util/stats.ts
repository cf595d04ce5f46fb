export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  const hi = s[mid] ?? Number.NaN;
  if (s.length % 2 === 1) return hi;
  const lo = s[mid - 1] ?? Number.NaN;
  return (lo + hi) / 2;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export const MiB = 1024 * 1024;
