import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_TABLE, RegistryError, errorBody, type ErrorCode, type ErrorKind } from '../src/index.js';

/** The distribution-spec codes plus the Distribution ones docker clients know. */
const CODES: readonly ErrorCode[] = [
  'BLOB_UNKNOWN',
  'BLOB_UPLOAD_INVALID',
  'BLOB_UPLOAD_UNKNOWN',
  'DIGEST_INVALID',
  'MANIFEST_BLOB_UNKNOWN',
  'MANIFEST_INVALID',
  'MANIFEST_UNKNOWN',
  'NAME_INVALID',
  'NAME_UNKNOWN',
  'SIZE_INVALID',
  'TAG_INVALID',
  'UNAUTHORIZED',
  'DENIED',
  'UNSUPPORTED',
  'TOOMANYREQUESTS',
  'RANGE_INVALID',
  'PAGINATION_NUMBER_INVALID',
  'UNAVAILABLE',
  'UNKNOWN',
];

const kinds = Object.keys(ERROR_TABLE) as ErrorKind[];

describe('ERROR_TABLE', () => {
  test('every kind has a 4xx/5xx status, a known code and a message', () => {
    assert.ok(kinds.length >= CODES.length);
    for (const kind of kinds) {
      const e = ERROR_TABLE[kind];
      assert.ok(Number.isInteger(e.status) && e.status >= 400 && e.status <= 599, `${kind} status ${e.status}`);
      assert.ok(CODES.includes(e.code), `${kind} code ${e.code}`);
      assert.equal(typeof e.message, 'string');
      assert.ok(e.message.length > 0, kind);
    }
  });

  test('every code is a kind that maps to itself', () => {
    for (const code of CODES) {
      assert.equal(ERROR_TABLE[code].code, code);
    }
  });

  test('statuses of the distribution-spec', () => {
    const expected: Partial<Record<ErrorKind, number>> = {
      BLOB_UNKNOWN: 404,
      BLOB_UPLOAD_UNKNOWN: 404,
      MANIFEST_UNKNOWN: 404,
      NAME_UNKNOWN: 404,
      DIGEST_INVALID: 400,
      MANIFEST_INVALID: 400,
      NAME_INVALID: 400,
      UNAUTHORIZED: 401,
      DENIED: 403,
      TOOMANYREQUESTS: 429,
      MANIFEST_TOO_LARGE: 413,
      BLOB_RANGE_NOT_SATISFIABLE: 416,
      METHOD_NOT_ALLOWED: 405,
    };
    for (const [kind, status] of Object.entries(expected)) {
      assert.equal(ERROR_TABLE[kind as ErrorKind].status, status, kind);
    }
  });
});

describe('RegistryError and errorBody', () => {
  test('defaults the message from the table', () => {
    const err = new RegistryError('BLOB_UNKNOWN');
    assert.ok(err instanceof Error);
    assert.equal(err.name, 'RegistryError');
    assert.equal(err.kind, 'BLOB_UNKNOWN');
    assert.equal(err.message, ERROR_TABLE.BLOB_UNKNOWN.message);
    assert.equal(err.entry, ERROR_TABLE.BLOB_UNKNOWN);
    assert.deepEqual(err.headers, {});
  });

  test('errorBody has the distribution-spec shape without detail when there is none', () => {
    const body = errorBody(new RegistryError('NAME_INVALID', 'bad name'));
    assert.deepEqual(body, { errors: [{ code: 'NAME_INVALID', message: 'bad name' }] });
    assert.equal('detail' in (body.errors[0] ?? {}), false);
  });

  test('errorBody carries the detail and the table code of a derived kind', () => {
    const err = new RegistryError('MANIFEST_TOO_LARGE', undefined, { limit: 4 }, { 'X-Test': '1' });
    assert.deepEqual(errorBody(err), { errors: [{ code: 'SIZE_INVALID', message: ERROR_TABLE.MANIFEST_TOO_LARGE.message, detail: { limit: 4 } }] });
    assert.deepEqual(err.headers, { 'X-Test': '1' });
    assert.equal(err.entry.status, 413);
  });

  test('errorBody of every kind serializes to JSON with one error', () => {
    for (const kind of kinds) {
      const parsed = JSON.parse(JSON.stringify(errorBody(new RegistryError(kind)))) as { errors: { code: string; message: string }[] };
      assert.equal(parsed.errors.length, 1);
      assert.equal(parsed.errors[0]?.code, ERROR_TABLE[kind].code);
    }
  });
});
