import { NO_RULES, parseRules, type RulesConfig } from '../auth/rules-config.js';
import { parseBool, parseDuration, parseInteger, parseListenAddress, parseSize } from './parse.js';

/**
 * Every configuration key: its section, its parser, its default and what it means.
 * A key `section.key` is set in YAML as `section: { key: value }` and overridden by the
 * environment variable `BERTH_<SECTION>_<KEY>` (upper case).
 */
export interface KeySpec<T> {
  readonly parse: (v: unknown) => T | undefined;
  readonly expect: string;
  readonly default: T;
  readonly doc: string;
  /** The problem with a value `parse` refused, when `expected ...` would not say it. */
  readonly explain?: (v: unknown) => string;
}

const str = (def: string, doc: string): KeySpec<string> => ({
  parse: (v) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined),
  expect: 'a string',
  default: def,
  doc,
});
const oneOf = <T extends string>(values: readonly T[], def: T, doc: string): KeySpec<T> => ({
  parse: (v) => (typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as T) : undefined),
  expect: `one of ${values.join(', ')}`,
  default: def,
  doc,
});
const bool = (def: boolean, doc: string): KeySpec<boolean> => ({ parse: parseBool, expect: 'true or false', default: def, doc });
const duration = (def: string, doc: string): KeySpec<number> => ({
  parse: parseDuration,
  expect: 'a duration such as 30s, 10m or 24h',
  default: parseDuration(def) as number,
  doc,
});
const size = (def: string, doc: string): KeySpec<number> => ({
  parse: parseSize,
  expect: 'a size such as 4MiB or 512k',
  default: parseSize(def) as number,
  doc,
});
const int = (def: number, min: number, max: number, doc: string): KeySpec<number> => ({
  parse: (v) => parseInteger(v, min, max),
  expect: `an integer from ${min} to ${max}`,
  default: def,
  doc,
});
const address = (def: string, doc: string): KeySpec<string> => ({
  parse: (v) => (parseListenAddress(v) !== undefined ? (v as string).trim() : undefined),
  expect: 'host:port, e.g. 0.0.0.0:5000',
  default: def,
  doc,
});

const rules = (doc: string): KeySpec<RulesConfig> => ({
  parse: (v) => {
    const r = parseRules(v);
    return typeof r === 'string' ? undefined : r;
  },
  expect: 'a mapping with groups and access',
  explain: (v) => {
    const r = parseRules(v);
    return typeof r === 'string' ? r : '';
  },
  default: NO_RULES,
  doc,
});

export const SCHEMA = {
  http: {
    addr: address('0.0.0.0:5000', 'listen address'),
    tlscert: str('', 'PEM certificate file; with tlskey, serve HTTPS'),
    tlskey: str('', 'PEM private key file'),
    draintimeout: duration('30s', 'on SIGTERM, how long in-flight requests may finish'),
    idletimeout: duration('120s', 'a connection sending or reading nothing this long is closed'),
  },
  data: {
    dir: str('./data', 'where blobs and the database live unless set below'),
  },
  storage: {
    driver: oneOf(['filesystem', 's3'] as const, 'filesystem', 'blob storage driver: filesystem or s3'),
    rootdirectory: str('', 'filesystem driver root (default <data.dir>/blobs)'),
    bucket: str('', 's3: bucket (required with the s3 driver)'),
    region: str('us-east-1', 's3: region'),
    endpoint: str('', 's3: endpoint URL of an S3-compatible server, e.g. http://minio:9000 (default: AWS)'),
    pathstyle: bool(false, 's3: path-style URLs (MinIO, Ceph, Garage, most self-hosted servers)'),
    rootprefix: str('', 's3: key prefix of every object'),
    storageclass: str('', 's3: storage class of new objects, e.g. STANDARD_IA (default: the bucket\'s)'),
    encryption: oneOf(['none', 'AES256', 'aws:kms'] as const, 'none', 's3: server-side encryption'),
    kmskeyid: str('', 's3: KMS key id with encryption aws:kms (default: the account\'s S3 key)'),
    accesskey: str('', 's3: access key id (default: the AWS chain: environment, shared config, instance role)'),
    secretkey: str('', 's3: secret access key, with accesskey'),
    spooldirectory: str('', 's3: local directory where chunks are gathered into parts (default <data.dir>/spool)'),
    partsize: size('16MiB', 's3: multipart part size (at least 5MiB)'),
    concurrency: int(4, 1, 64, 's3: parts of one upload sent at once'),
    timeout: duration('30s', 's3: deadline of one S3 call until it answers; a transfer idle this long is cut'),
    retries: int(4, 0, 20, 's3: retries of a failed S3 call, with exponential backoff'),
    redirect: bool(true, 's3: answer blob GETs with a 307 to a pre-signed URL (clients must reach the S3 endpoint); false: stream them through the registry'),
    redirectexpiry: duration('20m', 's3: lifetime of pre-signed URLs'),
  },
  database: {
    path: str('', 'SQLite file (default <data.dir>/metadata.db)'),
    synchronous: oneOf(['normal', 'full'] as const, 'normal', 'normal: durable across process crashes; full: across power loss'),
  },
  delete: {
    enabled: bool(true, 'allow deleting manifests, tags and blobs'),
  },
  uploads: {
    expiry: duration('24h', 'an upload untouched this long is cancelled'),
    purgeinterval: duration('10m', 'how often expired uploads are cleaned up'),
    maxsessions: int(10_000, 1, 10_000_000, 'upload sessions open at once'),
  },
  limits: {
    manifestsize: size('4MiB', 'largest manifest accepted'),
    blobsize: size('1TiB', 'largest blob accepted'),
    pagesize: int(1000, 1, 100_000, 'most tags or repositories returned in one page'),
  },
  log: {
    level: oneOf(['debug', 'info', 'warn', 'error'] as const, 'info', 'log level'),
    requests: bool(true, 'log every request as a JSON line'),
  },
  metrics: {
    enabled: bool(true, 'serve Prometheus metrics at /metrics'),
  },
  auth: {
    mode: oneOf(['none', 'htpasswd', 'token'] as const, 'none', 'none, htpasswd (HTTP Basic) or token (Docker token authentication)'),
    htpasswd: str('', 'Apache htpasswd file with bcrypt hashes (htpasswd -B)'),
    rules: rules('groups and access rules: who may pull, push, delete which repositories'),
    realm: str('', 'Basic realm, or the token endpoint URL sent in Bearer challenges (default <this registry>/auth/token)'),
    service: str('berth-registry', 'token mode: the service name, the audience of tokens'),
    issuer: str('berth', 'token mode: the issuer tokens must name'),
    tokenserver: bool(true, 'token mode: serve the built-in token endpoint at /auth/token'),
    tokenkey: str('', 'signing key of the built-in token server, PEM (default <data.dir>/auth/token-key.pem, created on first start)'),
    tokenalg: oneOf(['ES256', 'RS256'] as const, 'ES256', 'signature algorithm of the built-in token server'),
    tokenexpiry: duration('5m', 'lifetime of issued tokens'),
    publickeys: str('', 'PEM file of public keys or certificates of an external token issuer'),
    jwks: str('', 'JWKS file or http(s) URL with the keys of an external token issuer'),
    maxfailures: int(5, 1, 1_000_000, 'failed logins per user or client address before they are slowed down'),
    lockout: duration('5m', 'longest wait imposed after repeated failed logins'),
  },
} as const;

type Schema = typeof SCHEMA;
export type Config = {
  readonly [S in keyof Schema]: { readonly [K in keyof Schema[S]]: Schema[S][K] extends KeySpec<infer T> ? T : never };
};
