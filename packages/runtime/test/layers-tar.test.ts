import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidTarError } from '../src/layers/errors.js';
import { parseNumber, parsePax } from '../src/layers/tar/header.js';
import { TarReader, type TarHeader } from '../src/layers/tar/reader.js';
import { headerBlocks } from '../src/layers/tar/writer.js';
import { file, headerBlock, sha256, tarBytes } from './layers-support.js';

/** Splits a buffer into chunks of `size`, so headers and records straddle chunk borders. */
async function* chunked(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function read(data: Buffer, chunk = 7): Promise<{ headers: TarHeader[]; bodies: string[]; digest: string }> {
  const reader = new TarReader(chunked(data, chunk));
  const headers: TarHeader[] = [];
  const bodies: string[] = [];
  for await (const e of reader.entries()) {
    headers.push(e.header);
    const parts: Buffer[] = [];
    for await (const c of e.body()) parts.push(Buffer.from(c));
    bodies.push(Buffer.concat(parts).toString());
  }
  return { headers, bodies, digest: reader.digest() };
}

describe('tar reader', () => {
  test('chunk borders anywhere: same members, same digest', async () => {
    const data = tarBytes([file('a', 'x'.repeat(1000)), file('b', ''), file('c', 'y'.repeat(513), { pax: { path: 'p'.repeat(300) } })]);
    for (const size of [1, 7, 511, 512, 513, 1 << 20]) {
      const r = await read(data, size);
      assert.deepEqual(
        r.headers.map((h) => h.name),
        ['a', 'b', 'p'.repeat(300)],
      );
      assert.deepEqual(
        r.bodies.map((b) => b.length),
        [1000, 0, 513],
      );
      assert.equal(r.digest, sha256(data));
    }
  });

  test('bodies left unread are skipped', async () => {
    const reader = new TarReader(chunked(tarBytes([file('a', 'x'.repeat(5000)), file('b', 'bb')]), 100));
    const names: string[] = [];
    for await (const e of reader.entries()) names.push(e.header.name);
    assert.deepEqual(names, ['a', 'b']);
  });

  test('numbers: octal with spaces and NULs, GNU base-256, garbage refused', () => {
    const f = (bytes: number[]): Buffer => Buffer.from(bytes);
    assert.equal(parseNumber(Buffer.from(' 0755 \0'), 0, 7, 'mode'), 0o755);
    assert.equal(parseNumber(Buffer.from('\0\0\0\0'), 0, 4, 'mode'), 0);
    assert.equal(parseNumber(f([0x80, 0, 0, 0, 0, 0, 0x2d, 0xc6, 0xc0]), 0, 9, 'uid'), 3_000_000);
    assert.throws(() => parseNumber(Buffer.from('12x4'), 0, 4, 'size'), InvalidTarError);
    assert.throws(() => parseNumber(f([0xff, 0xff, 0xff, 0xff]), 0, 4, 'size'), /negative/);
  });

  test('pax records: lengths must add up; a global header is not applied', async () => {
    assert.deepEqual([...parsePax(Buffer.from('11 path=ab\n'))].map(([k, v]) => [k, v.toString()]), [['path', 'ab']]);
    assert.throws(() => parsePax(Buffer.from('12 path=ab\n')), InvalidTarError);
    assert.throws(() => parsePax(Buffer.from('99999999999999 path=ab\n')), InvalidTarError);
    assert.throws(() => parsePax(Buffer.from('6 =ab\n')), /no key/);
    const g = Buffer.from('15 path=global\n');
    const data = Buffer.concat([headerBlock({ name: 'g', flag: 'g', size: g.length }), g, Buffer.alloc(512 - g.length), tarBytes([file('own', 'o')])]);
    assert.deepEqual(
      (await read(data)).headers.map((h) => h.name),
      ['own'],
    );
  });

  test('pax numbers are checked: a size that is not a number is refused', async () => {
    await assert.rejects(read(tarBytes([file('a', 'x', { pax: { size: '1e3' } })])), /invalid pax size/);
    await assert.rejects(read(tarBytes([file('a', 'x', { pax: { uid: '-1' } })])), /invalid pax uid/);
  });

  test('our writer (diffToLayer) round-trips through our reader: long names, big ids, xattrs, devices', async () => {
    const long = `dir/${'é'.repeat(80)}`;
    const data = Buffer.concat([
      headerBlocks({ name: long, type: 'file', mode: 0o4755, uid: 3_000_000, gid: 7, size: 3, mtime: 1_600_000_000, xattrs: new Map([['security.capability', Buffer.from([1, 2, 0, 3])]]) }),
      Buffer.from('abc'),
      Buffer.alloc(509),
      headerBlocks({ name: 'l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtime: 1, linkname: 't'.repeat(200) }),
      headerBlocks({ name: 'dev/null', type: 'char', mode: 0o666, uid: 0, gid: 0, size: 0, mtime: 1, devmajor: 1, devminor: 3 }),
      Buffer.alloc(1024),
    ]);
    const { headers, bodies } = await read(data, 100);
    const [f, l, d] = headers;
    assert.equal(f?.name, long);
    assert.deepEqual([f?.mode, f?.uid, f?.gid, f?.mtime, bodies[0]], [0o4755, 3_000_000, 7, 1_600_000_000, 'abc']);
    assert.deepEqual([...(f?.xattrs ?? [])], [['security.capability', Buffer.from([1, 2, 0, 3])]]);
    assert.equal(l?.linkname, 't'.repeat(200));
    assert.deepEqual([d?.type, d?.devmajor, d?.devminor], ['char', 1, 3]);
  });
});
