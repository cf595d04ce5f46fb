#!/usr/bin/env node
// Makes sure the system tools the tests drive are installed. As root, installs the
// missing ones with apt-get; otherwise prints one line naming them and exits 1.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** command on PATH -> Debian package that provides it; test/support/exec.ts reads it too */
const TOOLS = JSON.parse(readFileSync(new URL('./test-tools.json', import.meta.url), 'utf8'));

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
