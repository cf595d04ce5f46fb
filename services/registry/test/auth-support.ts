import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import type { Express } from 'express';
import request from 'supertest';
import { errorCode, openHarness, pushImage, sha256, type Harness, type PushedImage } from './harness.js';

/**
 * The role matrix shared by the htpasswd and token suites: four roles, three
 * repositories, every endpoint. What each role may do is written out here by hand
 * (not computed by the code under test).
 */
export type Role = 'anonymous' | 'reader' | 'pusher' | 'admin';
export const ROLES: readonly Role[] = ['anonymous', 'reader', 'pusher', 'admin'];
export const PASSWORDS: Readonly<Record<Exclude<Role, 'anonymous'>, string>> = {
  reader: 'reader-secret-1',
  pusher: 'pusher-secret-2',
  admin: 'admin-secret-3',
};

export const RULES = {
  groups: { admins: ['admin'], 'team-a': ['pusher'] },
  access: [
    { repository: 'public/*', anonymous: true, actions: ['pull'] },
    { repository: '**', users: ['reader'], actions: ['pull'] },
    { repository: 'team-a/*', groups: ['team-a'], actions: ['pull', 'push'] },
    { repository: '**', groups: ['admins'], actions: ['*'] },
  ],
};

export const REPOS = ['team-a/app', 'team-b/app', 'public/base'] as const;
export type Repo = (typeof REPOS)[number];
type Action = 'pull' | 'push' | 'delete';

/** The expected rights, by hand. */
export function may(role: Role, repo: Repo, action: Action): boolean {
  switch (role) {
    case 'admin':
      return true;
    case 'reader':
      return action === 'pull';
    case 'pusher':
      return (repo === 'team-a/app' && action !== 'delete') || (repo === 'public/base' && action === 'pull');
    case 'anonymous':
      return repo === 'public/base' && action === 'pull';
  }
}

/** One endpoint of the API: how to call it, what it needs, and its status when allowed. */
export interface EndpointCase {
  readonly label: string;
  readonly needs: readonly Action[];
  /** Status when allowed; 'passes' = anything but 401/403 (and not a 5xx). */
  readonly ok: number | 'passes';
  call(app: Express, auth: (t: request.Test) => request.Test): Promise<request.Response>;
}

const FAKE_UPLOAD = '3f0e8c58-4b0e-4c7a-9b53-1f1c3f7d2a10';
const NO_BLOB = sha256('never pushed');

export function endpointCases(repo: Repo, image: PushedImage): EndpointCase[] {
  const M = 'application/vnd.oci.image.manifest.v1+json';
  const c = (label: string, needs: Action[], ok: number | 'passes', call: EndpointCase['call']): EndpointCase => ({ label: `${label} ${repo}`, needs, ok, call });
  return [
    c('GET manifest', ['pull'], 200, (app, a) => a(request(app).get(`/v2/${repo}/manifests/v1`).set('Accept', M))),
    c('HEAD manifest', ['pull'], 200, (app, a) => a(request(app).head(`/v2/${repo}/manifests/v1`).set('Accept', M))),
    c('GET blob', ['pull'], 200, (app, a) => a(request(app).get(`/v2/${repo}/blobs/${image.config}`))),
    c('HEAD blob', ['pull'], 200, (app, a) => a(request(app).head(`/v2/${repo}/blobs/${image.config}`))),
    c('GET tags', ['pull'], 200, (app, a) => a(request(app).get(`/v2/${repo}/tags/list`))),
    c('GET referrers', ['pull'], 200, (app, a) => a(request(app).get(`/v2/${repo}/referrers/${image.digest}`))),
    c('POST upload', ['pull', 'push'], 202, (app, a) => a(request(app).post(`/v2/${repo}/blobs/uploads/`))),
    c('PATCH upload', ['pull', 'push'], 404, (app, a) => a(request(app).patch(`/v2/${repo}/blobs/uploads/${FAKE_UPLOAD}`).send('x'))),
    c('PUT upload', ['pull', 'push'], 404, (app, a) => a(request(app).put(`/v2/${repo}/blobs/uploads/${FAKE_UPLOAD}?digest=${NO_BLOB}`))),
    c('GET upload', ['pull', 'push'], 404, (app, a) => a(request(app).get(`/v2/${repo}/blobs/uploads/${FAKE_UPLOAD}`))),
    c('DELETE upload', ['pull', 'push'], 404, (app, a) => a(request(app).delete(`/v2/${repo}/blobs/uploads/${FAKE_UPLOAD}`))),
    c('PUT manifest', ['pull', 'push'], 201, (app, a) => a(request(app).put(`/v2/${repo}/manifests/pushed`).set('Content-Type', M).send(image.manifest.toString()))),
    c('DELETE manifest', ['delete'], 'passes', (app, a) => a(request(app).delete(`/v2/${repo}/manifests/gone`))),
    c('DELETE blob', ['delete'], 404, (app, a) => a(request(app).delete(`/v2/${repo}/blobs/${NO_BLOB}`))),
  ];
}

export async function htpasswdFile(dir: string, extra: Record<string, string> = {}): Promise<string> {
  const lines = Object.entries({ ...PASSWORDS, ...extra }).map(([user, pw], i) => {
    const hash = bcrypt.hashSync(pw, 5);
    // Apache's htpasswd -B writes $2y$; the algorithm is the same as $2b$.
    return `${user}:${i % 2 === 0 ? hash.replace(/^\$2[ab]\$/, '$2y$') : hash}`;
  });
  const path = join(dir, 'htpasswd');
  await writeFile(path, `# berth test users\n${lines.join('\n')}\n`);
  return path;
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export interface Seeded {
  readonly dir: string;
  readonly images: Readonly<Record<Repo, PushedImage>>;
}

/** A data dir with an image tagged v1 (and `gone`) in each repository, pushed without auth. */
export async function seed(): Promise<Seeded> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-auth-'));
  const h: Harness = await openHarness({}, dir);
  const images = {} as Record<Repo, PushedImage>;
  for (const repo of REPOS) {
    images[repo] = await pushImage(h.app, repo, 'v1', {}, [`layer of ${repo}`]);
    await request(h.app).put(`/v2/${repo}/manifests/gone`).set('Content-Type', 'application/vnd.oci.image.manifest.v1+json').send(images[repo].manifest.toString()).expect(201);
  }
  await h.close();
  return { dir, images };
}

/** Asserts a refusal: 401 with a challenge for anonymous callers, 403 DENIED for known users. */
export function assertRefused(res: request.Response, role: Role, label: string): void {
  if (role === 'anonymous') {
    assert.equal(res.status, 401, `${label}: expected 401, got ${res.status}`);
    assert.ok(res.headers['www-authenticate'], `${label}: 401 without WWW-Authenticate`);
    if (res.request.method !== 'HEAD') assert.equal(errorCode(res), 'UNAUTHORIZED', label);
  } else {
    assert.equal(res.status, 403, `${label}: expected 403, got ${res.status}`);
    if (res.request.method !== 'HEAD') assert.equal(errorCode(res), 'DENIED', label);
  }
}

export function assertAllowed(res: request.Response, ok: number | 'passes', label: string): void {
  if (ok === 'passes') {
    assert.ok(res.status !== 401 && res.status !== 403 && res.status < 500, `${label}: got ${res.status}`);
  } else {
    assert.equal(res.status, ok, `${label}: expected ${ok}, got ${res.status} ${JSON.stringify(res.body)}`);
  }
}
