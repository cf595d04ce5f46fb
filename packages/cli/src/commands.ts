import { readFile } from 'node:fs/promises';
import type { Credentials, PullEvent, PushEvent, RegistryClient } from '@berth/client';
import { formatReference, parseReference, type Descriptor } from '@berth/oci';
import type { LocalStore, NameRow } from '@berth/store';
import { findLocal, referenceOf, repositoryKey } from './local.js';
import { humanSize, shortDigest, shortId, table } from './output.js';

/** @berth/client loads undici (~100 ms): only commands that talk to a registry load it, so `berth run` and friends start fast. */
const registryClient = (): Promise<typeof import('@berth/client')> => import('@berth/client');

export interface Io {
  out(text: string): void;
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
async function clientFor(registry: string, opts: RemoteOptions): Promise<RegistryClient> {
  const { RegistryClient, findCredentials } = await registryClient();
  const creds = credentials(opts.creds) ?? (await findCredentials(registry));
  return new RegistryClient({ registry, insecure: opts.insecure === true, userAgent: 'berth', ...(creds !== undefined ? { credentials: creds } : {}) });
}

/** Checks the credentials against the registry, then stores them in Berth's auth file. */
export async function login(io: Io, registry: string, creds: Credentials, opts: { insecure?: boolean }): Promise<void> {
  const host = registryHost(registry);
  const { RegistryClient, saveCredentials } = await registryClient();
  const client = new RegistryClient({ registry: host, insecure: opts.insecure === true, userAgent: 'berth', credentials: creds });
  await client.checkLogin();
  const file = await saveCredentials(host, creds);
  io.out(`Login Succeeded (credentials stored in ${file})\n`);
}

export async function logout(io: Io, registry: string): Promise<void> {
  const host = registryHost(registry);
  if (!(await (await registryClient()).removeCredentials(host))) throw new Error(`not logged in to ${host}`);
  io.out(`Removed login credentials for ${host}\n`);
}

/** A registry host as image references name it ("docker.io" for Docker Hub's aliases). */
function registryHost(input: string): string {
  const host = input.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
  if (!/^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9a-fA-F:]+\](:\d{1,5})?$/.test(host)) throw new Error(`invalid registry "${input.slice(0, 200)}"`);
  return ['index.docker.io', 'registry-1.docker.io'].includes(host) ? 'docker.io' : host;
}

export async function pull(store: LocalStore, io: Io, input: string, opts: RemoteOptions & { platform?: string }): Promise<void> {
  const ref = parseReference(input);
  const name = formatReference(ref);
  const { parsePlatform, pullImage } = await registryClient();
  const platform = opts.platform !== undefined ? parsePlatform(opts.platform) : undefined;
  const session = store.session();
  const say = (line: string): void => {
    if (opts.quiet !== true) io.out(`${line}\n`);
  };
  say(`Pulling ${name}`);
  const onEvent = (e: PullEvent): void => {
    if (e.type === 'exists') say(`${shortDigest(e.digest)}: already exists`);
    else if (e.type === 'downloading') say(`${shortDigest(e.digest)}: downloading ${humanSize(e.size)}${e.offset > 0 ? ` (resuming at ${humanSize(e.offset)})` : ''}`);
    else if (e.type === 'done') say(`${shortDigest(e.digest)}: done`);
  };
  try {
    const pulled = await pullImage(await clientFor(ref.registry, opts), ref, session, { ...(platform !== undefined ? { platform } : {}), onEvent });
    const size = [pulled.config, ...pulled.layers].reduce((n, d) => n + d.size, 0);
    const nameRow: NameRow = {
      repository: repositoryKey(ref),
      tag: ref.tag ?? '',
      imageDigest: pulled.manifest.digest,
      indexDigest: pulled.index?.digest,
    };
    session.record(
      { digest: pulled.manifest.digest, mediaType: pulled.manifest.mediaType, configDigest: pulled.config.digest, size, blobs: pulled.blobs },
      [nameRow],
    );
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
  const { image } = findLocal(store, input);
  const manifest = await store.readBlob(image.digest);
  const parsed = JSON.parse(manifest.toString('utf8')) as { config: Descriptor; layers?: Descriptor[] };
  const blobs = [parsed.config, ...(parsed.layers ?? [])];
  // another repository on the same registry holding this image: mount its blobs
  const mountFrom = store
    .namesOf(image.digest)
    .map(referenceOf)
    .find((r) => r.registry === ref.registry && r.repository !== ref.repository)?.repository;
  const say = (line: string): void => {
    if (opts.quiet !== true) io.out(`${line}\n`);
  };
  say(`Pushing ${formatReference(ref)}`);
  const onEvent = (e: PushEvent): void => {
    if (e.type === 'manifest') return;
    say(`${shortDigest(e.digest)}: ${e.type === 'exists' ? 'already exists' : e.type === 'mounted' ? `mounted from ${mountFrom ?? '?'}` : 'pushed'}`);
  };
  const { pushImage } = await registryClient();
  const digest = await pushImage(
    await clientFor(ref.registry, opts),
    ref,
    {
      manifest: { mediaType: image.mediaType, bytes: manifest },
      blobs,
      open: (d, range) => (range === undefined ? store.openBlob(d) : store.openBlob(d, range)),
    },
    { mountFrom, onEvent, ...(opts.chunkSize !== undefined ? { monolithicMax: opts.chunkSize, chunkSize: opts.chunkSize } : {}) },
  );
  store.tag({ repository: repositoryKey(ref), tag: ref.tag ?? '', imageDigest: image.digest, indexDigest: undefined });
  if (opts.quiet === true) io.out(`${digest}\n`);
  else say(`Digest: ${digest}`);
}

export function images(store: LocalStore, io: Io, opts: { quiet?: boolean; digests?: boolean }): void {
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

export function rmi(store: LocalStore, io: Io, inputs: readonly string[]): void {
  for (const input of inputs) {
    const { image, name } = findLocal(store, input);
    const result = name !== undefined ? store.remove([{ repository: name.repository, tag: name.tag }]) : store.remove([], [image.digest]);
    if (name !== undefined) io.out(`Untagged: ${name.repository}${name.tag !== '' ? `:${name.tag}` : `@${image.digest}`}\n`);
    else io.out(`Untagged: ${result.untagged} name(s) of ${shortId(image.configDigest)}\n`);
    for (const d of result.deleted) io.out(`Deleted: ${d}\n`);
  }
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

export async function version(io: Io): Promise<void> {
  const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
  io.out(`berth version ${pkg.version ?? 'unknown'} (node ${process.version}, ${process.platform}/${process.arch})\n`);
}
