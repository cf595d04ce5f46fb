import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InvalidReferenceError, formatReference, parseReference } from '../src/reference.js';

const D = 'sha256:' + 'a'.repeat(64);

describe('image references (docker normalisation)', () => {
  const cases: [string, string][] = [
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['user/app', 'docker.io/user/app:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app:v1', 'localhost:5000/app:v1'],
    ['127.0.0.1:5000/team/app:1.0', '127.0.0.1:5000/team/app:1.0'],
    ['registry.example.com/a/b/c:tag', 'registry.example.com/a/b/c:tag'],
    [`host:5000/a/b@${D}`, `host:5000/a/b@${D}`],
    [`host:5000/a/b:t@${D}`, `host:5000/a/b:t@${D}`],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
  ];
  for (const [input, canonical] of cases) {
    test(`${input} → ${canonical}`, () => {
      assert.equal(formatReference(parseReference(input)), canonical);
    });
  }

  test('a digest-only reference has no tag', () => {
    const r = parseReference(`app@${D}`);
    assert.equal(r.tag, undefined);
    assert.equal(r.digest, D);
  });

  for (const bad of ['', 'UPPER', 'docker.io/UPPER/x', 'app:', 'app:-bad', 'app@sha256:short', 'a//b', 'app:' + 't'.repeat(129), 'bad_host:5000:/x', 'x'.repeat(2000)]) {
    test(`"${bad.slice(0, 30)}" is refused with a clear error`, () => {
      assert.throws(() => parseReference(bad), (err: unknown) => err instanceof InvalidReferenceError && err.message.startsWith('invalid reference'));
    });
  }
});
