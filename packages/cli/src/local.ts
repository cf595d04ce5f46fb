import { formatReference, InvalidReferenceError, parseReference, type ImageReference } from '@berth/oci';
import { AmbiguousImageError, ImageNotFoundError, type ImageRow, type LocalStore, type NameRow } from '@berth/store';

/** The key images are stored under: registry/repository, e.g. 127.0.0.1:5000/team/app. */
export function repositoryKey(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** Splits a stored repository key back into a reference. */
export function referenceOf(name: NameRow): ImageReference {
  return parseReference(name.tag !== '' ? `${name.repository}:${name.tag}` : name.repository);
}

export interface LocalImage {
  readonly image: ImageRow;
  /** The name it was found by (absent when found by id). */
  readonly name: NameRow | undefined;
}

const ID_RE = /^(?:sha256:)?([a-f0-9]{4,64})$/;

/**
 * Finds a local image as docker does: by name[:tag] or name@digest first, then by image
 * id (config digest) or manifest digest, or a unique prefix of either.
 */
export function findLocal(store: LocalStore, input: string): LocalImage {
  let ref: ImageReference | undefined;
  let refError: unknown;
  try {
    ref = parseReference(input);
  } catch (err) {
    refError = err;
  }
  if (ref !== undefined) {
    const repo = repositoryKey(ref);
    if (ref.digest !== undefined) {
      const name = store.names().find((n) => n.repository === repo && (n.imageDigest === ref.digest || n.indexDigest === ref.digest));
      const image = name !== undefined ? store.getImage(name.imageDigest) : undefined;
      if (name !== undefined && image !== undefined) return { image, name };
    } else {
      const name = store.getName(repo, ref.tag ?? 'latest');
      const image = name !== undefined ? store.getImage(name.imageDigest) : undefined;
      if (name !== undefined && image !== undefined) return { image, name };
    }
  }
  const id = ID_RE.exec(input);
  if (id !== null) {
    const hex = id[1] ?? '';
    const matches = store.images().filter((i) => i.configDigest.slice(7).startsWith(hex) || i.digest.slice(7).startsWith(hex));
    const distinct = new Set(matches.map((m) => m.configDigest));
    if (distinct.size > 1) throw new AmbiguousImageError(input);
    const image = matches[0];
    if (image !== undefined) return { image, name: undefined };
  }
  if (ref === undefined && refError instanceof InvalidReferenceError) throw refError;
  throw new ImageNotFoundError(ref !== undefined ? formatReference(ref) : input);
}
