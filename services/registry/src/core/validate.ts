import { RegistryError, isValidRepositoryName, isValidTag, parseDigest, type ParsedDigest } from '@berth/oci';
import type { ManifestReference } from '@berth/metadata';

/** Input checks shared by the routes: each returns the clean value or throws the OCI error. */
export function checkName(name: string): string {
  if (!isValidRepositoryName(name)) throw new RegistryError('NAME_INVALID', 'invalid repository name', { name: name.slice(0, 300) });
  return name;
}

export function checkDigest(value: string | undefined): ParsedDigest {
  if (value === undefined || value === '') throw new RegistryError('DIGEST_INVALID', 'a digest is required');
  const parsed = parseDigest(value);
  if (parsed === 'unsupported') throw new RegistryError('DIGEST_INVALID', 'unsupported digest algorithm (use sha256 or sha512)', { digest: value.slice(0, 200) });
  if (parsed === 'invalid') throw new RegistryError('DIGEST_INVALID', 'invalid digest', { digest: value.slice(0, 200) });
  return parsed;
}

/** A manifest reference is a tag or a digest; anything else is refused. */
export function checkReference(reference: string): ManifestReference {
  if (reference.includes(':')) return { digest: checkDigest(reference).digest };
  if (!isValidTag(reference)) throw new RegistryError('TAG_INVALID', 'invalid tag', { tag: reference.slice(0, 200) });
  return { tag: reference };
}

/** The single string value of a query parameter, refusing repeated values. */
export function queryString(query: unknown, key: string): string | undefined {
  if (typeof query !== 'object' || query === null) return undefined;
  const v = (query as Record<string, unknown>)[key];
  if (v === undefined) return undefined;
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v[0];
  return undefined;
}
