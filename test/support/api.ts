import { createHash } from 'node:crypto';
import { ACCEPT_MANIFESTS } from './images.js';
import type { Registry } from './registry.js';

export interface ManifestResponse {
  readonly status: number;
  readonly contentType: string | null;
  readonly digestHeader: string | null;
  /** sha256 of the body bytes, sha256:<hex> */
  readonly bodyDigest: string;
  readonly body: string;
}

/** GET (or HEAD) /v2/<repo>/manifests/<ref> with every manifest type accepted. */
export async function getManifest(
  registry: Registry,
  repo: string,
  ref: string,
  method: 'GET' | 'HEAD' = 'GET',
): Promise<ManifestResponse> {
  const res = await fetch(`${registry.base}/v2/${repo}/manifests/${ref}`, {
    method,
    headers: { Accept: ACCEPT_MANIFESTS },
    signal: AbortSignal.timeout(10_000),
  });
  const bytes = Buffer.from(await res.arrayBuffer());
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    digestHeader: res.headers.get('docker-content-digest'),
    bodyDigest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    body: bytes.toString('utf8'),
  };
}

/** HEAD /v2/<repo>/blobs/<digest>: status code. */
export async function headBlob(registry: Registry, repo: string, digest: string): Promise<number> {
  const res = await fetch(`${registry.base}/v2/${repo}/blobs/${digest}`, {
    method: 'HEAD',
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  return res.status;
}

/** GET /v2/<repo>/tags/list: the tag names (empty when the repository is unknown). */
export async function listTags(registry: Registry, repo: string): Promise<string[]> {
  const res = await fetch(`${registry.base}/v2/${repo}/tags/list`, { signal: AbortSignal.timeout(10_000) });
  if (res.status === 404) return [];
  const body = (await res.json()) as { tags?: string[] | null };
  return body.tags ?? [];
}
