import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ManifestInvalidError,
  MediaType,
  digestOf,
  parseDescriptor,
  parseManifest,
  type ParsedManifest,
} from '../src/index.js';

const d = (s: string): string => digestOf(Buffer.from(s));
const CONFIG = { mediaType: MediaType.ociConfig, digest: d('config'), size: 6 };
const LAYER = { mediaType: MediaType.ociLayerGzip, digest: d('layer'), size: 5 };

function bytes(value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value));
}

function parse(value: unknown, contentType?: string): ParsedManifest {
  return parseManifest(bytes(value), contentType);
}

function ociManifest(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { schemaVersion: 2, mediaType: MediaType.ociManifest, config: CONFIG, layers: [LAYER], ...extra };
}

function ociIndex(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: [{ mediaType: MediaType.ociManifest, digest: d('child'), size: 123, platform: { os: 'linux', architecture: 'amd64' } }],
    ...extra,
  };
}

/** Asserts parseManifest refuses the manifest, with a message matching `re`. */
function refuses(value: unknown, contentType: string | undefined, re: RegExp): void {
  assert.throws(
    () => parseManifest(value instanceof Uint8Array ? value : bytes(value), contentType),
    (err: unknown) => err instanceof ManifestInvalidError && err.name === 'ManifestInvalidError' && re.test(err.message),
  );
}

describe('parseManifest: accepted kinds', () => {
  test('OCI image manifest', () => {
    const m = parse(ociManifest(), MediaType.ociManifest);
    assert.equal(m.mediaType, MediaType.ociManifest);
    assert.equal(m.isIndex, false);
    assert.deepEqual(m.config, CONFIG);
    assert.deepEqual(m.layers, [LAYER]);
    assert.deepEqual(m.manifests, []);
    assert.equal(m.subject, undefined);
    assert.equal(m.annotations, undefined);
  });

  test('OCI image index', () => {
    const m = parse(ociIndex(), MediaType.ociIndex);
    assert.equal(m.mediaType, MediaType.ociIndex);
    assert.equal(m.isIndex, true);
    assert.equal(m.config, undefined);
    assert.deepEqual(m.layers, []);
    assert.deepEqual(m.manifests, [{ mediaType: MediaType.ociManifest, digest: d('child'), size: 123 }]);
    assert.equal(m.artifactType, undefined);
  });

  test('an empty OCI index is valid', () => {
    const m = parse({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] }, MediaType.ociIndex);
    assert.deepEqual(m.manifests, []);
  });

  test('Docker schema 2 manifest', () => {
    const body = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifest,
      config: { mediaType: MediaType.dockerConfig, digest: d('c'), size: 1 },
      layers: [
        { mediaType: MediaType.dockerLayerGzip, digest: d('l1'), size: 2 },
        { mediaType: MediaType.dockerForeignLayer, digest: d('l2'), size: 3, urls: ['https://example.com/l2'] },
      ],
    };
    const m = parse(body, MediaType.dockerManifest);
    assert.equal(m.mediaType, MediaType.dockerManifest);
    assert.equal(m.isIndex, false);
    assert.equal(m.layers.length, 2);
    assert.equal(m.artifactType, MediaType.dockerConfig);
  });

  test('Docker manifest list', () => {
    const body = {
      schemaVersion: 2,
      mediaType: MediaType.dockerManifestList,
      manifests: [
        { mediaType: MediaType.dockerManifest, digest: d('amd64'), size: 10, platform: { architecture: 'amd64', os: 'linux' } },
        { mediaType: MediaType.dockerManifest, digest: d('arm64'), size: 11, platform: { architecture: 'arm64', os: 'linux' } },
      ],
    };
    const m = parse(body, MediaType.dockerManifestList);
    assert.equal(m.mediaType, MediaType.dockerManifestList);
    assert.equal(m.isIndex, true);
    assert.deepEqual(m.manifests.map((x) => x.digest), [d('amd64'), d('arm64')]);
  });

  test('an image manifest with no layers (empty array) is valid', () => {
    const m = parse(ociManifest({ layers: [] }), MediaType.ociManifest);
    assert.deepEqual(m.layers, []);
  });

  test('Content-Type parameters and case are ignored', () => {
    const m = parse(ociManifest(), 'Application/VND.oci.image.manifest.v1+json; charset=utf-8');
    assert.equal(m.mediaType, MediaType.ociManifest);
  });

  test('the body mediaType field is used under a generic Content-Type', () => {
    for (const ct of [undefined, '', 'application/json', 'application/octet-stream']) {
      assert.equal(parse(ociIndex(), ct).mediaType, MediaType.ociIndex, String(ct));
    }
  });

  test('a Content-Type alone is enough when the body has no mediaType', () => {
    const body = ociManifest();
    delete body['mediaType'];
    assert.equal(parse(body, MediaType.ociManifest).mediaType, MediaType.ociManifest);
  });

  test('parses a Uint8Array view into a larger buffer (byteOffset respected)', () => {
    const json = JSON.stringify(ociManifest());
    const big = Buffer.from(`garbage${json}trailing`);
    const view = new Uint8Array(big.buffer, big.byteOffset + 7, json.length);
    assert.equal(parseManifest(view, MediaType.ociManifest).mediaType, MediaType.ociManifest);
  });
});

