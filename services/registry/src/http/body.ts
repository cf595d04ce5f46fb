import type { IncomingMessage } from 'node:http';
import { RegistryError } from '@berth/oci';

/** Reads a request body of at most `limit` bytes (manifests); larger is MANIFEST_TOO_LARGE. */
export async function readBoundedBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    throw new RegistryError('MANIFEST_TOO_LARGE', `manifest exceeds the limit of ${limit} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) throw new RegistryError('MANIFEST_TOO_LARGE', `manifest exceeds the limit of ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

/** True when the request carries a body (a length above zero, or chunked encoding). */
export function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  if (len !== undefined) return Number(len) > 0;
  return req.headers['transfer-encoding'] !== undefined;
}
