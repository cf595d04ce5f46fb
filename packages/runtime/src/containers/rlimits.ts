import { readFileSync } from 'node:fs';
import type { SpecRlimit } from './spec-types.js';

/** Open files in a container: Docker's usual 1048576, but never above what the caller may hold. */
const NOFILE_WANTED = 1_048_576;

const NAMES: Readonly<Record<string, string>> = { 'Max open files': 'RLIMIT_NOFILE' };

/**
 * The container's rlimits, read from the caller's own (/proc/self/limits): even root cannot
 * raise a hard limit above its own, so asking for more makes runc fail.
 */
export function containerRlimits(limitsFile = '/proc/self/limits'): SpecRlimit[] {
  const text = readFileSync(limitsFile, 'utf8');
  const out: SpecRlimit[] = [];
  for (const line of text.split('\n')) {
    for (const [label, type] of Object.entries(NAMES)) {
      if (!line.startsWith(label)) continue;
      const [soft, hard] = line.slice(label.length).trim().split(/\s+/);
      const h = hard === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(hard);
      const s = soft === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(soft);
      if (!Number.isFinite(h) || !Number.isFinite(s)) continue;
      const limit = Math.min(NOFILE_WANTED, h);
      out.push({ type, hard: limit, soft: limit });
    }
  }
  return out;
}
