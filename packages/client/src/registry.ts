import type { Readable } from 'node:stream';
import { baseMediaType, digestOf, MANIFEST_MEDIA_TYPES, parseDigest } from '@berth/oci';
import { RegistryError } from './errors.js';
import { firstHeader, registryMessage, Transport, type Response, type TransportOptions } from './transport.js';

/** Every manifest type we can pull, for Accept. */
export const ACCEPT_MANIFESTS = [...MANIFEST_MEDIA_TYPES].join(', ');
/** Largest manifest we read (as the registry's limits.manifestsize). */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export interface FetchedManifest {
  readonly digest: string;
  readonly mediaType: string;
  readonly bytes: Buffer;
}

const pull = (repo: string): string[] => [`repository:${repo}:pull`];
const push = (repo: string): string[] => [`repository:${repo}:pull,push`];

/** The distribution API operations the pull and push flows use, on one registry. */
export class RegistryClient {
  readonly transport: Transport;

  constructor(options: TransportOptions) {
    this.transport = new Transport(options);
  }

  get registry(): string {
    return this.transport.options.registry;
  }

  /**
   * The version check with credentials: resolves when the registry accepts them (or needs
   * none), throws RegistryError 'unauthorized' when it refuses them.
   */
  async checkLogin(signal?: AbortSignal): Promise<void> {
    const res = await this.transport.send({ method: 'GET', path: '/v2/', scopes: [], signal });
    if (res.status !== 200) throw await this.failure(res, 'version check');
    await res.body.dump();
  }

