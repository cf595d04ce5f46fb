import { parseDigest } from './digest.js';
import { MAX_NAME_LENGTH, NAME_PATTERN, TAG_PATTERN } from './names.js';

/**
 * Image references as docker parses them:
 *   [registry[:port]/]repository[:tag][@digest]
 * A first path component is a registry when it contains "." or ":" or is "localhost";
 * otherwise the registry is docker.io, and a one-component repository there gets the
 * "library/" prefix. Without tag or digest the tag is "latest".
 */
export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';

export interface ImageReference {
  /** Registry host, with the port when one was given, e.g. "127.0.0.1:5000". */
  readonly registry: string;
  readonly repository: string;
  /** The tag; undefined when only a digest was given. */
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export class InvalidReferenceError extends Error {
  constructor(readonly reference: string, reason: string) {
    super(`invalid reference "${reference.slice(0, 300)}": ${reason}`);
    this.name = 'InvalidReferenceError';
  }
}

const HOST_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const NAME_RE = new RegExp(`^${NAME_PATTERN}$`);
const TAG_RE = new RegExp(`^${TAG_PATTERN}$`);

/** Splits off the registry as docker does (distribution/reference's splitDockerDomain). */
function splitDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  const first = name.slice(0, Math.max(slash, 0));
  const isDomain = slash !== -1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first);
  if (!isDomain) return [DEFAULT_REGISTRY, slash === -1 ? `library/${name}` : name];
  const domain = first === 'index.docker.io' ? DEFAULT_REGISTRY : first;
  const rest = name.slice(slash + 1);
  return [domain, domain === DEFAULT_REGISTRY && !rest.includes('/') ? `library/${rest}` : rest];
}

export function parseReference(input: string): ImageReference {
  if (input.length === 0) throw new InvalidReferenceError(input, 'empty');
  if (input.length > 1024) throw new InvalidReferenceError(input, 'too long');
  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (typeof parseDigest(digest) !== 'object') throw new InvalidReferenceError(input, 'invalid digest');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw new InvalidReferenceError(input, 'invalid tag');
  }
  const [registry, repository] = splitDomain(rest);
  if (!DOMAIN_RE.test(registry)) throw new InvalidReferenceError(input, 'invalid registry host');
  if (repository !== repository.toLowerCase()) throw new InvalidReferenceError(input, 'repository name must be lowercase');
  if (!NAME_RE.test(repository)) throw new InvalidReferenceError(input, 'invalid repository name');
  if (repository.length > MAX_NAME_LENGTH) throw new InvalidReferenceError(input, 'repository name too long');
  return { registry, repository, tag: tag ?? (digest === undefined ? DEFAULT_TAG : undefined), digest };
}

/** The canonical form: registry/repository[:tag][@digest]. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}
