#!/usr/bin/env node
// Makes sure the system tools the tests drive are installed. As root, installs the
// missing ones with apt-get; otherwise prints one line naming them and exits 1.
import { execFileSync, spawnSync } from 'node:child_process';

/** command on PATH -> Debian package that provides it */
const TOOLS = {
  skopeo: 'skopeo',
  podman: 'podman',
  buildah: 'buildah',
  containerd: 'containerd',
  ctr: 'containerd',
  dockerd: 'docker.io',
  docker: 'docker.io',
  runc: 'runc',
  busybox: 'busybox-static',
  'fuse-overlayfs': 'fuse-overlayfs',
  newuidmap: 'uidmap',
  openssl: 'openssl',
  'docker-compose': 'docker-compose',
  'docker-registry': 'docker-registry',
  htpasswd: 'apache2-utils',
};

const has = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
const missing = [...new Set(Object.entries(TOOLS).filter(([cmd]) => !has(cmd)).map(([, pkg]) => pkg))];
if (missing.length === 0) process.exit(0);

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
if (!isRoot) {
  console.error(`berth tests need these packages, install them as root: apt-get install -y ${missing.join(' ')}`);
  process.exit(1);
}
console.log(`installing test tools: ${missing.join(' ')}`);
const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
try {
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env });
} catch {
  console.error(`could not install ${missing.join(' ')} with apt-get`);
  process.exit(1);
}