describe('parseManifest: media type resolution', () => {
  test('refuses a body mediaType that differs from the Content-Type', () => {
    refuses(ociManifest(), MediaType.ociIndex, /does not match Content-Type/);
    refuses(ociManifest({ mediaType: MediaType.dockerManifest }), MediaType.ociManifest, /does not match/);
  });

  test('refuses a non-string body mediaType', () => {
    refuses(ociManifest({ mediaType: 42 }), MediaType.ociManifest, /mediaType must be a string/);
  });

  test('refuses an unsupported Content-Type', () => {
    refuses(ociManifest(), 'text/plain', /unsupported manifest media type/);
    refuses(ociManifest(), MediaType.ociConfig, /unsupported manifest media type/);
  });

  test('refuses an unsupported body mediaType under a generic Content-Type', () => {
    refuses(ociManifest({ mediaType: 'application/vnd.example+json' }), 'application/json', /unsupported manifest media type/);
  });

  test('refuses Docker schema 1 by Content-Type', () => {
    refuses(ociManifest(), MediaType.dockerSchema1, /schema 1/);
    refuses(ociManifest(), MediaType.dockerSchema1Signed, /schema 1/);
  });

  test('refuses Docker schema 1 by schemaVersion', () => {
    const schema1 = { schemaVersion: 1, name: 'library/x', tag: 'latest', architecture: 'amd64', fsLayers: [], history: [] };
    refuses(schema1, undefined, /schema 1/);
    refuses(schema1, 'application/json', /schema 1/);
  });

  test('infers an OCI index when there is no media type anywhere and a manifests array', () => {
    const body = ociIndex();
    delete body['mediaType'];
    const m = parse(body, undefined);
    assert.equal(m.mediaType, MediaType.ociIndex);
    assert.equal(m.isIndex, true);
  });

  test('infers an OCI manifest when there is no media type anywhere and a config', () => {
    const body = ociManifest();
    delete body['mediaType'];
    const m = parse(body, 'application/json');
    assert.equal(m.mediaType, MediaType.ociManifest);
    assert.equal(m.isIndex, false);
  });

  test('refuses a body with no media type anywhere and nothing to infer from', () => {
    refuses({ schemaVersion: 2, layers: [] }, undefined, /cannot determine/);
  });
});

