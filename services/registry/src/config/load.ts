import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { SCHEMA, type Config, type KeySpec } from './schema.js';

/** One line per problem, e.g. `http.addr: expected host:port ... (from BERTH_HTTP_ADDR)`. */
export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

export interface LoadOptions {
  /** YAML file; BERTH_CONFIG when not given. */
  readonly file?: string;
  readonly env?: NodeJS.ProcessEnv;
}

type Sections = Record<string, Record<string, KeySpec<unknown>>>;

/**
 * Defaults, then the YAML file, then BERTH_<SECTION>_<KEY> variables. Unknown YAML keys
 * and unparsable values are errors; unrelated BERTH_* variables (other tools') are not.
 */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const file = options.file ?? env['BERTH_CONFIG'];
  const problems: string[] = [];
  let yaml: Record<string, unknown> = {};
  if (file !== undefined && file !== '') {
    try {
      const parsed: unknown = parseYaml(readFileSync(file, 'utf8'));
      if (parsed !== null && parsed !== undefined) {
        if (typeof parsed !== 'object' || Array.isArray(parsed)) problems.push(`${file}: the top level must be a mapping`);
        else yaml = parsed as Record<string, unknown>;
      }
    } catch (err) {
      throw new ConfigError([`${file}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`]);
    }
  }
  const schema = SCHEMA as unknown as Sections;
  for (const [section, value] of Object.entries(yaml)) {
    const keys = schema[section];
    if (keys === undefined) {
      problems.push(`${section}: unknown section (known: ${Object.keys(schema).join(', ')})`);
      continue;
    }
    if (value === null) continue;
    if (typeof value !== 'object' || Array.isArray(value)) {
      problems.push(`${section}: must be a mapping of keys`);
      continue;
    }
    for (const key of Object.keys(value)) {
      if (keys[key] === undefined) problems.push(`${section}.${key}: unknown key (known: ${Object.keys(keys).join(', ')})`);
    }
  }
  const out: Record<string, Record<string, unknown>> = {};
  for (const [section, keys] of Object.entries(schema)) {
    const fromYaml = (yaml[section] ?? {}) as Record<string, unknown>;
    const values: Record<string, unknown> = {};
    for (const [key, spec] of Object.entries(keys)) {
      const envName = `BERTH_${section.toUpperCase()}_${key.toUpperCase()}`;
      const envValue = env[envName];
      const [raw, origin] = envValue !== undefined ? [envValue, ` (from ${envName})`] : [fromYaml[key], ''];
      if (raw === undefined || raw === null) {
        values[key] = spec.default;
        continue;
      }
      const parsed = spec.parse(raw);
      if (parsed === undefined) problems.push(`${section}.${key}: ${spec.explain?.(raw) ?? `expected ${spec.expect}, got ${JSON.stringify(raw)}`}${origin}`);
      else values[key] = parsed;
    }
    out[section] = values;
  }
  if (problems.length > 0) throw new ConfigError(problems);
  const config = out as unknown as Config;
  const tls = [config.http.tlscert, config.http.tlskey].filter((v) => v !== '').length;
  if (tls === 1) throw new ConfigError(['http.tlscert and http.tlskey must be set together']);
  if (config.auth.mode === 'htpasswd' && config.auth.htpasswd === '') throw new ConfigError(['auth.htpasswd: required when auth.mode is htpasswd']);
  if (config.auth.mode === 'token' && !config.auth.tokenserver && config.auth.publickeys === '' && config.auth.jwks === '') {
    throw new ConfigError(['auth.publickeys or auth.jwks: required when auth.mode is token and auth.tokenserver is false']);
  }
  if (config.storage.driver === 's3') {
    const s3 = config.storage;
    const s3problems: string[] = [];
    if (s3.bucket === '') s3problems.push('storage.bucket: required when storage.driver is s3');
    if ((s3.accesskey === '') !== (s3.secretkey === '')) s3problems.push('storage.accesskey and storage.secretkey must be set together');
    if (s3.partsize < 5 * 1024 * 1024) s3problems.push(`storage.partsize: at least 5MiB, got ${s3.partsize} bytes`);
    if (s3.endpoint !== '' && !/^https?:\/\/[^\s/]+/.test(s3.endpoint)) s3problems.push(`storage.endpoint: expected an http(s) URL, got ${JSON.stringify(s3.endpoint)}`);
    if (s3problems.length > 0) throw new ConfigError(s3problems);
  }
  return config;
}

/** Where the blobs and the database go, after defaults are applied. */
export function dataPaths(config: Config): { blobs: string; database: string; spool: string } {
  return {
    blobs: config.storage.rootdirectory !== '' ? config.storage.rootdirectory : join(config.data.dir, 'blobs'),
    spool: config.storage.spooldirectory !== '' ? config.storage.spooldirectory : join(config.data.dir, 'spool'),
    database: config.database.path !== '' ? config.database.path : join(config.data.dir, 'metadata.db'),
  };
}
