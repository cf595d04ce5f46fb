/** The tar stream is malformed (bad checksum, truncated, oversized or unsupported header). */
export class InvalidTarError extends Error {
  override readonly name = 'InvalidTarError';
}

/** An entry the unpacker refuses: it would write outside the layer or is not representable. */
export class UnsafeLayerError extends Error {
  override readonly name = 'UnsafeLayerError';
}

/** The uncompressed layer did not hash to the diff_id the image config names. */
export class DiffIdMismatchError extends Error {
  override readonly name = 'DiffIdMismatchError';
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`layer content ${actual} does not match diff_id ${expected}; refused`);
  }
}
