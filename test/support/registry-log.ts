import { readFileSync } from 'node:fs';
import type { Registry } from './registry.js';

/** One request as the registry logged it. */
export interface LoggedRequest {
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly line: string;
}

function record(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Requests from the registry's JSON log: Berth's `{"msg":"request","method","path","status"}`
 * lines or Distribution's `http.request.method` / `http.response.status` fields.
 */
export function loggedRequests(registry: Registry): LoggedRequest[] {
  const out: LoggedRequest[] = [];
  for (const line of readFileSync(registry.logFile, 'utf8').split('\n')) {
    const r = record(line);
    if (r === undefined) continue;
    const status = r['status'] ?? r['http.response.status'];
    const method = r['method'] ?? r['http.request.method'];
    const path = r['path'] ?? r['http.request.uri'];
    if (typeof status === 'number' && typeof method === 'string' && typeof path === 'string') {
      out.push({ method, path, status, line });
    }
  }
  return out;
}

/** Log lines at level error (or worse) that are not plain request lines. */
export function loggedErrors(registry: Registry): string[] {
  return readFileSync(registry.logFile, 'utf8')
    .split('\n')
    .filter((line) => {
      const r = record(line);
      if (r === undefined) return /\b(panic|uncaught|unhandled)\b/i.test(line);
      // a request line (Distribution logs every 4xx at level error) is judged by its status
      if (typeof (r['status'] ?? r['http.response.status']) === 'number') return false;
      const level = r['level'];
      return typeof level === 'string' && ['error', 'fatal', 'panic'].includes(level.toLowerCase());
    });
}

/** Fails with the offending lines if any request got a 5xx or the server logged an error. */
export function serverProblems(registry: Registry): string[] {
  return [
    ...loggedRequests(registry)
      .filter((r) => r.status >= 500)
      .map((r) => `${r.status} ${r.method} ${r.path}: ${r.line}`),
    ...loggedErrors(registry),
  ];
}