  /** Fetches a manifest by tag or digest and checks its bytes against the digest. */
  async getManifest(repo: string, reference: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const res = await this.transport.send({ method: 'GET', path: `/v2/${repo}/manifests/${reference}`, scopes: pull(repo), headers: { accept: ACCEPT_MANIFESTS }, signal });
    if (res.status !== 200) throw await this.failure(res, `manifest ${repo}:${reference}`);
    const declared = Number(firstHeader(res.headers['content-length']) ?? '0');
    if (declared > MAX_MANIFEST_BYTES) {
      await res.body.dump();
      throw new RegistryError('protocol', `${this.registry}: manifest ${repo}:${reference} is larger than ${MAX_MANIFEST_BYTES} bytes`);
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_MANIFEST_BYTES) {
        res.body.destroy();
        throw new RegistryError('protocol', `${this.registry}: manifest ${repo}:${reference} is larger than ${MAX_MANIFEST_BYTES} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    const bytes = Buffer.concat(chunks);
    const expected = parseDigest(reference);
    const header = firstHeader(res.headers['docker-content-digest']);
    const want = typeof expected === 'object' ? expected.digest : header !== undefined && typeof parseDigest(header) === 'object' ? header : undefined;
    const algorithm = want?.startsWith('sha512:') === true ? 'sha512' : 'sha256';
    const actual = digestOf(bytes, algorithm);
    if (want !== undefined && actual !== want) {
      throw new RegistryError('digest-mismatch', `manifest ${want}: content has digest ${actual}; refused`);
    }
    let mediaType = baseMediaType(firstHeader(res.headers['content-type']));
    if (!MANIFEST_MEDIA_TYPES.has(mediaType)) {
      const field = mediaTypeField(bytes);
      if (field === undefined || !MANIFEST_MEDIA_TYPES.has(field)) {
        throw new RegistryError('protocol', `${this.registry}: ${repo}:${reference} has unsupported manifest type "${field ?? mediaType}"`);
      }
      mediaType = field;
    }
    return { digest: want ?? digestOf(bytes), mediaType, bytes };
  }

  /** GET of a blob, from `offset` on (Range) when it is not 0: 200 or 206, body unread. */
  async getBlob(repo: string, digest: string, offset: number, signal?: AbortSignal): Promise<Response> {
    const res = await this.transport.send({
      method: 'GET',
      path: `/v2/${repo}/blobs/${digest}`,
      scopes: pull(repo),
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      signal,
    });
    if (res.status === 200 || (res.status === 206 && offset > 0)) return res;
    throw await this.failure(res, `blob ${digest}`);
  }

  async blobExists(repo: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    const res = await this.transport.send({ method: 'HEAD', path: `/v2/${repo}/blobs/${digest}`, scopes: push(repo), signal });
    await res.body.dump();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await this.failure(res, `blob ${digest}`);
  }

  /**
   * Opens an upload session, or mounts the blob from `mountFrom` (true: done). Returns the
   * session's Location otherwise.
   */
  async startUpload(repo: string, digest: string, mountFrom: string | undefined, signal?: AbortSignal): Promise<{ mounted: true } | { mounted: false; location: string }> {
    const query = mountFrom !== undefined ? `?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(mountFrom)}` : '';
    const scopes = mountFrom !== undefined ? [...push(repo), `repository:${mountFrom}:pull`] : push(repo);
    const res = await this.transport.send({ method: 'POST', path: `/v2/${repo}/blobs/uploads/${query}`, scopes, headers: { 'content-length': '0' }, signal });
    if (res.status === 201 && mountFrom !== undefined) {
      await res.body.dump();
      return { mounted: true };
    }
    if (res.status !== 202) throw await this.failure(res, `upload to ${repo}`);
    await res.body.dump();
    return { mounted: false, location: this.location(res) };
  }

  /** PATCH one chunk at `offset`; returns the next Location. */
  async uploadChunk(repo: string, location: string, offset: number, size: number, body: () => Readable, signal?: AbortSignal): Promise<string> {
    const res = await this.transport.send({
      method: 'PATCH',
      path: location,
      scopes: push(repo),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size), 'content-range': `${offset}-${offset + size - 1}` },
      body,
      replayable: false,
      signal,
    });
    if (res.status !== 202) throw await this.failure(res, `upload to ${repo}`);
    await res.body.dump();
    return this.location(res);
  }

  /** PUT ?digest= closing the session, with the whole blob as body when given. */
  async finishUpload(repo: string, location: string, digest: string, size: number, body: (() => Readable) | undefined, signal?: AbortSignal): Promise<void> {
    const url = new URL(location, this.transport.base);
    url.searchParams.set('digest', digest);
    const res = await this.transport.send({
      method: 'PUT',
      path: url.toString(),
      scopes: push(repo),
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(body === undefined ? 0 : size) },
      ...(body !== undefined ? { body, replayable: false } : {}),
      signal,
    });
    if (res.status !== 201) throw await this.failure(res, `blob ${digest}`);
    await res.body.dump();
  }

  async putManifest(repo: string, reference: string, mediaType: string, bytes: Buffer, signal?: AbortSignal): Promise<string> {
    const res = await this.transport.send({
      method: 'PUT',
      path: `/v2/${repo}/manifests/${reference}`,
      scopes: push(repo),
      headers: { 'content-type': mediaType },
      body: () => bytes,
      signal,
    });
    if (res.status !== 201) throw await this.failure(res, `manifest ${repo}:${reference}`);
    await res.body.dump();
    const digest = digestOf(bytes);
    const header = firstHeader(res.headers['docker-content-digest']);
    if (header !== undefined && header !== digest) {
      throw new RegistryError('protocol', `${this.registry}: registry stored manifest ${repo}:${reference} as ${header}, expected ${digest}`);
    }
    return digest;
  }

  /**
   * One page of the catalog: at most `n` names after `last`, and the `last` of the next
   * page when the registry's Link header announces one.
   */
  async catalog(n: number, last: string | undefined, signal?: AbortSignal): Promise<{ repositories: string[]; next: string | undefined }> {
    const query = new URLSearchParams({ n: String(n), ...(last !== undefined ? { last } : {}) });
    const res = await this.transport.send({ method: 'GET', path: `/v2/_catalog?${query.toString()}`, scopes: ['registry:catalog:*'], signal });
    if (res.status !== 200) throw await this.failure(res, 'catalog');
    const text = await res.body.text();
    if (text.length > MAX_MANIFEST_BYTES) throw new RegistryError('protocol', `${this.registry}: catalog page is too large`);
    let repositories: unknown;
    try {
      repositories = (JSON.parse(text) as { repositories?: unknown }).repositories;
    } catch {
      throw new RegistryError('protocol', `${this.registry}: catalog is not JSON`);
    }
    if (!Array.isArray(repositories) || !repositories.every((r) => typeof r === 'string')) throw new RegistryError('protocol', `${this.registry}: catalog has no repositories list`);
    const link = firstHeader(res.headers['link']);
    const target = link !== undefined ? /<([^>]*)>\s*;\s*rel="?next"?/.exec(link)?.[1] : undefined;
    const next = target !== undefined ? (new URL(target, this.transport.base).searchParams.get('last') ?? undefined) : undefined;
    return { repositories: repositories, next: repositories.length > 0 ? next : undefined };
  }

  /**
   * The registry's answer to the version check, without credentials: the API version and,
   * from a Berth registry, its own version. Any HTTP status counts as reachable.
   */
  async version(signal?: AbortSignal): Promise<{ api: string | undefined; berth: string | undefined }> {
    const res = await this.transport.send({ method: 'GET', path: '/v2/', scopes: [], anonymous: true, signal });
    await res.body.dump();
    return { api: firstHeader(res.headers['docker-distribution-api-version']), berth: firstHeader(res.headers['berth-version']) };
  }

  private location(res: Response): string {
    const loc = firstHeader(res.headers['location']);
    if (loc === undefined || loc === '') throw new RegistryError('protocol', `${this.registry}: upload response without Location`);
    return new URL(loc, this.transport.base).toString();
  }

  /** The error for an unexpected response; consumes the body. */
  private async failure(res: Response, what: string): Promise<RegistryError> {
    const text = await res.body.text().catch(() => '');
    const detail = registryMessage(text);
    const at = `${this.registry}: ${what}`;
    switch (res.status) {
      case 401:
        return new RegistryError('unauthorized', `${at}: authentication required${detail}`, false, 401);
      case 403:
        return new RegistryError('denied', `${at}: access denied${detail}`, false, 403);
      case 404:
        return new RegistryError('not-found', `${at}: not found${detail}`, false, 404);
      default:
        return new RegistryError(res.status >= 500 ? 'server' : 'protocol', `${at}: unexpected HTTP ${res.status}${detail}`, false, res.status);
    }
  }
}

function mediaTypeField(bytes: Buffer): string | undefined {
  try {
    const v = (JSON.parse(bytes.toString('utf8')) as Record<string, unknown>)['mediaType'];
    return typeof v === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}