describe('parseManifest: structure', () => {
  test('refuses invalid JSON and non-objects', () => {
    refuses(Buffer.from('{not json'), MediaType.ociManifest, /not valid JSON/);
    refuses(Buffer.from(''), MediaType.ociManifest, /not valid JSON/);
    refuses([], MediaType.ociManifest, /JSON object/);
    refuses('manifest', MediaType.ociManifest, /JSON object/);
    refuses(null, MediaType.ociManifest, /JSON object/);
  });

  test('refuses a schemaVersion other than the number 2', () => {
    refuses(ociManifest({ schemaVersion: 3 }), MediaType.ociManifest, /schemaVersion must be 2/);
    refuses(ociManifest({ schemaVersion: '2' }), MediaType.ociManifest, /schemaVersion must be 2/);
    const body = ociManifest();
    delete body['schemaVersion'];
    refuses(body, MediaType.ociManifest, /schemaVersion must be 2/);
  });

  test('refuses an image manifest without a layers array', () => {
    const body = ociManifest();
    delete body['layers'];
    refuses(body, MediaType.ociManifest, /layers array/);
    refuses(ociManifest({ layers: {} }), MediaType.ociManifest, /layers array/);
  });

  test('refuses an image manifest without a config', () => {
    const body = ociManifest();
    delete body['config'];
    refuses(body, MediaType.ociManifest, /config must be a descriptor/);
  });

  test('refuses an image manifest with a manifests array', () => {
    refuses(ociManifest({ manifests: [] }), MediaType.ociManifest, /cannot have a manifests array/);
  });

  test('refuses an index without a manifests array', () => {
    const body = ociIndex();
    delete body['manifests'];
    refuses(body, MediaType.ociIndex, /manifests array/);
    refuses(ociIndex({ manifests: null }), MediaType.ociIndex, /manifests array/);
  });

  test('refuses an index with config or layers', () => {
    refuses(ociIndex({ config: CONFIG }), MediaType.ociIndex, /cannot have config or layers/);
    refuses(ociIndex({ layers: [] }), MediaType.ociIndex, /cannot have config or layers/);
  });
});

describe('parseManifest: descriptors', () => {
  const bad: [string, unknown, RegExp][] = [
    ['negative size', { ...LAYER, size: -1 }, /layers\[0\]\.size must be a non-negative integer/],
    ['float size', { ...LAYER, size: 1.5 }, /size must be a non-negative integer/],
    ['string size', { ...LAYER, size: '5' }, /size must be a non-negative integer/],
    ['unsafe integer size', { ...LAYER, size: 2 ** 53 }, /size must be a non-negative integer/],
    ['missing size', { mediaType: LAYER.mediaType, digest: LAYER.digest }, /size must be a non-negative integer/],
    ['bad digest', { ...LAYER, digest: 'sha256:abc' }, /layers\[0\]\.digest is not a valid digest/],
    ['unsupported digest', { ...LAYER, digest: 'md5:d41d8cd98f00b204e9800998ecf8427e' }, /digest is not a valid digest/],
    ['path-like digest', { ...LAYER, digest: 'sha256:../../etc/passwd' }, /digest is not a valid digest/],
    ['missing digest', { mediaType: LAYER.mediaType, size: 5 }, /digest is not a valid digest/],
    ['missing mediaType', { digest: LAYER.digest, size: 5 }, /layers\[0\]\.mediaType must be a non-empty string/],
    ['empty mediaType', { ...LAYER, mediaType: '' }, /mediaType must be a non-empty string/],
    ['non-string artifactType', { ...LAYER, artifactType: 7 }, /layers\[0\]\.artifactType must be a string/],
    ['null descriptor', null, /layers\[0\] must be a descriptor object/],
    ['array descriptor', [], /layers\[0\] must be a descriptor object/],
  ];
  for (const [name, layer, re] of bad) {
    test(`refuses a layer with ${name}`, () => {
      refuses(ociManifest({ layers: [layer] }), MediaType.ociManifest, re);
    });
  }

  test('names the failing index in the message', () => {
    refuses(ociManifest({ layers: [LAYER, LAYER, { ...LAYER, size: -1 }] }), MediaType.ociManifest, /layers\[2\]\.size/);
  });

  test('refuses a bad config descriptor', () => {
    refuses(ociManifest({ config: { ...CONFIG, digest: 'nope' } }), MediaType.ociManifest, /config\.digest/);
  });

  test('refuses a bad child descriptor of an index', () => {
    refuses(ociIndex({ manifests: [{ mediaType: MediaType.ociManifest, digest: d('x'), size: -5 }] }), MediaType.ociIndex, /manifests\[0\]\.size/);
  });

  test('keeps artifactType and annotations and drops unknown fields', () => {
    const desc = parseDescriptor(
      { ...LAYER, artifactType: 'application/x', annotations: { a: 'b' }, urls: ['x'], platform: {}, data: 'AA==' },
      'test',
    );
    assert.deepEqual(desc, { ...LAYER, artifactType: 'application/x', annotations: { a: 'b' } });
  });

  test('accepts a zero size and a sha512 digest', () => {
    const desc = parseDescriptor({ mediaType: 'x/y', digest: digestOf(Buffer.from(''), 'sha512'), size: 0 }, 'test');
    assert.equal(desc.size, 0);
  });
});

