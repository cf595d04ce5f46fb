import type { Hash } from 'node:crypto';

/**
 * Content digests as the OCI image-spec defines them: `algorithm:encoded`.
 * Only the registered algorithms sha256 and sha512 are accepted; anything else is
 * rejected before it can reach a path, a key or a query.
 */
export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  readonly algorithm: DigestAlgorithm;
  readonly hex: string;
  /** The canonical `algorithm:hex` string. */
  readonly digest: string;
}

const HEX_LENGTH: Readonly<Record<DigestAlgorithm, number>> = { sha256: 64, sha512: 128 };
const DIGEST_RE = /^(sha256|sha512):([a-f0-9]+)$/;
/** The image-spec grammar, used to tell "unsupported algorithm" from "garbage". */
const GRAMMAR_RE = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

export type DigestProblem = 'invalid' | 'unsupported';

/** Parses a digest; returns the problem instead of throwing so callers pick the error. */
export function parseDigest(value: string): ParsedDigest | DigestProblem {
  const m = DIGEST_RE.exec(value);
  if (m === null) {
    // A registered algorithm with a malformed encoding is invalid, not unsupported.
    if (value.startsWith('sha256:') || value.startsWith('sha512:')) return 'invalid';
    return GRAMMAR_RE.test(value) && value.length <= 256 ? 'unsupported' : 'invalid';
  }
  const algorithm = m[1] as DigestAlgorithm;
  const hex = m[2] as string;
  if (hex.length !== HEX_LENGTH[algorithm]) return 'invalid';
  return { algorithm, hex, digest: value };
}

export function isDigest(value: string): boolean {
  return typeof parseDigest(value) === 'object';
}

export function createDigester(algorithm: DigestAlgorithm): Hash {
  return process.getBuiltinModule('node:crypto').createHash(algorithm);
}

/** Digest of an in-memory buffer (manifests only: they are size-bounded). */
export function digestOf(data: Uint8Array, algorithm: DigestAlgorithm = 'sha256'): string {
  return `${algorithm}:${process.getBuiltinModule('node:crypto').createHash(algorithm).update(data).digest('hex')}`;
}
