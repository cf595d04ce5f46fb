import { parseDigest } from './digest.js';
import { MediaType, MANIFEST_MEDIA_TYPES, baseMediaType, isIndexMediaType } from './media-types.js';

/**
 * Parsing and validation of manifests as a registry receives them: OCI image manifest
 * and index, Docker schema 2 manifest and manifest list. Schema 1 is refused.
 * The result lists what must exist in the repository for the manifest to be accepted.
 */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

export interface ParsedManifest {
  readonly mediaType: string;
  readonly isIndex: boolean;
  /** Config and layer descriptors (image manifests only). */
  readonly config?: Descriptor;
  readonly layers: readonly Descriptor[];
  /** Child manifests (indexes only). */
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  /** The artifact type the referrers API reports for this manifest. */
  readonly artifactType?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** Thrown for any manifest that is not acceptable; `message` says why in one line. */
export class ManifestInvalidError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestInvalidError';
  }
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fail(message: string): never {
  throw new ManifestInvalidError(message);
}

function optionalString(obj: Json, key: string, where: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') fail(`${where}.${key} must be a string`);
  return v;
}

function annotationsOf(obj: Json, where: string): Record<string, string> | undefined {
  const v = obj['annotations'];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) fail(`${where}.annotations must be an object of strings`);
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') fail(`${where}.annotations["${k}"] must be a string`);
  }
  return v as Record<string, string>;
}

export function parseDescriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) fail(`${where} must be a descriptor object`);
  const mediaType = v['mediaType'];
  if (typeof mediaType !== 'string' || mediaType.length === 0) fail(`${where}.mediaType must be a non-empty string`);
  const digest = v['digest'];
  if (typeof digest !== 'string' || typeof parseDigest(digest) !== 'object') fail(`${where}.digest is not a valid digest`);
  const size = v['size'];
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) fail(`${where}.size must be a non-negative integer`);
  const artifactType = optionalString(v, 'artifactType', where);
  const annotations = annotationsOf(v, where);
  return {
    mediaType,
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };
}

function descriptorList(v: unknown, where: string): Descriptor[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(`${where} must be an array`);
  return v.map((d, i) => parseDescriptor(d, `${where}[${i}]`));
}

/** Picks the manifest media type from the request's Content-Type and the body's field. */
function resolveMediaType(contentType: string | undefined, body: Json): string {
  const header = baseMediaType(contentType);
  const field = body['mediaType'];
  if (field !== undefined && typeof field !== 'string') fail('mediaType must be a string');
  if (header === MediaType.dockerSchema1 || header === MediaType.dockerSchema1Signed || body['schemaVersion'] === 1) {
    fail('Docker schema 1 manifests are not supported; push a schema 2 or OCI manifest');
  }
  if (MANIFEST_MEDIA_TYPES.has(header)) {
    if (field !== undefined && field !== header) {
      fail(`mediaType "${field}" does not match Content-Type "${header}"`);
    }
    return header;
  }
  if (header !== '' && header !== 'application/json' && header !== 'application/octet-stream') {
    fail(`unsupported manifest media type "${header}"`);
  }
  if (field !== undefined) {
    if (!MANIFEST_MEDIA_TYPES.has(field)) fail(`unsupported manifest media type "${field}"`);
    return field;
  }
  // No media type anywhere: OCI allows it to be omitted, so infer from the shape.
  if (Array.isArray(body['manifests'])) return MediaType.ociIndex;
  if (body['config'] !== undefined) return MediaType.ociManifest;
  return fail('cannot determine the manifest media type: set Content-Type or mediaType');
}

/** Parses `body` (the exact bytes a client sent) as a manifest of the given Content-Type. */
export function parseManifest(body: Uint8Array, contentType: string | undefined): ParsedManifest {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    fail('manifest is not valid JSON');
  }
  if (!isObject(json)) fail('manifest must be a JSON object');
  const mediaType = resolveMediaType(contentType, json);
  if (json['schemaVersion'] !== 2) fail('schemaVersion must be 2');
  const annotations = annotationsOf(json, 'manifest');
  const subject = json['subject'] === undefined || json['subject'] === null
    ? undefined
    : parseDescriptor(json['subject'], 'subject');
  const declaredArtifactType = optionalString(json, 'artifactType', 'manifest');
  const common = {
    mediaType,
    ...(subject !== undefined ? { subject } : {}),
    ...(annotations !== undefined ? { annotations } : {}),
  };

  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(json['manifests'])) fail('an index must have a manifests array');
    if (json['config'] !== undefined || json['layers'] !== undefined) fail('an index cannot have config or layers');
    return {
      ...common,
      isIndex: true,
      layers: [],
      manifests: descriptorList(json['manifests'], 'manifests'),
      ...(declaredArtifactType !== undefined ? { artifactType: declaredArtifactType } : {}),
    };
  }
  if (json['manifests'] !== undefined) fail('an image manifest cannot have a manifests array');
  const config = parseDescriptor(json['config'], 'config');
  if (!Array.isArray(json['layers'])) fail('an image manifest must have a layers array');
  const layers = descriptorList(json['layers'], 'layers');
  return {
    ...common,
    isIndex: false,
    config,
    layers,
    manifests: [],
    artifactType: declaredArtifactType ?? config.mediaType,
  };
}
