import { createReadStream, createWriteStream, lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { xattr } from './xattr.js';
import { OPAQUE_MARKER, OPAQUE_XATTR, WHITEOUT_PREFIX } from './apply.js';
import { major, minor } from './copy.js';
import { END_OF_ARCHIVE, headerBlocks, padding, type WriteHeader } from '@berth/tar';
import type { LayerBlob } from './types.js';

/**
 * Turns an overlay upperdir into an OCI layer (tar+gzip) at `outFile`, hashing the tar
 * (diff_id) and the gzip (digest) as they stream. Overlay's markers become OCI ones: a char
 * 0/0 node is a ".wh.<name>" member, a directory with trusted.overlay.opaque=y gets a
 * ".wh..wh..opq" member; overlay's own xattrs are dropped. Members are in sorted,
 * depth-first order with directories before their contents, hard links within the upper
 * layer kept. The file is written as <outFile>.partial and renamed when complete.
 */
export async function diffToLayer(upperDir: string, outFile: string): Promise<LayerBlob> {
  const tar = new HashTap();
  const gz = new HashTap();
  const partial = `${outFile}.partial`;
  try {
    await pipeline(Readable.from(walk(upperDir)), tar, process.getBuiltinModule('node:zlib').createGzip({ level: 6 }), gz, createWriteStream(partial, { flush: true }));
    await rename(partial, outFile);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
  return { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: gz.digest(), diffId: tar.digest(), size: gz.size };
}

async function* walk(root: string): AsyncGenerator<Buffer> {
  const links = new Map<string, string>();
  yield* walkDir(root, '', links);
  yield END_OF_ARCHIVE;
}

async function* walkDir(dir: string, prefix: string, links: Map<string, string>): AsyncGenerator<Buffer> {
  for (const name of readdirSync(dir).sort()) {
    const abs = join(dir, name);
    const rel = `${prefix}${name}`;
    const st = lstatSync(abs);
    if (st.isCharacterDevice() && st.rdev === 0) {
      yield headerBlocks({ name: `${prefix}${WHITEOUT_PREFIX}${name}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: seconds(st) });
      continue;
    }
    if (st.isDirectory()) {
      yield headerBlocks(header(abs, `${rel}/`, 'dir', st, 0));
      if (xattr().getAttributeSync(abs, OPAQUE_XATTR)?.toString() === 'y') {
        yield headerBlocks({ name: `${rel}/${OPAQUE_MARKER}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: seconds(st) });
      }
      yield* walkDir(abs, `${rel}/`, links);
      continue;
    }
    const key = `${st.dev}:${st.ino}`;
    const first = st.nlink > 1 ? links.get(key) : undefined;
    if (first !== undefined) {
      yield headerBlocks({ ...header(abs, rel, 'hardlink', st, 0), linkname: first, xattrs: new Map() });
      continue;
    }
    if (st.nlink > 1) links.set(key, rel);
    if (st.isFile()) {
      yield headerBlocks(header(abs, rel, 'file', st, st.size));
      let seen = 0;
      for await (const chunk of createReadStream(abs, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
        seen += chunk.length;
        if (seen > st.size) throw new Error(`${rel} grew while being committed`);
        yield chunk;
      }
      if (seen !== st.size) throw new Error(`${rel} shrank while being committed`);
      yield padding(st.size);
    } else if (st.isSymbolicLink()) {
      yield headerBlocks({ ...header(abs, rel, 'symlink', st, 0), linkname: readlinkSync(abs) });
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      yield headerBlocks({ ...header(abs, rel, st.isCharacterDevice() ? 'char' : 'block', st, 0), devmajor: major(st.rdev), devminor: minor(st.rdev) });
    } else if (st.isFIFO()) {
      yield headerBlocks(header(abs, rel, 'fifo', st, 0));
    } // sockets are not layer content
  }
}

function header(abs: string, name: string, type: WriteHeader['type'], st: Stats, size: number): WriteHeader {
  const xattrs = new Map<string, Buffer>();
  for (const key of xattr().listAttributesSync(abs)) {
    if (key.startsWith('trusted.overlay.')) continue;
    const value = xattr().getAttributeSync(abs, key);
    if (value !== null) xattrs.set(key, value);
  }
  return { name, type, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size, mtime: seconds(st), xattrs };
}

function seconds(st: Stats): number {
  return Math.floor(st.mtimeMs / 1000);
}

class HashTap extends Transform {
  private readonly hash = process.getBuiltinModule('node:crypto').createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
