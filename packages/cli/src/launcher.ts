#!/usr/bin/env node
/**
 * The `berth` executable as installed: it runs the CLI's bundle (main.cjs beside it, made
 * by scripts/bundle-cli.mjs; this file is only meaningful bundled, as berth.cjs) with V8's
 * code cache, so a command does not parse and compile half a megabyte of JavaScript on
 * every start (~16 ms here; ~4 ms with the cache).
 *
 * The cache (main.cjs.v8cache) is written by `npm run build` and again by any run that
 * finds it missing or rejected (V8 rejects a cache made by another Node or V8 version, or
 * for another bundle), if that run may write beside the bundle. It is only an
 * optimisation: without it, or with a rejected one, the CLI runs the same.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, Script } from 'node:vm';

const bundle = fileURLToPath(new URL('./main.cjs', import.meta.url));
const cacheFile = `${bundle}.v8cache`;

function readCache(): Buffer | undefined {
  try {
    return readFileSync(cacheFile);
  } catch {
    return undefined;
  }
}

const cachedData = readCache();
// a CommonJS module's own wrapper; the bundle's "#!" line is no JavaScript inside it
const source = readFileSync(bundle, 'utf8').replace(/^#!.*/, '');
const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
  filename: bundle,
  ...(cachedData !== undefined ? { cachedData } : {}),
  // the bundle has no import() left (bundle-cli.mjs), but one would load as in any module
  importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});

if (cachedData === undefined || script.cachedDataRejected === true) {
  // at exit, the cache then holds the functions this run compiled too
  process.once('exit', () => {
    try {
      const tmp = `${cacheFile}.${process.pid}`;
      writeFileSync(tmp, script.createCachedData());
      renameSync(tmp, cacheFile);
    } catch {
      // not ours to write (an install owned by another user): run without one
    }
  });
}

const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
const module = { exports: {} };
run(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