describe('parseManifest: annotations', () => {
  test('keeps manifest annotations of strings', () => {
    const m = parse(ociManifest({ annotations: { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' } }), MediaType.ociManifest);
    assert.deepEqual(m.annotations, { 'org.opencontainers.image.created': '2024-01-01T00:00:00Z' });
  });

  test('refuses manifest annotations with a non-string value', () => {
    refuses(ociManifest({ annotations: { a: 1 } }), MediaType.ociManifest, /annotations\["a"\] must be a string/);
    refuses(ociManifest({ annotations: { a: null } }), MediaType.ociManifest, /must be a string/);
    refuses(ociManifest({ annotations: { a: { nested: 'x' } } }), MediaType.ociManifest, /must be a string/);
  });

  test('refuses manifest annotations that are not an object', () => {
    refuses(ociManifest({ annotations: ['a'] }), MediaType.ociManifest, /annotations must be an object/);
    refuses(ociManifest({ annotations: 'a=b' }), MediaType.ociManifest, /annotations must be an object/);
  });

  test('refuses descriptor annotations with a non-string value', () => {
    refuses(ociManifest({ layers: [{ ...LAYER, annotations: { n: 2 } }] }), MediaType.ociManifest, /layers\[0\]\.annotations\["n"\]/);
    refuses(ociIndex({ annotations: { ok: 'x', bad: true } }), MediaType.ociIndex, /manifest\.annotations\["bad"\]/);
  });
});

describe('parseManifest: artifactType and subject', () => {
  test('an explicit artifactType wins over config.mediaType', () => {
    const m = parse(
      ociManifest({ artifactType: 'application/vnd.example.sbom', config: { ...CONFIG, mediaType: MediaType.ociEmpty } }),
      MediaType.ociManifest,
    );
    assert.equal(m.artifactType, 'application/vnd.example.sbom');
  });

  test('artifactType defaults to config.mediaType for an image manifest', () => {
    const m = parse(ociManifest({ config: { ...CONFIG, mediaType: 'application/vnd.example.config+json' } }), MediaType.ociManifest);
    assert.equal(m.artifactType, 'application/vnd.example.config+json');
  });

  test('an index has an artifactType only when it declares one', () => {
    assert.equal(parse(ociIndex(), MediaType.ociIndex).artifactType, undefined);
    assert.equal(parse(ociIndex({ artifactType: 'application/x' }), MediaType.ociIndex).artifactType, 'application/x');
  });

  test('refuses a non-string artifactType', () => {
    refuses(ociManifest({ artifactType: 1 }), MediaType.ociManifest, /manifest\.artifactType must be a string/);
    refuses(ociIndex({ artifactType: {} }), MediaType.ociIndex, /artifactType must be a string/);
  });

  test('parses the subject descriptor', () => {
    const subject = { mediaType: MediaType.ociManifest, digest: d('subject'), size: 99 };
    const m = parse(ociManifest({ subject }), MediaType.ociManifest);
    assert.deepEqual(m.subject, subject);
    const i = parse(ociIndex({ subject }), MediaType.ociIndex);
    assert.deepEqual(i.subject, subject);
  });

  test('a null subject is treated as absent', () => {
    assert.equal(parse(ociManifest({ subject: null }), MediaType.ociManifest).subject, undefined);
  });

  test('refuses a malformed subject', () => {
    refuses(ociManifest({ subject: { mediaType: MediaType.ociManifest, digest: 'bad', size: 1 } }), MediaType.ociManifest, /subject\.digest/);
    refuses(ociManifest({ subject: 'sha256:abc' }), MediaType.ociManifest, /subject must be a descriptor/);
  });
});
