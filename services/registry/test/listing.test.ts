import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { errorCode, openHarness, pushImage, type Harness } from './harness.js';

describe('tags list and catalog', () => {
  let h: Harness;
  const tags = ['1.0', '1.1', '2.0', 'alpha', 'beta', 'latest'];
  before(async () => {
    h = await openHarness({ BERTH_LIMITS_PAGESIZE: '4' });
    const img = await pushImage(h.app, 'list/app', 'latest');
    for (const t of tags) {
      await request(h.app).put(`/v2/list/app/manifests/${t}`).set('Content-Type', 'application/vnd.oci.image.manifest.v1+json').send(img.manifest.toString()).expect(201);
    }
    for (const r of ['zeta/x', 'alpha/y', 'mid/z']) await pushImage(h.app, r, 'v1');
  });
  after(() => h.close());

  test('tags are listed in lexical order', async () => {
    const res = await request(h.app).get('/v2/list/app/tags/list?n=100').expect(200);
    assert.deepEqual(res.body, { name: 'list/app', tags: tags.slice(0, 4) });
  });

  test('n and last paginate, with a Link to the next page', async () => {
    const first = await request(h.app).get('/v2/list/app/tags/list?n=2').expect(200);
    assert.deepEqual((first.body as { tags: string[] }).tags, ['1.0', '1.1']);
    assert.equal(first.headers['link'], '</v2/list/app/tags/list?n=2&last=1.1>; rel="next"');
    const second = await request(h.app).get('/v2/list/app/tags/list?n=2&last=1.1').expect(200);
    assert.deepEqual((second.body as { tags: string[] }).tags, ['2.0', 'alpha']);
    const last = await request(h.app).get('/v2/list/app/tags/list?n=2&last=beta').expect(200);
    assert.deepEqual((last.body as { tags: string[] }).tags, ['latest']);
    assert.equal(last.headers['link'], undefined);
  });

  test('without n, one capped page comes back with a Link', async () => {
    const res = await request(h.app).get('/v2/list/app/tags/list').expect(200);
    assert.equal((res.body as { tags: string[] }).tags.length, 4);
    assert.equal(res.headers['link'], '</v2/list/app/tags/list?n=4&last=alpha>; rel="next"');
  });

  test('a huge n is capped at the page size', async () => {
    const res = await request(h.app).get('/v2/list/app/tags/list?n=999999999').expect(200);
    assert.equal((res.body as { tags: string[] }).tags.length, 4);
  });

  test('n=0 returns an empty list', async () => {
    const res = await request(h.app).get('/v2/list/app/tags/list?n=0').expect(200);
    assert.deepEqual(res.body, { name: 'list/app', tags: [] });
  });

  for (const n of ['-1', 'abc', '1e3', '99999999999999999999']) {
    test(`n=${n} is 400 PAGINATION_NUMBER_INVALID`, async () => {
      assert.equal(errorCode(await request(h.app).get(`/v2/list/app/tags/list?n=${n}`).expect(400)), 'PAGINATION_NUMBER_INVALID');
    });
  }

  test('tags of an unknown repository: 404 NAME_UNKNOWN', async () => {
    assert.equal(errorCode(await request(h.app).get('/v2/no/such/tags/list').expect(404)), 'NAME_UNKNOWN');
  });

  test('the catalog lists repositories in order, paginated', async () => {
    const res = await request(h.app).get('/v2/_catalog?n=2').expect(200);
    assert.deepEqual(res.body, { repositories: ['alpha/y', 'list/app'] });
    assert.equal(res.headers['link'], '</v2/_catalog?n=2&last=list%2Fapp>; rel="next"');
    const next = await request(h.app).get('/v2/_catalog?n=2&last=list/app').expect(200);
    assert.deepEqual(next.body, { repositories: ['mid/z', 'zeta/x'] });
  });
});
