import type { ErrorRequestHandler } from 'express';
import { RegistryError, errorBody } from '@berth/oci';
import { StorageUnavailableError } from '@berth/storage';
import { storageUnavailable } from '../core/storage-errors.js';
import type { Logger } from '../logger.js';

/**
 * The one place errors become responses. A RegistryError gets its table row; a full
 * disk becomes 503; anything else is a fault of ours: logged with its stack, answered
 * as a bare UNKNOWN without details. A response already streaming, or whose client is
 * gone, is cut off without a word.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    if (res.headersSent || res.destroyed) {
      // Too late for an error response: the body is under way, or the client is gone.
      logger.debug('response aborted', { requestId: res.locals['requestId'], error: String(err) });
      res.destroy();
      return;
    }
    const error = toRegistryError(err, logger, res.locals['requestId']);
    // A body we did not read would otherwise be drained; close the connection instead.
    if (!req.complete) res.setHeader('Connection', 'close');
    for (const [k, v] of Object.entries(error.headers)) res.setHeader(k, v);
    const body = JSON.stringify(errorBody(error));
    res.status(error.entry.status);
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(body));
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

function toRegistryError(err: unknown, logger: Logger, requestId: unknown): RegistryError {
  if (err instanceof RegistryError) return err;
  if (err instanceof StorageUnavailableError) {
    logger.warn('blob storage unavailable', { requestId, error: err.message });
    return storageUnavailable();
  }
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    logger.error('storage full', { requestId, code });
    return new RegistryError('UNAVAILABLE', 'the registry is out of storage space', undefined, { 'Retry-After': '60' });
  }
  if (code === 'SQLITE_BUSY') {
    return new RegistryError('UNAVAILABLE', 'the registry is busy; retry', undefined, { 'Retry-After': '1' });
  }
  // express's own errors for malformed requests carry a 4xx status.
  const status = typeof err === 'object' && err !== null ? (err as { status?: unknown }).status : undefined;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new RegistryError('UNSUPPORTED', 'malformed request');
  }
  logger.error('internal error', { requestId, error: err instanceof Error ? err.stack : String(err) });
  return new RegistryError('UNKNOWN', 'internal error');
}
