#!/usr/bin/env node
/**
 * The `berth` executable as installed: it runs the CLI's bundle (main.cjs beside it, made
 * by scripts/bundle-cli.mjs; this file is only meaningful bundled, as berth.cjs) with V8's
 * code cache, so a command does not parse and compile half a megabyte of JavaScript on
 * every start (~16 ms here; ~4 ms with the cache).
 *
 * The cache (main.cjs.v8cache) holds the functions that were compiled when it was made:
 * `npm run build` makes it from `berth --help`. V8 compiles a function when it is first
 * called, so a command the cache has not seen yet (`berth run` compiles ~130 KiB more)
 * compiles its own functions on every start. So the first run of each command rewrites the
 * cache at exit, with everything compiled so far in that process (the old cache's
 * functions too), and notes the command in main.cjs.v8cache.commands; later runs of it
 * compile nothing. A run that finds the cache missing or rejected (V8 rejects a cache made
 * by another Node or V8 version, or for another bundle) starts it again. Nothing is written
 * where this user may not write. The cache is only an optimisation: without it, or with a
 * rejected one, the CLI runs the same.
 */
import { accessSync, constants as fsConstants, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { constants, Script } from 'node:vm';

const bundle = fileURLToPath(new URL('./main.cjs', import.meta.url));
const cacheFile = `${bundle}.v8cache`;
const commandsFile = `${cacheFile}.commands`;
/** The most commands noted: past it, nothing more is folded in (a bound, never reached by berth's own). */
const MAX_COMMANDS = 64;

function readCache(): Buffer | undefined {
  try {
    return readFileSync(cacheFile);
  } catch {
    return undefined;
  }
}

/** The commands whose functions the cache holds, one a line. */
function readCommands(): string[] {
  try {
    return readFileSync(commandsFile, 'utf8').split('\n').filter((c) => c !== '');
  } catch {
    return [];
  }
}

/** The command word of this run (its first lower-case word: `run` in `--root /r run -d x`), or '-' (none, e.g. --help). */
function commandOf(argv: readonly string[]): string {
  return argv.find((a) => /^[a-z][a-z-]{0,31}$/.test(a)) ?? '-';
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

const cachedData = readCache();
// a CommonJS module's own wrapper; the bundle's "#!" line is no JavaScript inside it
const source = readFileSync(bundle, 'utf8').replace(/^#!.*/, '');
const script = new Script(`(function (exports, require, module, __filename, __dirname) { ${source}\n})`, {
  filename: bundle,
  ...(cachedData !== undefined ? { cachedData } : {}),
  // the bundle has no import() left (bundle-cli.mjs), but one would load as in any module
  importModuleDynamically: constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
});

const fresh = cachedData === undefined || script.cachedDataRejected === true;
const command = commandOf(process.argv.slice(2));
const seen = fresh ? [] : readCommands();
if ((fresh || (!seen.includes(command) && seen.length < MAX_COMMANDS)) && mayWrite(dirname(bundle))) {
  // at exit, the cache then holds the functions this run compiled too
  process.once('exit', () => {
    try {
      writeAtomically(cacheFile, script.createCachedData());
      writeAtomically(commandsFile, [...seen, command].map((c) => `${c}\n`).join(''));
    } catch {
      // not ours to write after all: run without
    }
  });
}

const run = script.runInThisContext() as (exports: object, require: NodeJS.Require, module: { exports: object }, filename: string, dirname: string) => void;
const module = { exports: {} };
run(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
