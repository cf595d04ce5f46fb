import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseChallenge, parsePlatform, registryBaseUrl, selectPlatform, TokenCache } from '../src/index.js';

describe('client units', () => {
  test('parses Basic and Bearer challenges', () => {
    assert.deepEqual(parseChallenge('Basic realm="Berth Registry"'), { scheme: 'basic', params: { realm: 'Berth Registry' } });
    assert.deepEqual(parseChallenge('Bearer realm="http://h/auth/token",service="berth-registry",scope="repository:a/b:pull,push",error="insufficient_scope"'), {
      scheme: 'bearer',
      params: { realm: 'http://h/auth/token', service: 'berth-registry', scope: 'repository:a/b:pull,push', error: 'insufficient_scope' },
    });
    assert.equal(parseChallenge('Negotiate abc'), undefined);
    assert.equal(parseChallenge(undefined), undefined);
  });

  test('tokens are reused until shortly before they expire', () => {
    const cache = new TokenCache();
    cache.set('repository:a:pull', 't1', 60, undefined, 1_000_000);
    assert.equal(cache.get('repository:a:pull', 1_000_000 + 40_000), 't1');
    assert.equal(cache.get('repository:a:pull', 1_000_000 + 55_000), undefined);
    assert.equal(cache.get('repository:b:pull', 1_000_000), undefined);
  });

  test('plain HTTP for loopback and insecure hosts, TLS otherwise', () => {
    assert.equal(registryBaseUrl('127.0.0.1:5000'), 'http://127.0.0.1:5000');
    assert.equal(registryBaseUrl('localhost:5000'), 'http://localhost:5000');
    assert.equal(registryBaseUrl('registry.example.com'), 'https://registry.example.com');
    assert.equal(registryBaseUrl('registry.example.com:5000', true), 'http://registry.example.com:5000');
    assert.equal(registryBaseUrl('docker.io'), 'https://registry-1.docker.io');
  });

  test('selects the platform from an index, arm64 variant normalised', () => {
    const d = (architecture: string, variant?: string) => ({
      mediaType: 'm',
      digest: `sha256:${architecture}${variant ?? ''}`,
      size: 1,
      platform: { os: 'linux', architecture, ...(variant !== undefined ? { variant } : {}) },
    });
    const entries = [d('amd64'), d('arm64', 'v8'), d('arm', 'v6'), d('arm', 'v7')];
    assert.equal(selectPlatform(entries, parsePlatform('linux/amd64'))?.digest, 'sha256:amd64');
    assert.equal(selectPlatform(entries, parsePlatform('linux/arm64'))?.digest, 'sha256:arm64v8');
    assert.equal(selectPlatform(entries, parsePlatform('linux/arm/v7'))?.digest, 'sha256:armv7');
    assert.equal(selectPlatform(entries, parsePlatform('linux/arm'))?.digest, 'sha256:armv7');
    assert.equal(selectPlatform(entries, parsePlatform('linux/s390x')), undefined);
    assert.throws(() => parsePlatform('linux'), /invalid platform/);
  });
});
