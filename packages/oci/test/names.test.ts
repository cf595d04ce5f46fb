import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_NAME_LENGTH, isValidRepositoryName, isValidTag } from '../src/index.js';

describe('isValidRepositoryName', () => {
  test('accepts names of the distribution-spec grammar', () => {
    for (const name of [
      'a',
      '0',
      'ubuntu',
      'library/ubuntu',
      'my-org/my-app',
      'a.b',
      'a_b',
      'a__b',
      'a-b',
      'a---b',
      'a.b_c__d-e/f0',
      'registry/sub/deep/deeper/name',
      'a/b/c/d/e/f/g',
      '123/456',
    ]) {
      assert.equal(isValidRepositoryName(name), true, name);
    }
  });

  test('refuses names outside the grammar', () => {
    for (const name of [
      '',
      'Ubuntu',
      'library/Ubuntu',
      'UPPER',
      '/leading',
      'trailing/',
      'a//b',
      '.a',
      '-a',
      '_a',
      'a.',
      'a-',
      'a_',
      'a..b',
      'a___b',
      'a_.b',
      'a.-b',
      'a/../b',
      '../a',
      'a/..',
      'a/./b',
      'a b',
      'a:b',
      'a@b',
      'a\\b',
      'a\nb',
      'a\n',
      'é',
      'a/\u0000',
    ]) {
      assert.equal(isValidRepositoryName(name), false, JSON.stringify(name));
    }
  });

  test('accepts a name of exactly 255 characters and refuses 256', () => {
    assert.equal(MAX_NAME_LENGTH, 255);
    const component = 'a'.repeat(50);
    const name255 = [component, component, component, component, component].join('/'); // 254
    assert.equal(isValidRepositoryName(`${name255}b`), true);
    assert.equal(`${name255}b`.length, 255);
    assert.equal(isValidRepositoryName(`${name255}bc`), false);
    assert.equal(isValidRepositoryName('a'.repeat(255)), true);
    assert.equal(isValidRepositoryName('a'.repeat(256)), false);
  });

  test('refuses a very long name quickly (no catastrophic backtracking)', () => {
    const started = Date.now();
    assert.equal(isValidRepositoryName(`${'a-'.repeat(100_000)}!`), false);
    assert.equal(isValidRepositoryName(`${'a-'.repeat(100)}!`), false);
    assert.ok(Date.now() - started < 1000);
  });
});

describe('isValidTag', () => {
  test('accepts tags of the distribution-spec grammar', () => {
    for (const tag of ['latest', 'v1', 'v1.2.3', '1.0.0-rc.1', '_private', 'UPPER', 'a', '0', 'x_y-z.w', 'sha256-abc.sig']) {
      assert.equal(isValidTag(tag), true, tag);
    }
  });

  test('refuses tags outside the grammar', () => {
    for (const tag of ['', '.hidden', '-dash', 'a/b', 'a:b', 'a@b', 'a+b', 'a b', 'a\n', '..', 'tag\u0000', 'é']) {
      assert.equal(isValidTag(tag), false, JSON.stringify(tag));
    }
  });

  test('accepts a tag of 128 characters and refuses 129', () => {
    assert.equal(isValidTag('a'.repeat(128)), true);
    assert.equal(isValidTag('a'.repeat(129)), false);
  });

  test('a digest is not a tag', () => {
    assert.equal(isValidTag(`sha256:${'a'.repeat(64)}`), false);
  });
});
