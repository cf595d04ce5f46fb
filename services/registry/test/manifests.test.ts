import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { OCI_INDEX, OCI_MANIFEST, errorCode, openHarness, pushBlob, pushImage, sha256, type Harness } from './harness.js';
import { raw } from './raw.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';

function put(h: Harness, name: string, ref: string, body: Buffer | string, contentType = OCI_MANIFEST): request.Test {
  return request(h.app).put(`/v2/${name}/manifests/${ref}`).set('Content-Type', contentType).send(body.toString());
}

describe('manifests', () => {
  let h: Harness;
  before(async () => {
    h = await openHarness();
  });
  after(() => h.close());

  test('PUT by tag: 201 with Location and Docker-Content-Digest; GET returns the exact bytes', async () => {
    const img = await pushImage(h.app, 'm/app', 'v1');
    const res = await raw(request(h.app).get('/v2/m/app/manifests/v1')).expect(200);
    assert.deepEqual(res.body, img.manifest);
    assert.equal(res.headers['content-type'], OCI_MANIFEST);
    assert.equal(res.headers['docker-content-digest'], img.digest);
    assert.equal(res.headers['content-length'], String(img.manifest.length));
    const byDigest = await raw(request(h.app).get(`/v2/m/app/manifests/${img.digest}`)).expect(200);
    assert.deepEqual(byDigest.body, img.manifest);
  });

  test('the PUT response names the stored manifest', async () => {
    const config = await pushBlob(h.app, 'm/loc', '{}');
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 2 }, layers: [] });
    const res = await put(h, 'm/loc', 'latest', body).expect(201);
    assert.equal(res.headers['location'], `/v2/m/loc/manifests/${sha256(body)}`);
    assert.equal(res.headers['docker-content-digest'], sha256(body));
  });

  test('HEAD answers type, digest and length without a body', async () => {
    const img = await pushImage(h.app, 'm/head', 'v1');
    const res = await request(h.app).head('/v2/m/head/manifests/v1').expect(200);
    assert.equal(res.headers['content-length'], String(img.manifest.length));
    assert.equal(res.headers['docker-content-digest'], img.digest);
    assert.equal(res.headers['content-type'], OCI_MANIFEST);
  });

  test('byte-exact storage: whitespace and key order are kept', async () => {
    const config = await pushBlob(h.app, 'm/exact', 'cfg');
    const body = `{\n  "schemaVersion": 2,\n  "layers": [],\n  "config": {"size": 3, "digest": "${config}", "mediaType": "application/vnd.oci.image.config.v1+json"}\n}\n`;
    await put(h, 'm/exact', 'pretty', body).expect(201);
    const res = await raw(request(h.app).get('/v2/m/exact/manifests/pretty')).expect(200);
    assert.equal((res.body as Buffer).toString(), body);
  });

  test('PUT by digest: accepted when the digest matches, DIGEST_INVALID otherwise', async () => {
    const config = await pushBlob(h.app, 'm/bydigest', 'cfg2');
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 4 }, layers: [] });
    await put(h, 'm/bydigest', sha256(body), body).expect(201);
    const res = await put(h, 'm/bydigest', sha256('other'), body).expect(400);
    assert.equal(errorCode(res), 'DIGEST_INVALID');
  });

  test('Docker schema 2 manifest and manifest list are accepted and served as pushed', async () => {
    const cfg = await pushBlob(h.app, 'm/docker', '{"os":"linux"}');
    const layer = await pushBlob(h.app, 'm/docker', 'docker layer');
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: cfg, size: 14 },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: layer, size: 12 }],
    });
    await put(h, 'm/docker', 'v2', manifest, DOCKER_MANIFEST).expect(201);
    const list = JSON.stringify({
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [{ mediaType: DOCKER_MANIFEST, digest: sha256(manifest), size: manifest.length, platform: { architecture: 'amd64', os: 'linux' } }],
    });
    await put(h, 'm/docker', 'list', list, DOCKER_LIST).expect(201);
    const res = await request(h.app).get('/v2/m/docker/manifests/list').expect(200);
    assert.equal(res.headers['content-type'], DOCKER_LIST);
  });

  test('an OCI index needs its child manifests in the repository', async () => {
    const child = await pushImage(h.app, 'm/index', undefined);
    const index = (digest: string, size: number): string =>
      JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ mediaType: OCI_MANIFEST, digest, size, platform: { architecture: 'arm64', os: 'linux' } }] });
    await put(h, 'm/index', 'multi', index(child.digest, child.manifest.length), OCI_INDEX).expect(201);
    const missing = await put(h, 'm/index', 'broken', index(sha256('no such manifest'), 10), OCI_INDEX).expect(400);
    assert.equal(errorCode(missing), 'MANIFEST_BLOB_UNKNOWN');
    await request(h.app).get('/v2/m/index/manifests/broken').expect(404);
  });

  test('a missing layer or config is 400 MANIFEST_BLOB_UNKNOWN naming the digest', async () => {
    const config = await pushBlob(h.app, 'm/missing', 'cfg3');
    const ghost = sha256('ghost layer');
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 4 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: ghost, size: 11 }],
    });
    const res = await put(h, 'm/missing', 'v1', body).expect(400);
    assert.equal(errorCode(res), 'MANIFEST_BLOB_UNKNOWN');
    assert.deepEqual((res.body as { errors: { detail: unknown }[] }).errors[0]?.detail, { digest: ghost });
  });

  test('a blob of another repository does not satisfy a manifest', async () => {
    const layer = await pushBlob(h.app, 'm/elsewhere', 'foreign layer');
    const config = await pushBlob(h.app, 'm/here', 'cfg4');
    const body = JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 4 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layer, size: 13 }],
    });
    assert.equal(errorCode(await put(h, 'm/here', 'v1', body).expect(400)), 'MANIFEST_BLOB_UNKNOWN');
  });

  test('a descriptor size that differs from the blob is MANIFEST_INVALID', async () => {
    const config = await pushBlob(h.app, 'm/size', 'cfg5');
    const body = JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 999 }, layers: [] });
    assert.equal(errorCode(await put(h, 'm/size', 'v1', body).expect(400)), 'MANIFEST_INVALID');
  });

  test('non-distributable layers need not be pushed', async () => {
    const config = await pushBlob(h.app, 'm/nondist', 'cfg6');
    const body = JSON.stringify({
      schemaVersion: 2, mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config, size: 4 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', digest: sha256('windows base'), size: 100, urls: ['https://example.invalid/layer'] }],
    });
    await put(h, 'm/nondist', 'v1', body).expect(201);
  });

  const invalid: [string, string, string][] = [
    ['not JSON', '{nope', OCI_MANIFEST],
    ['a JSON array', '[]', OCI_MANIFEST],
    ['schemaVersion 1', JSON.stringify({ schemaVersion: 1, name: 'x', tag: 'y', fsLayers: [] }), 'application/vnd.docker.distribution.manifest.v1+prettyjws'],
    ['schemaVersion 3', JSON.stringify({ schemaVersion: 3, mediaType: OCI_MANIFEST, config: {}, layers: [] }), OCI_MANIFEST],
    ['mediaType disagreeing with Content-Type', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] }), OCI_MANIFEST],
    ['an unknown Content-Type', JSON.stringify({ schemaVersion: 2, manifests: [] }), 'text/plain'],
    ['a config without digest', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', size: 1 }, layers: [] }), OCI_MANIFEST],
    ['a negative size', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: sha256('a'), size: -1 }, layers: [] }), OCI_MANIFEST],
    ['layers not an array', JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, config: { mediaType: 'x', digest: sha256('a'), size: 1 }, layers: 'no' }), OCI_MANIFEST],
    ['an index with layers', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], layers: [] }), OCI_INDEX],
    ['non-string annotations', JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [], annotations: { a: 1 } }), OCI_INDEX],
  ];
  for (const [what, body, type] of invalid) {
    test(`${what} is 400 MANIFEST_INVALID`, async () => {
      const res = await put(h, 'm/invalid', 'v1', body, type).expect(400);
      assert.equal(errorCode(res), 'MANIFEST_INVALID');
    });
  }

  test('a manifest over limits.manifestsize is 413 SIZE_INVALID', async () => {
    const huge = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const res = await put(h, 'm/huge', 'v1', huge).expect(413);
    assert.equal(errorCode(res), 'SIZE_INVALID');
  });

  test('an invalid tag is 400 TAG_INVALID; an invalid digest reference DIGEST_INVALID', async () => {
    assert.equal(errorCode(await request(h.app).get(`/v2/m/app/manifests/${'t'.repeat(129)}`).expect(400)), 'TAG_INVALID');
    assert.equal(errorCode(await request(h.app).get('/v2/m/app/manifests/-bad').expect(400)), 'TAG_INVALID');
    assert.equal(errorCode(await request(h.app).get('/v2/m/app/manifests/sha256:123').expect(400)), 'DIGEST_INVALID');
    assert.equal(errorCode(await put(h, 'm/app', '.dot', '{}').expect(400)), 'TAG_INVALID');
  });

  test('unknown manifest: MANIFEST_UNKNOWN in a known repository, NAME_UNKNOWN otherwise', async () => {
    await pushImage(h.app, 'm/known', 'v1');
    assert.equal(errorCode(await request(h.app).get('/v2/m/known/manifests/nope').expect(404)), 'MANIFEST_UNKNOWN');
    assert.equal(errorCode(await request(h.app).get('/v2/m/never/manifests/nope').expect(404)), 'NAME_UNKNOWN');
    await request(h.app).head('/v2/m/known/manifests/nope').expect(404);
  });

  test('moving a tag: the tag follows the latest PUT', async () => {
    const a = await pushImage(h.app, 'm/move', 'latest', {}, ['a']);
    const b = await pushImage(h.app, 'm/move', 'latest', {}, ['b']);
    const res = await request(h.app).head('/v2/m/move/manifests/latest').expect(200);
    assert.equal(res.headers['docker-content-digest'], b.digest);
    await request(h.app).head(`/v2/m/move/manifests/${a.digest}`).expect(200);
  });

  test('DELETE by tag removes the tag only; by digest removes the manifest and its tags', async () => {
    const img = await pushImage(h.app, 'm/del', 'one');
    await put(h, 'm/del', 'two', img.manifest).expect(201);
    await request(h.app).delete('/v2/m/del/manifests/one').expect(202);
    await request(h.app).get('/v2/m/del/manifests/one').expect(404);
    await request(h.app).get(`/v2/m/del/manifests/${img.digest}`).expect(200);
    await request(h.app).delete(`/v2/m/del/manifests/${img.digest}`).expect(202);
    await request(h.app).get('/v2/m/del/manifests/two').expect(404);
    await request(h.app).get(`/v2/m/del/manifests/${img.digest}`).expect(404);
    assert.equal(errorCode(await request(h.app).delete(`/v2/m/del/manifests/${img.digest}`).expect(404)), 'MANIFEST_UNKNOWN');
    const tags = await request(h.app).get('/v2/m/del/tags/list').expect(200);
    assert.deepEqual(tags.body, { name: 'm/del', tags: [] });
  });
});

describe('manifests: deletes disabled', () => {
  test('DELETE of a manifest is 405 UNSUPPORTED and it stays', async () => {
    const h = await openHarness({ BERTH_DELETE_ENABLED: 'false' });
    try {
      const img = await pushImage(h.app, 'keep/it', 'v1');
      assert.equal(errorCode(await request(h.app).delete(`/v2/keep/it/manifests/${img.digest}`).expect(405)), 'UNSUPPORTED');
      await request(h.app).delete('/v2/keep/it/manifests/v1').expect(405);
      await request(h.app).get('/v2/keep/it/manifests/v1').expect(200);
    } finally {
      await h.close();
    }
  });
});
