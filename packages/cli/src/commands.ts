import { readFile } from 'node:fs/promises';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RegistryClient, findCredentials, loggedInRegistries, parsePlatform, pullImage, pushImage, pushIndex, removeCredentials, saveCredentials, type BlobWriter, type Credentials, type PullEvent, type PullSink, type PushEvent } from '@berth/client';
import { formatReference, parseReference, type Descriptor } from '@berth/oci';
import type { LocalStore, NameRow } from '@berth/store';
import { findLocal, referenceOf, repositoryKey } from './local.js';
import { ProgressBoard } from './progress.js';
import { imageSource, indexSource } from './push-source.js';
import { imageUse, pruneLayerCache } from './image-use.js';
import { humanSize, shortDigest, shortId, table, type OutputFormat } from './output.js';

export interface Io {
  out(text: string): void;
  /** Set when standard output is a terminal: progress is drawn in place. */
  readonly terminal?: { readonly columns: number };
}

export interface RemoteOptions {
  readonly creds?: string;
  readonly insecure?: boolean;
  readonly quiet?: boolean;
}

/** `--creds user:password` (the password may also come from BERTH_PASSWORD). */
export function credentials(creds: string | undefined, env: NodeJS.ProcessEnv = process.env): Credentials | undefined {
  if (creds === undefined) return undefined;
  const colon = creds.indexOf(':');
  if (colon === -1) return { username: creds, password: env['BERTH_PASSWORD'] ?? '' };
  return { username: creds.slice(0, colon), password: creds.slice(colon + 1) };
}

/** A client for the registry: `--creds` when given, else credentials stored by login, podman or docker. */
export async function clientFor(registry: string, opts: RemoteOptions): Promise<RegistryClient> {
  const creds = credentials(opts.creds) ?? (await findCredentials(registry));
  return new RegistryClient({ registry, insecure: opts.insecure === true, userAgent: 'berth', ...(creds !== undefined ? { credentials: creds } : {}) });
}

/** Checks the credentials against the registry, then stores them in Berth's auth file. */
export async function login(io: Io, registry: string, creds: Credentials, opts: { insecure?: boolean }): Promise<void> {
  const host = registryHost(registry);
  const client = new RegistryClient({ registry: host, insecure: opts.insecure === true, userAgent: 'berth', credentials: creds });
  await client.checkLogin();
  const file = await saveCredentials(host, creds);
  io.out(`Login Succeeded (credentials stored in ${file})\n`);
}

export async function logout(io: Io, registry: string): Promise<void> {
  const host = registryHost(registry);
  if (!(await removeCredentials(host))) throw new Error(`not logged in to ${host}`);
  io.out(`Removed login credentials for ${host}\n`);
}

/** A registry host as image references name it ("docker.io" for Docker Hub's aliases). */
export function registryHost(input: string): string {
  const host = input.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(host)) throw new Error(`invalid registry "${input.slice(0, 200)}"`);
  return ['index.docker.io', 'registry-1.docker.io'].includes(host) ? 'docker.io' : host;
}

/**
 * `berth pull`. With `unpack` (berth run of an image not here yet), each layer downloaded
 * is also unpacked into the layer cache while it streams in (see pullUnpacker); the pull
 * returns once those unpacks have finished too.
 */
