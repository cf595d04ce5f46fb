import { setTimeout as sleep } from 'node:timers/promises';
import { StorageUnavailableError } from '../errors.js';

/** How one S3 call is bounded: attempts, backoff between them, and a deadline for each. */
export interface RetryPolicy {
  /** Attempts in total (1 = no retry). */
  readonly attempts: number;
  /** First backoff; it doubles per attempt, with full jitter, up to maxDelay. */
  readonly baseDelay: number;
  readonly maxDelay: number;
  /** Deadline of one attempt until S3 answered (a streamed body is then bounded by idleness). */
  readonly timeout: number;
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ECONNABORTED', 'ERR_STREAM_PREMATURE_CLOSE']);
const RETRYABLE_NAMES = new Set(['SlowDown', 'Throttling', 'ThrottlingException', 'RequestTimeout', 'RequestTimeTooSkewed', 'InternalError', 'ServiceUnavailable', 'TimeoutError', 'RequestTimeoutException']);
/** S3 answers that callers handle themselves (absent object or upload). */
const NOT_FOUND_NAMES = new Set(['NoSuchKey', 'NotFound', 'NoSuchUpload']);

interface S3ErrorShape {
  name?: unknown;
  code?: unknown;
  $metadata?: { httpStatusCode?: unknown };
  $retryable?: unknown;
}

function shape(err: unknown): S3ErrorShape {
  return typeof err === 'object' && err !== null ? err : {};
}

export function isNotFound(err: unknown): boolean {
  const e = shape(err);
  return (typeof e.name === 'string' && NOT_FOUND_NAMES.has(e.name)) || e.$metadata?.httpStatusCode === 404;
}

/** Whether another attempt may succeed: network failures, timeouts, throttling, 5xx. */
export function isRetryable(err: unknown): boolean {
  const e = shape(err);
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (typeof e.name === 'string' && RETRYABLE_NAMES.has(e.name)) return true;
  if (e.$retryable !== undefined) return true;
  const status = e.$metadata?.httpStatusCode;
  if (typeof status === 'number') return status >= 500 || status === 429;
  // No HTTP answer at all (connection refused or cut): a network failure.
  return e.name === 'AbortError' || (err instanceof Error && e.$metadata === undefined && !(err instanceof StorageUnavailableError));
}

function describe(err: unknown): string {
  const e = shape(err);
  const status = e.$metadata?.httpStatusCode;
  const name = typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'Error';
  const message = err instanceof Error ? err.message : String(err);
  return `${name}${typeof status === 'number' ? ` (HTTP ${status})` : ''}: ${message}`.slice(0, 300);
}

/**
 * Runs `call` until it succeeds, fails in a way a retry cannot fix, or the attempts run
 * out. Each attempt gets a signal that fires at its deadline; `cancel` (the caller's
 * signal) ends everything at once. Not-found answers are rethrown as they are; every
 * other failure becomes a StorageUnavailableError naming `operation`.
 */
export async function withRetry<T>(operation: string, policy: RetryPolicy, call: (signal: AbortSignal) => Promise<T>, cancel?: AbortSignal): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    cancel?.throwIfAborted();
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new StorageUnavailableError(operation, `no answer within ${policy.timeout} ms`)), policy.timeout);
    const signal = cancel === undefined ? deadline.signal : AbortSignal.any([deadline.signal, cancel]);
    try {
      return await call(signal);
    } catch (err) {
      if (cancel?.aborted === true) throw cancel.reason;
      if (isNotFound(err)) throw err;
      const timedOut = deadline.signal.aborted;
      if ((!timedOut && !isRetryable(err)) || attempt >= policy.attempts) {
        if (err instanceof StorageUnavailableError) throw err;
        throw new StorageUnavailableError(operation, timedOut ? `no answer within ${policy.timeout} ms` : describe(err), { cause: err });
      }
    } finally {
      clearTimeout(timer);
    }
    const delay = Math.random() * Math.min(policy.maxDelay, policy.baseDelay * 2 ** (attempt - 1));
    await sleep(delay, undefined, cancel !== undefined ? { signal: cancel } : undefined);
  }
}
