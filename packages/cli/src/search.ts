import type { RegistryClient } from '@berth/client';
import type { Io } from './commands.js';
import { table, type OutputFormat } from './output.js';

/** Catalog pages asked for at once, and the most read per search (bounded work). */
const PAGE = 100;
const MAX_PAGES = 100;

/** `[REGISTRY/]TERM` split: the registry is required (there is no global index to search). */
export function parseSearchTerm(input: string): { registry: string; term: string } {
  const slash = input.indexOf('/');
  const host = slash === -1 ? '' : input.slice(0, slash);
  if (slash === -1 || !(host.includes('.') || host.includes(':') || host === 'localhost')) {
    throw new Error(`name the registry to search, e.g. "berth search registry.example.com/${input.slice(0, 100)}" (Docker Hub's search is not supported)`);
  }
  return { registry: host, term: input.slice(slash + 1).toLowerCase() };
}

/**
 * `berth search REGISTRY/TERM`: repositories of the registry's catalog whose name contains
 * TERM (case-insensitive), in catalog order, at most `limit`. Reads at most
 * MAX_PAGES × PAGE catalog entries; with auth, the catalog shows what the user may pull.
 */
export async function search(client: RegistryClient, io: Io, term: string, opts: { limit: number; format: OutputFormat }): Promise<void> {
  const found: string[] = [];
  let last: string | undefined;
  for (let page = 0; page < MAX_PAGES && found.length < opts.limit; page++) {
    const { repositories, next } = await client.catalog(PAGE, last);
    for (const repo of repositories) if (found.length < opts.limit && repo.toLowerCase().includes(term)) found.push(repo);
    if (next === undefined) break;
    last = next;
  }
  const names = found.map((r) => `${client.registry}/${r}`);
  if (opts.format === 'json') {
    for (const name of names) io.out(`${JSON.stringify({ Name: name })}\n`);
    return;
  }
  io.out(table(['NAME'], names.map((n) => [n])));
}
