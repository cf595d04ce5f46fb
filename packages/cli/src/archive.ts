import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { hostPlatform, indexEntries, selectPlatform } from '@berth/client';
import { parseManifest, type ImageReference } from '@berth/oci';
import { familiarName, loadImages, saveImages, type ImageRow, type LocalStore } from '@berth/store';
import type { Io } from './commands.js';
import { findLocal, referenceOf } from './local.js';

/**
 * `berth save`: the images into one tar (OCI layout + docker's manifest.json). To a file
 * it writes a temporary file next to it and renames it when complete, so a failed save
 * leaves no half archive under the name; to stdout only when that is not a terminal.
 */
export async function save(store: LocalStore, inputs: readonly string[], opts: { output?: string }, stdout: Writable & { isTTY?: boolean }): Promise<void> {
  // one entry per image, with every name it is saved under
  const items = new Map<string, { image: ImageRow; names: ImageReference[] }>();
  for (const input of inputs) {
    const { image, name } = findLocal(store, input);
    const names = name !== undefined && name.tag !== '' ? [name] : store.namesOf(image.digest).filter((n) => n.tag !== '');
    const item = items.get(image.digest) ?? { image, names: [] };
    item.names.push(...names.map(referenceOf));
    items.set(image.digest, item);
  }
  if (opts.output === undefined) {
    if (stdout.isTTY === true) throw new Error('refusing to write an image archive to a terminal: use -o FILE or redirect standard output');
    await saveImages(store, [...items.values()], stdout);
    return;
  }
  const tmp = `${opts.output}.${randomUUID().slice(0, 8)}.tmp`;
  try {
    await saveImages(store, [...items.values()], createWriteStream(tmp, { highWaterMark: 1024 * 1024 }));
    const fh = await open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, opts.output);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/**
 * `berth load`: images from a tar file, or from standard input (spooled to a file in the
 * store's ingest directory first, since the archive's index may come last).
 */
export async function load(store: LocalStore, io: Io, opts: { input?: string }, stdin: Readable & { isTTY?: boolean }): Promise<void> {
  let path = opts.input;
  let spooled: string | undefined;
  if (path === undefined) {
    if (stdin.isTTY === true) throw new Error('no archive on standard input: use -i FILE or redirect standard input');
    spooled = join(store.paths.ingest, `load-${randomUUID()}.tar`);
    path = spooled;
    await pipeline(stdin, createWriteStream(spooled, { highWaterMark: 1024 * 1024 }));
  }
  try {
    const loaded = await loadImages(store, path, {
      choose: (bytes) => {
        const entries = indexEntries(parseManifest(bytes, undefined), bytes);
        return selectPlatform(entries, hostPlatform());
      },
    });
    if (loaded.length === 0) throw new Error('the archive holds no image');
    for (const image of loaded) {
      if (image.names.length === 0) io.out(`Loaded image ID: ${image.configDigest}\n`);
      for (const ref of image.names) io.out(`Loaded image: ${familiarName(ref)}\n`);
    }
  } finally {
    if (spooled !== undefined) await rm(spooled, { force: true });
  }
}
