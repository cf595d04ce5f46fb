/** The tar stream is malformed (bad checksum, truncated, oversized or unsupported header). */
export class InvalidTarError extends Error {
  override readonly name = 'InvalidTarError';
}
