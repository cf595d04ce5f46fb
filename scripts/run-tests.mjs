#!/usr/bin/env node
// Runs every compiled test file with node's test runner: unit and HTTP suites of each
// workspace, then the end-to-end and interop suites. Extra arguments filter files by
// substring, e.g. `npm test -- uploads`.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const roots = [
  ...readdirSync(join(root, 'packages')).map((p) => join(root, 'packages', p, 'dist', 'test')),
  ...readdirSync(join(root, 'services')).map((p) => join(root, 'services', p, 'dist', 'test')),
  join(root, 'test', 'dist'),
];

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith('.test.js')) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = roots
  .flatMap((dir) => walk(dir, []))
  .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
  .sort();
if (files.length === 0) {
  console.error('no test files found (did the build run?)');
  process.exit(1);
}
console.log(`running ${files.length} test files:\n  ${files.map((f) => relative(root, f)).join('\n  ')}`);
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { stdio: 'inherit', cwd: root },
);
// The registry's suites once more on the S3 blob driver (a real S3-compatible server
// the harness starts on 127.0.0.1): every behaviour must hold on both drivers.
const registrySuites = files.filter((f) => f.includes(join('services', 'registry', 'dist', 'test')) && !/(config|auth-units|deploy|migrate)\.test\.js$/.test(f));
let s3Status = 0;
if (registrySuites.length > 0 && process.env.BERTH_TEST_STORAGE !== 's3') {
  console.log(`\nthe registry suites again on the s3 driver (${registrySuites.length} files)`);
  const s3 = spawnSync(
    process.execPath,
    ['--test', '--test-concurrency=2', '--test-reporter=spec', ...registrySuites],
    { stdio: 'inherit', cwd: root, env: { ...process.env, BERTH_TEST_STORAGE: 's3' } },
  );
  s3Status = s3.status ?? 1;
}
process.exit(result.status !== 0 ? (result.status ?? 1) : s3Status);
