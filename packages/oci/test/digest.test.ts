import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createDigester, digestOf, isDigest, parseDigest } from '../src/index.js';

const HEX64 = 'a'.repeat(32) + '0123456789abcdef'.repeat(2);
const HEX128 = HEX64 + HEX64.split('').reverse().join('');

describe('parseDigest', () => {
  test('accepts a sha256 digest and returns its parts', () => {
    const value = `sha256:${HEX64}`;
    assert.deepEqual(parseDigest(value), { algorithm: 'sha256', hex: HEX64, digest: value });
  });

  test('accepts a sha512 digest and returns its parts', () => {
    const value = `sha512:${HEX128}`;
    assert.deepEqual(parseDigest(value), { algorithm: 'sha512', hex: HEX128, digest: value });
  });

  test('accepts a real digest of content', () => {
    const d = digestOf(Buffer.from('hello'));
    assert.equal(d, 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
    assert.equal(isDigest(d), true);
  });

  test('refuses a sha256 digest of the wrong length as invalid', () => {
    assert.equal(parseDigest(`sha256:${HEX64.slice(1)}`), 'invalid');
    assert.equal(parseDigest(`sha256:${HEX64}0`), 'invalid');
    assert.equal(parseDigest('sha256:a'), 'invalid');
  });

  test('refuses a sha512 digest with a sha256-length hex as invalid', () => {
    assert.equal(parseDigest(`sha512:${HEX64}`), 'invalid');
    assert.equal(parseDigest(`sha256:${HEX128}`), 'invalid');
  });

  test('refuses an empty encoded part and an empty string', () => {
    assert.equal(parseDigest('sha256:'), 'invalid');
    assert.equal(parseDigest(''), 'invalid');
    assert.equal(parseDigest(':'), 'invalid');
  });

  // The image-spec requires lower-case hex for sha256/sha512: this is a malformed
  // digest of a supported algorithm, not an unsupported algorithm.
  test('uppercase hex of a supported algorithm is invalid, not unsupported', () => {
    assert.equal(parseDigest(`sha256:${HEX64.toUpperCase()}`), 'invalid');
    assert.equal(parseDigest(`sha512:${HEX128.toUpperCase()}`), 'invalid');
  });

  test('a non-hex encoded part of a supported algorithm is invalid, not unsupported', () => {
    assert.equal(parseDigest(`sha256:${'g'.repeat(64)}`), 'invalid');
  });

  test('an uppercase algorithm name is invalid', () => {
    assert.equal(parseDigest(`SHA256:${HEX64}`), 'invalid');
  });

  test('refuses unregistered algorithms as unsupported', () => {
    assert.equal(parseDigest('md5:d41d8cd98f00b204e9800998ecf8427e'), 'unsupported');
    assert.equal(parseDigest(`sha384:${'ab'.repeat(48)}`), 'unsupported');
    assert.equal(parseDigest('blake3:abc'), 'unsupported');
    assert.equal(parseDigest('sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564'), 'unsupported');
  });

  test('refuses garbage as invalid', () => {
    for (const value of [
      'sha256',
      `${HEX64}`,
      `sha256:${HEX64}\n`,
      ` sha256:${HEX64}`,
      `sha256 :${HEX64}`,
      `sha256::${HEX64}`,
      'sha256:../../etc/passwd',
      '../etc/passwd',
      'md5:abc/def',
      'a:b:c',
      `sha256:${HEX64.slice(0, 32)}/${HEX64.slice(32)}`,
      '-sha:abc',
      'sha..256:abc',
    ]) {
      assert.equal(parseDigest(value), 'invalid', JSON.stringify(value));
    }
  });

  test('refuses very long strings as invalid', () => {
    assert.equal(parseDigest(`sha256:${'a'.repeat(10_000)}`), 'invalid');
    assert.equal(parseDigest(`md5:${'a'.repeat(10_000)}`), 'invalid');
    assert.equal(parseDigest('x'.repeat(1_000_000)), 'invalid');
  });

  test('a grammatical unsupported digest of 257 characters or more is invalid', () => {
    const longest = `md5:${'a'.repeat(252)}`;
    assert.equal(longest.length, 256);
    assert.equal(parseDigest(longest), 'unsupported');
    assert.equal(parseDigest(`${longest}a`), 'invalid');
  });

  test('isDigest is true only for a parsed digest', () => {
    assert.equal(isDigest(`sha256:${HEX64}`), true);
    assert.equal(isDigest(`sha512:${HEX128}`), true);
    assert.equal(isDigest('md5:d41d8cd98f00b204e9800998ecf8427e'), false);
    assert.equal(isDigest('nope'), false);
  });
});

describe('digestOf and createDigester', () => {
  test('digestOf hashes with sha256 by default', () => {
    assert.equal(digestOf(new Uint8Array()), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  test('digestOf with sha512 yields a parseable sha512 digest', () => {
    const d = digestOf(new Uint8Array(), 'sha512');
    assert.equal(
      d,
      'sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e',
    );
    assert.equal(typeof parseDigest(d), 'object');
  });

  test('digestOf hashes only the view, not the whole underlying buffer', () => {
    const whole = Buffer.from('xxhelloyy');
    assert.equal(digestOf(whole.subarray(2, 7)), digestOf(Buffer.from('hello')));
  });

  test('createDigester hashes incrementally to the same result', () => {
    const h = createDigester('sha256');
    h.update('hel');
    h.update('lo');
    assert.equal(`sha256:${h.digest('hex')}`, digestOf(Buffer.from('hello')));
  });
});
