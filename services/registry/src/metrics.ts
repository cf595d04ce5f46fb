import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The registry's Prometheus metrics; one instance per app so tests stay independent. */
export class Metrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: 'berth_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly duration = new Histogram({
    name: 'berth_http_request_duration_seconds',
    help: 'HTTP request latency by method and route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly bytesIn = new Counter({
    name: 'berth_http_received_bytes_total',
    help: 'Bytes received on HTTP connections, headers included',
    registers: [this.registry],
  });
  readonly bytesOut = new Counter({
    name: 'berth_http_sent_bytes_total',
    help: 'Bytes sent on HTTP connections, headers included',
    registers: [this.registry],
  });
  readonly uploadsInFlight = new Gauge({
    name: 'berth_uploads_in_flight',
    help: 'Blob upload requests (POST, PATCH, PUT) currently streaming',
    registers: [this.registry],
  });
  readonly blobsCommitted = new Counter({
    name: 'berth_blobs_committed_total',
    help: 'Blob uploads completed (a blob already stored is not written again)',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'berth_' });
  }
}
