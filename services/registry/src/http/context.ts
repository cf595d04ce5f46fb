import { randomUUID } from 'node:crypto';
import type { RequestHandler } from 'express';
import type { Logger } from '../logger.js';
import type { Metrics } from '../metrics.js';

const CLIENT_ID_RE = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * Per request: an id (the client's X-Request-Id when sane, else a new one), and on close
 * one JSON log line and the metrics. Only method, path, status, sizes and timing are
 * logged: never headers, so credentials stay out of logs.
 */
export function requestContext(logger: Logger, metrics: Metrics | undefined, logRequests: boolean): RequestHandler {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    const header = req.headers['x-request-id'];
    const id = typeof header === 'string' && CLIENT_ID_RE.test(header) ? header : randomUUID();
    res.locals['requestId'] = id;
    res.setHeader('X-Request-Id', id);
    const socket = req.socket;
    const readAtStart = socket.bytesRead;
    const writtenAtStart = socket.bytesWritten;
    res.once('close', () => {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const route = (res.locals['route'] as string | undefined) ?? 'other';
      // Ended by us = answered in full; a client may close before 'finish' fires.
      const status = res.writableEnded ? res.statusCode : 499;
      const bytesIn = socket.bytesRead - readAtStart;
      const bytesOut = socket.bytesWritten - writtenAtStart;
      if (metrics !== undefined) {
        metrics.requests.inc({ method: req.method, route, status });
        metrics.duration.observe({ method: req.method, route }, seconds);
        metrics.bytesIn.inc(bytesIn);
        metrics.bytesOut.inc(bytesOut);
      }
      if (logRequests) {
        logger.info('request', {
          requestId: id,
          method: req.method,
          path: req.path.slice(0, 512),
          route,
          status,
          ms: Math.round(seconds * 1e4) / 10,
          bytesIn,
          bytesOut,
          remote: socket.remoteAddress,
        });
      }
    });
    next();
  };
}
