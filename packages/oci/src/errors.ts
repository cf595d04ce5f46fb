/**
 * The one table from an error kind to the OCI error code, HTTP status and message.
 * Core code throws `RegistryError(kind)`; only the HTTP edge reads `status`.
 * The codes are those of the OCI distribution-spec, plus Distribution's RANGE_INVALID,
 * PAGINATION_NUMBER_INVALID, UNAVAILABLE and UNKNOWN that docker clients know.
 */
export type ErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'TAG_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS'
  | 'RANGE_INVALID'
  | 'PAGINATION_NUMBER_INVALID'
  | 'UNAVAILABLE'
  | 'UNKNOWN';

export type ErrorKind =
  | ErrorCode
  | 'MANIFEST_TOO_LARGE'
  | 'BLOB_RANGE_NOT_SATISFIABLE'
  | 'METHOD_NOT_ALLOWED'
  | 'ROUTE_UNKNOWN'
  | 'DELETE_DISABLED'
  | 'STORAGE_UNAVAILABLE';

export interface ErrorEntry {
  readonly code: ErrorCode;
  readonly status: number;
  readonly message: string;
}

const entry = (code: ErrorCode, status: number, message: string): ErrorEntry => ({ code, status, message });

/** Typed as a full record: a kind without an entry does not compile. */
export const ERROR_TABLE: Readonly<Record<ErrorKind, ErrorEntry>> = {
  BLOB_UNKNOWN: entry('BLOB_UNKNOWN', 404, 'blob unknown to registry'),
  BLOB_UPLOAD_INVALID: entry('BLOB_UPLOAD_INVALID', 400, 'blob upload invalid'),
  BLOB_UPLOAD_UNKNOWN: entry('BLOB_UPLOAD_UNKNOWN', 404, 'blob upload unknown to registry'),
  DIGEST_INVALID: entry('DIGEST_INVALID', 400, 'provided digest did not match uploaded content'),
  MANIFEST_BLOB_UNKNOWN: entry('MANIFEST_BLOB_UNKNOWN', 400, 'manifest references a manifest or blob unknown to registry'),
  MANIFEST_INVALID: entry('MANIFEST_INVALID', 400, 'manifest invalid'),
  MANIFEST_UNKNOWN: entry('MANIFEST_UNKNOWN', 404, 'manifest unknown to registry'),
  NAME_INVALID: entry('NAME_INVALID', 400, 'invalid repository name'),
  NAME_UNKNOWN: entry('NAME_UNKNOWN', 404, 'repository name not known to registry'),
  SIZE_INVALID: entry('SIZE_INVALID', 400, 'provided length did not match content length'),
  TAG_INVALID: entry('TAG_INVALID', 400, 'manifest tag did not match URI'),
  UNAUTHORIZED: entry('UNAUTHORIZED', 401, 'authentication required'),
  DENIED: entry('DENIED', 403, 'requested access to the resource is denied'),
  UNSUPPORTED: entry('UNSUPPORTED', 400, 'the operation is unsupported'),
  TOOMANYREQUESTS: entry('TOOMANYREQUESTS', 429, 'too many requests'),
  RANGE_INVALID: entry('RANGE_INVALID', 416, 'invalid content range'),
  PAGINATION_NUMBER_INVALID: entry('PAGINATION_NUMBER_INVALID', 400, 'invalid number of results requested'),
  UNAVAILABLE: entry('UNAVAILABLE', 503, 'service unavailable'),
  UNKNOWN: entry('UNKNOWN', 500, 'unknown error'),
  MANIFEST_TOO_LARGE: entry('SIZE_INVALID', 413, 'manifest exceeds the size limit'),
  BLOB_RANGE_NOT_SATISFIABLE: entry('RANGE_INVALID', 416, 'requested range not satisfiable'),
  METHOD_NOT_ALLOWED: entry('UNSUPPORTED', 405, 'method not allowed on this endpoint'),
  ROUTE_UNKNOWN: entry('UNSUPPORTED', 404, 'no such endpoint'),
  DELETE_DISABLED: entry('UNSUPPORTED', 405, 'deletes are disabled on this registry'),
  STORAGE_UNAVAILABLE: entry('UNAVAILABLE', 503, 'blob storage is unavailable; retry later'),
};

/** An error a client caused or must be told about; `kind` picks the table row. */
export class RegistryError extends Error {
  readonly kind: ErrorKind;
  readonly detail: unknown;
  /** Headers the response must carry, e.g. `Range` on a 416 upload chunk. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(kind: ErrorKind, message?: string, detail?: unknown, headers: Record<string, string> = {}) {
    super(message ?? ERROR_TABLE[kind].message);
    this.name = 'RegistryError';
    this.kind = kind;
    this.detail = detail;
    this.headers = headers;
  }

  get entry(): ErrorEntry {
    return ERROR_TABLE[this.kind];
  }
}

/** The distribution-spec error body. */
export function errorBody(err: RegistryError): { errors: { code: ErrorCode; message: string; detail?: unknown }[] } {
  const e: { code: ErrorCode; message: string; detail?: unknown } = { code: err.entry.code, message: err.message };
  if (err.detail !== undefined) e.detail = err.detail;
  return { errors: [e] };
}
