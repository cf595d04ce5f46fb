import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { OCI_INDEX, OCI_MANIFEST, errorCode, openHarness, pushBlob, pushImage, sha256, type Harness, type PushedImage } from './harness.js';

const EMPTY = '{}';

interface IndexBody {
  schemaVersion: number;
  mediaType: string;
  manifests: { mediaType: string; digest: string; size: number; artifactType?: string; annotations?: Record<string, string> }[];
}

describe('referrers API', () => {
  let h: Harness;
  let subject: PushedImage;
  let sbom: string;
  let sig: string;

  async function pushArtifact(artifactType: string, subjectDigest: string, subjectSize: number, note: string): Promise<{ digest: string; res: request.Response }> {
    const empty = await pushBlob(h.app, 'r/app', EMPTY);
    const layer = await pushBlob(h.app, 'r/app', note);
    const body = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: empty, size: 2 },
      layers: [{ mediaType: 'text/plain', digest: layer, size: Buffer.byteLength(note) }],
      subject: { mediaType: OCI_MANIFEST, digest: subjectDigest, size: subjectSize },
      annotations: { 'org.example.note': note },
    });
    const res = await request(h.app).put(`/v2/r/app/manifests/${sha256(body)}`).set('Content-Type', OCI_MANIFEST).send(body).expect(201);
    return { digest: sha256(body), res };
  }

  before(async () => {
    h = await openHarness();
    subject = await pushImage(h.app, 'r/app', 'v1');
    const a = await pushArtifact('application/spdx+json', subject.digest, subject.manifest.length, 'sbom');
    sbom = a.digest;
    assert.equal(a.res.headers['oci-subject'], subject.digest);
    sig = (await pushArtifact('application/vnd.dev.cosign.signature', subject.digest, subject.manifest.length, 'sig')).digest;
  });
  after(() => h.close());

  test('lists every manifest whose subject is the digest, as an image index', async () => {
    const res = await request(h.app).get(`/v2/r/app/referrers/${subject.digest}`).expect(200);
    assert.equal(res.headers['content-type'], OCI_INDEX);
    const body = JSON.parse(res.text) as IndexBody;
    assert.equal(body.schemaVersion, 2);
    assert.equal(body.mediaType, OCI_INDEX);
    assert.deepEqual(body.manifests.map((m) => m.digest).sort(), [sbom, sig].sort());
    const s = body.manifests.find((m) => m.digest === sbom);
    assert.equal(s?.artifactType, 'application/spdx+json');
    assert.equal(s?.mediaType, OCI_MANIFEST);
    assert.deepEqual(s?.annotations, { 'org.example.note': 'sbom' });
    assert.equal(res.headers['oci-filters-applied'], undefined);
  });

  test('artifactType filters, and says so in OCI-Filters-Applied', async () => {
    const res = await request(h.app).get(`/v2/r/app/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`).expect(200);
    assert.equal(res.headers['oci-filters-applied'], 'artifactType');
    const body = JSON.parse(res.text) as IndexBody;
    assert.deepEqual(body.manifests.map((m) => m.digest), [sbom]);
  });

  test('no referrers is an empty index, never a 404', async () => {
    const res = await request(h.app).get(`/v2/r/app/referrers/${sha256('nothing refers here')}`).expect(200);
    assert.deepEqual((JSON.parse(res.text) as IndexBody).manifests, []);
    await request(h.app).get(`/v2/r/unknown-repo/referrers/${sha256('x')}`).expect(200);
  });

  test('a subject not pushed yet is accepted and indexed', async () => {
    const future = sha256('future subject');
    const { digest, res } = await pushArtifact('application/example', future, 123, 'early');
    assert.equal(res.headers['oci-subject'], future);
    const list = await request(h.app).get(`/v2/r/app/referrers/${future}`).expect(200);
    assert.deepEqual((JSON.parse(list.text) as IndexBody).manifests.map((m) => m.digest), [digest]);
  });

  test('an image manifest without artifactType reports its config media type', async () => {
    const img = await pushImage(h.app, 'r/app', undefined, { subject: { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.manifest.length } }, ['plain child']);
    const res = await request(h.app).get(`/v2/r/app/referrers/${subject.digest}?artifactType=application/vnd.oci.image.config.v1%2Bjson`).expect(200);
    assert.deepEqual((JSON.parse(res.text) as IndexBody).manifests.map((m) => m.digest), [img.digest]);
  });

  test('deleting a referrer removes it from the list', async () => {
    const { digest } = await pushArtifact('application/tmp', subject.digest, subject.manifest.length, 'temporary');
    await request(h.app).delete(`/v2/r/app/manifests/${digest}`).expect(202);
    const res = await request(h.app).get(`/v2/r/app/referrers/${subject.digest}`).expect(200);
    assert.ok(!(JSON.parse(res.text) as IndexBody).manifests.some((m) => m.digest === digest));
  });

  test('an invalid digest is 400 DIGEST_INVALID', async () => {
    assert.equal(errorCode(await request(h.app).get('/v2/r/app/referrers/sha256:nope').expect(400)), 'DIGEST_INVALID');
  });
});