export async function pull(store: LocalStore, io: Io, input: string, opts: RemoteOptions & { platform?: string; allPlatforms?: boolean; unpack?: boolean }): Promise<void> {
  const ref = parseReference(input);
  const name = formatReference(ref);
  const platform = opts.platform !== undefined ? parsePlatform(opts.platform) : undefined;
  const session = store.session();
  const say = (line: string): void => {
    if (opts.quiet !== true) io.out(`${line}\n`);
  };
  say(`Pulling ${name}`);
  const board = opts.quiet !== true && io.terminal !== undefined ? new ProgressBoard((t) => io.out(t), io.terminal.columns) : undefined;
  const writers = new Map<string, BlobWriter>();
  const sink: PullSink = {
    present: (d) => session.present(d),
    writer: async (d, size, signal) => {
      const w = await session.writer(d, size, signal);
      if (w !== undefined) writers.set(d, w);
      return w;
    },
    putBytes: (d, bytes) => session.putBytes(d, bytes),
  };
  const onEvent = (e: PullEvent): void => {
    if (board !== undefined) {
      if (e.type === 'exists') board.set(shortId(e.digest), 'Already exists');
      else if (e.type === 'downloading') board.set(shortId(e.digest), e.offset > 0 ? 'Resuming' : 'Downloading', { current: () => writers.get(e.digest)?.offset ?? 0, total: e.size });
      else if (e.type === 'done') board.set(shortId(e.digest), 'Pull complete');
      return;
    }
    if (e.type === 'exists') say(`${shortDigest(e.digest)}: already exists`);
    else if (e.type === 'downloading') say(`${shortDigest(e.digest)}: downloading ${humanSize(e.size)}${e.offset > 0 ? ` (resuming at ${humanSize(e.offset)})` : ''}`);
    else if (e.type === 'done') say(`${shortDigest(e.digest)}: done`);
  };
  const unpacker = opts.unpack === true ? (await import('@berth/runtime/layers')).pullUnpacker(store) : undefined;
  try {
    // a no-op pull (image stored, name unchanged) writes nothing: no leases, no transaction
    const isStored = (digest: string): boolean => store.getImage(digest) !== undefined;
    const pulled = await pullImage(await clientFor(ref.registry, opts), ref, sink, {
      ...(platform !== undefined ? { platform } : {}),
      ...(opts.allPlatforms === true ? { allPlatforms: true } : { isStored }),
      ...(unpacker !== undefined ? { layerTap: (layer: Descriptor, position: number, config: Descriptor) => unpacker.tap(layer, position, config) } : {}),
      onEvent,
    }).finally(async () => {
      board?.stop();
      await unpacker?.settle();
    });
    const size = [pulled.config, ...pulled.layers].reduce((n, d) => n + d.size, 0);
    const nameRow: NameRow = {
      repository: repositoryKey(ref),
      tag: ref.tag ?? '',
      imageDigest: pulled.manifest.digest,
      indexDigest: pulled.index?.digest,
    };
    const current = store.getName(nameRow.repository, nameRow.tag);
    if (!pulled.alreadyStored || current?.imageDigest !== nameRow.imageDigest || current.indexDigest !== nameRow.indexDigest) {
      session.record(
        { digest: pulled.manifest.digest, mediaType: pulled.manifest.mediaType, configDigest: pulled.config.digest, size, blobs: pulled.blobs },
        [nameRow],
      );
    }
    say(`Digest: ${pulled.index?.digest ?? pulled.manifest.digest}`);
    if (opts.quiet === true) io.out(`${name}\n`);
    else say(`Pulled ${name} (image ${shortId(pulled.config.digest)}, ${humanSize(size)})`);
  } catch (err) {
    session.abort();
    throw err;
  }
}

