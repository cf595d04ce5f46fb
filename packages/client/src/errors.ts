/**
 * What can go wrong talking to a registry, as kinds; `message` is one line fit for a user.
 * `retryable` marks transient failures (network errors, 5xx, 429) that a retry may fix.
 */
export type RegistryErrorKind =
  | 'unreachable'
  | 'unauthorized'
  | 'denied'
  | 'not-found'
  | 'digest-mismatch'
  | 'platform'
  | 'protocol'
  | 'server';

export class RegistryError extends Error {
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    readonly retryable = false,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** Socket-level failures worth another attempt (Node's codes; http.ts times out idle sockets with ETIMEDOUT). */
const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ERR_STREAM_PREMATURE_CLOSE']);

export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== undefined && cause !== err ? errorCode(cause) : undefined;
}

export function isRetryable(err: unknown): boolean {
  if (err instanceof RegistryError) return err.retryable;
  if (typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError') return false;
  const code = errorCode(err);
  return code !== undefined && TRANSIENT_CODES.has(code);
}

export function describe(err: unknown): string {
  if (err instanceof Error) {
    const code = errorCode(err);
    return code !== undefined && !err.message.includes(code) ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}
