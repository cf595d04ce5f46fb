import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MANIFEST_MEDIA_TYPES, MediaType, baseMediaType, isIndexMediaType, isNonDistributable } from '../src/index.js';

describe('media types', () => {
  test('the four manifest media types a registry stores', () => {
    assert.deepEqual(
      [...MANIFEST_MEDIA_TYPES].sort(),
      [MediaType.dockerManifest, MediaType.dockerManifestList, MediaType.ociIndex, MediaType.ociManifest].sort(),
    );
    assert.equal(MANIFEST_MEDIA_TYPES.has(MediaType.dockerSchema1), false);
  });

  test('isIndexMediaType', () => {
    assert.equal(isIndexMediaType(MediaType.ociIndex), true);
    assert.equal(isIndexMediaType(MediaType.dockerManifestList), true);
    assert.equal(isIndexMediaType(MediaType.ociManifest), false);
    assert.equal(isIndexMediaType(MediaType.dockerManifest), false);
  });

  test('isNonDistributable', () => {
    assert.equal(isNonDistributable(MediaType.ociLayerNondistTar), true);
    assert.equal(isNonDistributable(MediaType.ociLayerNondistGzip), true);
    assert.equal(isNonDistributable(MediaType.ociLayerNondistZstd), true);
    assert.equal(isNonDistributable(MediaType.dockerForeignLayer), true);
    assert.equal(isNonDistributable(MediaType.ociLayerGzip), false);
    assert.equal(isNonDistributable(MediaType.dockerLayerGzip), false);
  });

  test('baseMediaType strips parameters, whitespace and case', () => {
    assert.equal(baseMediaType(undefined), '');
    assert.equal(baseMediaType(''), '');
    assert.equal(baseMediaType('application/JSON'), 'application/json');
    assert.equal(baseMediaType(' application/json ; charset=utf-8'), 'application/json');
    assert.equal(baseMediaType(`${MediaType.ociManifest};x=y`), MediaType.ociManifest);
  });
});
