#!/usr/bin/env node
/**
 * The `berth` executable as installed: it runs the CLI's bundle (main.cjs beside it, made
 * by scripts/bundle-cli.mjs; this file is only meaningful bundled, as berth.cjs) with V8's
 * code cache, so a command does not parse and compile half a megabyte of JavaScript on
 * every start (~16 ms here; ~4 ms with the cache).
 *
 * A cache holds the functions that were compiled when it was made. `npm run build` makes
 * main.cjs.v8cache from `berth --help`. V8 compiles a function when it is first called, so
 * a command that cache has not seen (`berth run` compiles ~130 KiB more) would compile its
 * own functions on every start: each command gets a cache of its own instead,
 * main.cjs.<command>.v8cache, written at the exit of its first successful run (with the
 * functions it took from the build's cache, and those it compiled). A command's cache holds
 * only what that command runs, so it does not grow with every other command used. A run
 * that finds its cache missing or rejected (V8 rejects a cache made by another Node or V8
 * version, or for another bundle) writes it again; a failed run (an unknown command, a
 * usage error) writes nothing; nothing is written where this user may not write. A cache
 * is only an optimisation: without one, or with a rejected one, the CLI runs the same.
 */
import { accessSync, constants as fsConstants, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, Script } from 'node:vm';
import { commandWord } from './command-word.js';

const bundle = fileURLToPath(new URL('./main.cjs', import.meta.url));
const cacheFile = `${bundle}.v8cache`;

function readCache(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function writeAtomically(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

function mayWrite(dir: string): boolean {
  try {
    accessSync(dir, fsConstants.W_OK);
    return true;
  } catch {
    return false;
  }
}

const command = commandWord(process.argv.slice(2));
const ownFile = command !== undefined ? `${bundle}.${command}.v8cache` : cacheFile;
const own = readCache(ownFile);
const cachedData = own ?? (ownFile !== cacheFile ? readCache(cacheFile) : undefined);
// a CommonJS module's own wrapper; the bundle's "#!" line is no JavaScript inside it
const source = readFileSync(bundle, 'utf8').replace(/^#!.*/, '');
const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
  filename: bundle,
  ...(cachedData !== undefined ? { cachedData } : {}),
  // the bundle has no import() left (bundle-cli.mjs), but one would load as in any module
  importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});

if ((own === undefined || script.cachedDataRejected === true) && mayWrite(dirname(bundle))) {
  // at exit, the cache then holds the functions this run compiled too
  process.once('exit', (code) => {
    if (code !== 0) return;
    try {
      writeAtomically(ownFile, script.createCachedData());
    } catch {
      // not ours to write after all: run without
    }
  });
}

const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
const module = { exports: {} };
run(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