export async function push(store: LocalStore, io: Io, input: string, opts: RemoteOptions & { chunkSize?: number }): Promise<void> {
  const ref = parseReference(input);
  const { image, name } = findLocal(store, input);
  // another repository on the same registry holding this image: mount its blobs
  const mountFrom = store
    .namesOf(image.digest)
    .map(referenceOf)
    .find((r) => r.registry === ref.registry && r.repository !== ref.repository)?.repository;
  const say = (line: string): void => {
    if (opts.quiet !== true) io.out(`${line}\n`);
  };
  say(`Pushing ${formatReference(ref)}`);
  const board = opts.quiet !== true && io.terminal !== undefined ? new ProgressBoard((t) => io.out(t), io.terminal.columns) : undefined;
  const sent = new Map<string, number>();
  const onEvent = (e: PushEvent): void => {
    if (e.type === 'manifest') return;
    const status = e.type === 'exists' ? 'already exists' : e.type === 'mounted' ? `mounted from ${mountFrom ?? '?'}` : 'pushed';
    if (board !== undefined) board.set(shortId(e.digest), status.charAt(0).toUpperCase() + status.slice(1));
    else say(`${shortDigest(e.digest)}: ${status}`);
  };
  const sizes = new Map<string, number>();
  const open = (d: string, range?: { start: number; end: number }): Readable => {
    const stream = range === undefined ? store.openBlob(d) : store.openBlob(d, range);
    if (board === undefined) return stream;
    const total = sizes.get(d) ?? 0;
    if (range === undefined || range.start === 0) sent.set(d, range?.start ?? 0);
    board.set(shortId(d), 'Pushing', { current: () => sent.get(d) ?? 0, total });
    return counted(stream, (n) => sent.set(d, (sent.get(d) ?? 0) + n));
  };
  // the whole index when the store has all of it (pull --all-platforms), else the platform's image
  const whole = name?.indexDigest !== undefined && ref.digest === undefined ? await indexSource(store, name.indexDigest, open) : undefined;
  const single = await imageSource(store, image.digest, image.mediaType, open);
  for (const source of whole?.children ?? [single]) for (const b of source.blobs) sizes.set(b.digest, b.size);
  const client = await clientFor(ref.registry, opts);
  const pushOptions = { mountFrom, onEvent, ...(opts.chunkSize !== undefined ? { monolithicMax: opts.chunkSize, chunkSize: opts.chunkSize } : {}) };
  const digest = await (whole !== undefined ? pushIndex(client, ref, whole, pushOptions) : pushImage(client, ref, single, pushOptions)).finally(() => board?.stop());
  store.tag({ repository: repositoryKey(ref), tag: ref.tag ?? '', imageDigest: image.digest, indexDigest: whole !== undefined ? digest : undefined });
  if (opts.quiet === true) io.out(`${digest}\n`);
  else say(`Digest: ${digest}`);
}

/** The stream, counting the bytes that pass (errors reach the returned stream). */
function counted(source: Readable, add: (bytes: number) => void): Readable {
  const tap = new Transform({
    transform(chunk: Buffer, _enc, cb): void {
      add(chunk.length);
      cb(null, chunk);
    },
  });
  pipeline(source, tap).catch(() => undefined);
  return tap;
}

export function images(store: LocalStore, io: Io, opts: { quiet?: boolean; digests?: boolean; format: OutputFormat }): void {
  const names = store.names();
  const rows = store.images().flatMap((image) => {
    const own = names.filter((n) => n.imageDigest === image.digest);
    return (own.length > 0 ? own : [undefined]).map((n) => ({ image, name: n }));
  });
  if (opts.quiet === true) {
    const seen = new Set<string>();
    for (const r of rows) {
      const id = shortId(r.image.configDigest);
      if (!seen.has(id)) io.out(`${id}\n`);
      seen.add(id);
    }
    return;
  }
  if (opts.format === 'json') {
    for (const { image, name } of rows) {
      io.out(
        `${JSON.stringify({
          Repository: name?.repository ?? '<none>',
          Tag: name !== undefined && name.tag !== '' ? name.tag : '<none>',
          Digest: name?.indexDigest ?? image.digest,
          ID: shortId(image.configDigest),
          CreatedAt: new Date(image.createdAt).toISOString(),
          Size: humanSize(image.size),
        })}\n`,
      );
    }
    return;
  }
  const header = ['REPOSITORY', 'TAG', ...(opts.digests === true ? ['DIGEST'] : []), 'IMAGE ID', 'SIZE'];
  io.out(
    table(
      header,
      rows.map(({ image, name }) => [
        name?.repository ?? '<none>',
        name !== undefined && name.tag !== '' ? name.tag : '<none>',
        ...(opts.digests === true ? [name?.indexDigest ?? image.digest] : []),
        shortId(image.configDigest),
        humanSize(image.size),
      ]),
    ),
  );
}

