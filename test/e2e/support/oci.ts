import assert from 'node:assert/strict';
import type { Readable } from 'node:stream';
import { request, type Response } from './http.js';
import type { Registry } from './registry.js';

/** Distribution-spec upload helpers against a started registry. */

/** An absolute URL for a Location header (which may be relative). */
export function absolute(reg: Registry, location: string): string {
  return new URL(location, reg.url).toString();
}

/** POST /v2/<repo>/blobs/uploads/ → 202; returns the absolute upload URL. */
export async function startUpload(reg: Registry, repo: string): Promise<string> {
  const res = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/`, reg.requestOptions);
  assert.equal(res.status, 202, `POST upload: ${res.status} ${res.body.toString()}`);
  const location = res.header('location');
  assert.notEqual(location, '', 'POST upload: Location header');
  return absolute(reg, location);
}

/** The upload id (last path segment) of an upload URL. */
export function uploadId(uploadUrl: string): string {
  return new URL(uploadUrl).pathname.split('/').pop() ?? '';
}

/** PATCH one chunk at `start` with Content-Range and Content-Length; expects 202. */
export async function patchChunk(reg: Registry, uploadUrl: string, start: number, length: number, body: Buffer | Readable): Promise<Response> {
  const res = await request('PATCH', uploadUrl, {
    ...reg.requestOptions,
    headers: {
      'Content-Type': 'application/octet-stream',
      'Content-Length': length,
      'Content-Range': `${start}-${start + length - 1}`,
    },
    body,
  });
  assert.equal(res.status, 202, `PATCH ${start}-${start + length - 1}: ${res.status} ${res.body.toString()}`);
  assert.equal(res.header('range'), `0-${start + length - 1}`, 'PATCH response Range');
  return res;
}

/** Appends `?digest=` (or `&digest=`) to an upload URL. */
export function withDigest(uploadUrl: string, digest: string): string {
  const u = new URL(uploadUrl);
  u.searchParams.append('digest', digest);
  return u.toString();
}

/** Monolithic POST /v2/<repo>/blobs/uploads/?digest= → 201. */
export async function pushBlob(reg: Registry, repo: string, data: Buffer, digest: string): Promise<Response> {
  const res = await request('POST', `${reg.url}/v2/${repo}/blobs/uploads/?digest=${encodeURIComponent(digest)}`, {
    ...reg.requestOptions,
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': data.length },
    body: data,
  });
  assert.equal(res.status, 201, `monolithic POST: ${res.status} ${res.body.toString()}`);
  assert.equal(res.header('docker-content-digest'), digest);
  return res;
}

/** The `errors[].code` values of an OCI error body. */
export function errorCodes(res: Response): string[] {
  try {
    const body = res.json() as { errors?: Array<{ code?: unknown }> };
    return (body.errors ?? []).map((e) => String(e.code));
  } catch {
    return [];
  }
}
