import { createHash, createHmac } from 'node:crypto';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';

/** What one SDK-signed URL tells about every URL of the bucket: where objects are and how URLs are scoped. */
interface UrlShape {
  /** Scheme and host of every URL. */
  readonly origin: string;
  readonly host: string;
  /** The path before the object key: the bucket (path-style) and a slash. */
  readonly prefix: string;
  readonly region: string;
  readonly service: string;
  /** Query parameters that are the same in every URL (algorithm, payload hash, SDK markers), kept as the SDK set them. */
  readonly fixed: readonly (readonly [string, string])[];
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
/** Query parameters each URL sets itself; any other the SDK sets is copied as it is. */
const PER_URL = new Set(['X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-Security-Token', 'X-Amz-Signature']);
/** The key of the URL signed by both, to learn the shape and check the signatures agree. */
const PROBE_KEY = 'berth-presign-check/a b+c';
const PROBE_DATE = new Date('2020-01-02T03:04:05Z');

/** RFC 3986 encoding of a key, slashes kept, as S3 and the SDK encode object paths. */
function encodeKey(key: string): string {
  return key.split('/').map(encodeParam).join('/');
}

/** RFC 3986 percent-encoding (encodeURIComponent leaves !'()* as they are). */
function encodeParam(v: string): string {
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** SigV4's canonical query string: encoded names and values, sorted by name, then value. */
function canonicalQuery(params: readonly (readonly [string, string])[]): string {
  return params
    .map(([k, v]) => [encodeParam(k), encodeParam(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

interface Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

/**
 * Pre-signed GET URLs of a bucket's objects (SigV4 query authentication), signed here
 * with node:crypto: a few microseconds each where the SDK's presigner runs its whole
 * middleware and endpoint-rules stack (about a millisecond of CPU) for every URL.
 *
 * The SDK still decides everything but the signature arithmetic: on first use it signs
 * one URL, which gives the endpoint, the URL layout (path-style or virtual-hosted), the
 * signing region and the query parameters it sets; the same URL is then signed here and
 * must come out identical, or every URL is left to the SDK. Credentials are the SDK
 * client's (its provider chain, refreshed as it refreshes them), and so is its clock
 * offset.
 */
export class UrlSigner {
  private shape: Promise<UrlShape | undefined> | undefined;
  private signingKey: { scope: string; secret: string; key: Buffer } | undefined;

  constructor(
    private readonly client: S3Client,
    private readonly bucket: string,
  ) {}

  /** A URL for GET of `key`, valid `expiresIn` seconds from `at` (default: now, on the SDK's corrected clock). */
  async url(key: string, expiresIn: number, at?: Date): Promise<string> {
    const shape = await this.learn();
    const now = at ?? new Date(Date.now() + this.client.config.systemClockOffset);
    if (shape === undefined) return this.sdkUrl(key, expiresIn, now);
    return this.sign(shape, await this.client.config.credentials(), key, expiresIn, now);
  }

  /** Whether URLs are signed here (false: the SDK signs each one). */
  async signsItself(): Promise<boolean> {
    return (await this.learn()) !== undefined;
  }

  private sdkUrl(key: string, expiresIn: number, signingDate: Date): Promise<string> {
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), { expiresIn, signingDate });
  }

  private learn(): Promise<UrlShape | undefined> {
    // A failure (no credentials yet) is not remembered: the next URL tries again.
    this.shape ??= this.compare().catch((err: unknown) => {
      this.shape = undefined;
      throw err;
    });
    return this.shape;
  }

  private async compare(): Promise<UrlShape | undefined> {
    const credentials = await this.client.config.credentials();
    const reference = await this.sdkUrl(PROBE_KEY, 900, PROBE_DATE);
    const shape = parseShape(reference, PROBE_KEY);
    if (shape === undefined) return undefined;
    return this.sign(shape, credentials, PROBE_KEY, 900, PROBE_DATE) === reference ? shape : undefined;
  }

  private sign(shape: UrlShape, credentials: Credentials, key: string, expiresIn: number, now: Date): string {
    const datetime = amzDate(now);
    const date = datetime.slice(0, 8);
    const scope = `${date}/${shape.region}/${shape.service}/aws4_request`;
    const params: (readonly [string, string])[] = [
      ...shape.fixed,
      ['X-Amz-Credential', `${credentials.accessKeyId}/${scope}`],
      ['X-Amz-Date', datetime],
      ['X-Amz-Expires', String(expiresIn)],
      ...(credentials.sessionToken !== undefined ? [['X-Amz-Security-Token', credentials.sessionToken] as const] : []),
    ];
    const query = canonicalQuery(params);
    const path = `${shape.prefix}${encodeKey(key)}`;
    const canonical = ['GET', path, query, `host:${shape.host}`, '', 'host', 'UNSIGNED-PAYLOAD'].join('\n');
    const toSign = [ALGORITHM, datetime, scope, createHash('sha256').update(canonical).digest('hex')].join('\n');
    const signature = createHmac('sha256', this.keyFor(scope, date, shape, credentials.secretAccessKey)).update(toSign).digest('hex');
    // The SDK's order: every parameter, the signature too, sorted by name.
    return `${shape.origin}${path}?${canonicalQuery([...params, ['X-Amz-Signature', signature]])}`;
  }

  /** The day's signing key, kept until the day, region or secret changes. */
  private keyFor(scope: string, date: string, shape: UrlShape, secret: string): Buffer {
    const k = this.signingKey;
    if (k !== undefined && k.scope === scope && k.secret === secret) return k.key;
    let key = createHmac('sha256', `AWS4${secret}`).update(date).digest();
    for (const part of [shape.region, shape.service, 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
    this.signingKey = { scope, secret, key };
    return key;
  }
}

/** The shape of `url`, an SDK-signed GET of `key`; undefined when it is not a plain SigV4 query-signed URL. */
function parseShape(url: string, key: string): UrlShape | undefined {
  const u = new URL(url);
  const suffix = encodeKey(key);
  if (!u.pathname.endsWith(suffix) || u.hash !== '') return undefined;
  const q = u.searchParams;
  if (q.get('X-Amz-Algorithm') !== ALGORITHM || q.get('X-Amz-SignedHeaders') !== 'host' || q.get('X-Amz-Content-Sha256') !== 'UNSIGNED-PAYLOAD') return undefined;
  const scope = /^[^/]+\/\d{8}\/([^/]+)\/([^/]+)\/aws4_request$/.exec(q.get('X-Amz-Credential') ?? '');
  if (scope === null) return undefined;
  const fixed: [string, string][] = [];
  for (const [k, v] of q) if (!PER_URL.has(k)) fixed.push([k, v]);
  const prefix = u.pathname.slice(0, u.pathname.length - suffix.length);
  return { origin: `${u.protocol}//${u.host}`, host: u.host, prefix, region: scope[1] as string, service: scope[2] as string, fixed };
}
