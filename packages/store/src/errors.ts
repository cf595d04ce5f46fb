/** Error kinds of the local store; the CLI turns each into one line. */
export class ImageNotFoundError extends Error {
  constructor(readonly reference: string) {
    super(`image not known locally: ${reference}`);
    this.name = 'ImageNotFoundError';
  }
}

export class DigestMismatchError extends Error {
  constructor(
    readonly digest: string,
    readonly actualDigest: string,
    readonly actualSize: number,
    readonly expectedSize: number,
  ) {
    super(
      actualSize !== expectedSize
        ? `blob ${digest}: expected ${expectedSize} bytes, got ${actualSize}; refused`
        : `blob ${digest}: content has digest ${actualDigest}; refused`,
    );
    this.name = 'DigestMismatchError';
  }
}

export class AmbiguousImageError extends Error {
  constructor(readonly reference: string) {
    super(`image id prefix "${reference}" matches more than one image`);
    this.name = 'AmbiguousImageError';
  }
}
