import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { S3StoreOptions } from './options.js';

const quiet = (): void => undefined;
const SILENT = { trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet };

/**
 * The SDK client. Retries are ours (withRetry: a part's body is a file stream the SDK
 * could not replay), so the SDK makes one attempt. A connection must open within the
 * attempt deadline and a socket idle that long is cut (a stalled S3 never hangs a
 * request). Checksums only where S3 requires them: S3-compatible servers differ in
 * their support of the newer streaming checksum trailers.
 */
export function createS3Client(options: Pick<S3StoreOptions, 'region' | 'endpoint' | 'forcePathStyle' | 'credentials' | 'retry'>): S3Client {
  // The SDK warns once per process about Node 20; the registry supports Node 20.
  process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
  const agentOptions = { keepAlive: true, maxSockets: 128 };
  return new S3Client({
    region: options.region,
    ...(options.endpoint !== undefined ? { endpoint: options.endpoint } : {}),
    forcePathStyle: options.forcePathStyle,
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    maxAttempts: 1,
    // Failures reach the registry as errors; the SDK's own console warnings are noise.
    logger: SILENT,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: new NodeHttpHandler({
      connectionTimeout: options.retry.timeout,
      requestTimeout: options.retry.timeout,
      httpAgent: new HttpAgent(agentOptions),
      httpsAgent: new HttpsAgent(agentOptions),
    }),
  });
}