export function tag(store: LocalStore, source: string, target: string): void {
  const { image, name } = findLocal(store, source);
  const ref = parseReference(target);
  if (ref.digest !== undefined) throw new Error(`cannot tag with a digest: ${target}`);
  store.tag({ repository: repositoryKey(ref), tag: ref.tag ?? 'latest', imageDigest: image.digest, indexDigest: name?.indexDigest });
}

/**
 * Removes names (or, by id, a whole image), then images left nameless and their blobs, as
 * docker does; an image a container was made from is refused while that container exists.
 * Layers unpacked for images that are gone leave the layer cache.
 */
export async function rmi(store: LocalStore, io: Io, inputs: readonly string[]): Promise<void> {
  const use = await imageUse(store.paths.root);
  let removed = false;
  for (const input of inputs) {
    const { image, name } = findLocal(store, input);
    const lastName = name === undefined || store.namesOf(image.digest).length <= 1;
    const users = use?.containersOf.get(image.digest) ?? [];
    if (lastName && users.length > 0) throw new Error(`image ${input} is used by container ${users.join(', ')}: remove the container first (berth rm)`);
    const result = name !== undefined ? store.remove([{ repository: name.repository, tag: name.tag }]) : store.remove([], [image.digest]);
    if (name !== undefined) io.out(`Untagged: ${name.repository}${name.tag !== '' ? `:${name.tag}` : `@${image.digest}`}\n`);
    else io.out(`Untagged: ${result.untagged} name(s) of ${shortId(image.configDigest)}\n`);
    for (const d of result.deleted) io.out(`Deleted: ${d}\n`);
    removed ||= result.deleted.length > 0;
  }
  if (removed) await pruneLayerCache(store, use);
}

export async function inspect(store: LocalStore, io: Io, input: string): Promise<void> {
  const { image } = findLocal(store, input);
  const manifest = JSON.parse((await store.readBlob(image.digest)).toString('utf8')) as unknown;
  const config = JSON.parse((await store.readBlob(image.configDigest)).toString('utf8')) as unknown;
  const names = store.namesOf(image.digest);
  const out = {
    Id: image.configDigest,
    Digest: image.digest,
    MediaType: image.mediaType,
    RepoTags: names.filter((n) => n.tag !== '').map((n) => `${n.repository}:${n.tag}`),
    RepoDigests: [...new Set(names.map((n) => `${n.repository}@${n.indexDigest ?? image.digest}`))],
    Size: image.size,
    Manifest: manifest,
    Config: config,
  };
  io.out(`${JSON.stringify([out], null, 2)}\n`);
}

/** The client's version and, for each registry given (or logged in to), what it reports. */
export async function version(io: Io, opts: { registries: readonly string[]; format: OutputFormat }): Promise<void> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  const client = { Version: pkg.version ?? 'unknown', Node: process.version, Os: process.platform, Arch: process.arch };
  const hosts = opts.registries.length > 0 ? opts.registries.map(registryHost) : await loggedInRegistries();
  const registries = await Promise.all(
    hosts.map(async (host) => {
      try {
        const v = await new RegistryClient({ registry: host, userAgent: 'berth' }).version(AbortSignal.timeout(3000));
        return { Registry: host, Reachable: true, ApiVersion: v.api ?? null, Version: v.berth !== undefined ? `berth ${v.berth}` : null };
      } catch (err) {
        return { Registry: host, Reachable: false, Error: err instanceof Error ? err.message.split('\n')[0] : String(err) };
      }
    }),
  );
  if (opts.format === 'json') {
    io.out(`${JSON.stringify({ Client: client, Registries: registries })}\n`);
    return;
  }
  io.out(`berth version ${client.Version} (node ${client.Node}, ${client.Os}/${client.Arch})\n`);
  for (const r of registries) {
    if (!r.Reachable) io.out(`registry ${r.Registry}: unreachable (${'Error' in r ? r.Error : ''})\n`);
    else io.out(`registry ${r.Registry}: ${'Version' in r && r.Version !== null ? r.Version : 'version not reported'}, API ${'ApiVersion' in r && r.ApiVersion !== null ? r.ApiVersion : 'unknown'}\n`);
  }
}
