/**
 * Maps a /v2 path to an endpoint. Repository names contain slashes, so the endpoint is
 * recognised by its suffix; the name is whatever precedes it (validated later, so a bad
 * name gets NAME_INVALID rather than a 404).
 */
export type Endpoint =
  | { kind: 'base' }
  | { kind: 'catalog' }
  | { kind: 'manifest'; name: string; reference: string }
  | { kind: 'blob'; name: string; digest: string }
  | { kind: 'upload-start'; name: string }
  | { kind: 'upload'; name: string; id: string }
  | { kind: 'tags'; name: string }
  | { kind: 'referrers'; name: string; digest: string };

export type EndpointKind = Endpoint['kind'];

const UPLOAD_START = /^\/v2\/(.+)\/blobs\/uploads\/?$/;
const UPLOAD = /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/;
const TAGS = /^\/v2\/(.+)\/tags\/list$/;
const BY_REF = /^\/v2\/(.+)\/(manifests|blobs|referrers)\/([^/]+)$/;

export function matchEndpoint(path: string): Endpoint | undefined {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  if (path === '/v2/_catalog') return { kind: 'catalog' };
  let m = UPLOAD_START.exec(path);
  if (m !== null) return { kind: 'upload-start', name: m[1] as string };
  m = UPLOAD.exec(path);
  if (m !== null) return { kind: 'upload', name: m[1] as string, id: decode(m[2] as string) };
  m = TAGS.exec(path);
  if (m !== null) return { kind: 'tags', name: m[1] as string };
  m = BY_REF.exec(path);
  if (m === null) return undefined;
  const name = m[1] as string;
  const last = decode(m[3] as string);
  switch (m[2]) {
    case 'manifests':
      return { kind: 'manifest', name, reference: last };
    case 'blobs':
      return { kind: 'blob', name, digest: last };
    default:
      return { kind: 'referrers', name, digest: last };
  }
}

/** Methods each endpoint answers; anything else is a 405 with this list in `Allow`. */
export const METHODS: Readonly<Record<EndpointKind, readonly string[]>> = {
  base: ['GET', 'HEAD'],
  catalog: ['GET'],
  manifest: ['GET', 'HEAD', 'PUT', 'DELETE'],
  blob: ['GET', 'HEAD', 'DELETE'],
  'upload-start': ['POST'],
  upload: ['GET', 'PATCH', 'PUT', 'DELETE'],
  tags: ['GET'],
  referrers: ['GET'],
};

function decode(segment: string): string {
  if (!segment.includes('%')) return segment;
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
