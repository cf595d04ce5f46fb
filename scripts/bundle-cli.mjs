// Bundles the `berth` CLI into packages/cli/dist/bundle/main.cjs (plus exit-main.cjs, the
// exit command conmon runs for a detached container), from the tsc output in dist/src, and
// berth.cjs, the executable that runs main.cjs with V8's code cache (src/launcher.ts);
// then writes that cache by running `berth --help` once (each command's first successful
// run writes a cache of its own: see launcher.ts).
//
// Why: the CLI's first job is to start fast. Loaded as ~150 ESM files, its modules cost
// ~70 ms per command; one CommonJS file costs a third of that, and CommonJS keeps every
// `require` where the code asked for it, so a command loads only the built-in modules it
// uses. Native addons (better-sqlite3's .node, @napi-rs/xattr) and the AWS SDK stay outside
// and are required from node_modules at run time.
//
// import.meta.url is replaced by the bundle's own file URL: the code only uses it to find
// files next to itself (package.json two levels up, exit-main beside it) and to resolve
// node_modules, and dist/bundle/ sits at the same depth as dist/src/.
import { execFileSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { build } from 'esbuild';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sqliteAddon = createRequire(join(root, 'packages/store/package.json')).resolve('better-sqlite3/build/Release/better_sqlite3.node');
const out = join(root, 'packages/cli/dist/bundle');

await build({
  entryPoints: {
    main: join(root, 'packages/cli/dist/src/main.js'),
    'exit-main': join(root, 'packages/runtime/dist/src/containers/exit-main.js'),
    berth: join(root, 'packages/cli/dist/src/launcher.js'),
  },
  outdir: out,
  outExtension: { '.js': '.cjs' },
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // import() of a module left outside (node:https, node:tls) becomes a require: the
  // launcher runs the bundle as a vm.Script, where a real import() has no loader
  supported: { 'dynamic-import': false },
  external: ['*.node', '@napi-rs/xattr', '@aws-sdk/*'],
  // better-sqlite3's addon where this build found it: one stat at run time instead of a
  // module resolution (packages/store/src/sqlite.ts falls back to that when it has moved)
  define: { 'import.meta.url': '__berth_import_meta_url', __BERTH_SQLITE_ADDON__: JSON.stringify(sqliteAddon) },
  banner: { js: "'use strict';\nconst __berth_import_meta_url = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
});

// a new bundle: the old cache would be rejected anyway
for (const name of readdirSync(out)) if (/^main\.cjs\.(?:[a-z-]+\.)?v8cache$/.test(name)) rmSync(join(out, name), { force: true });
execFileSync(process.execPath, [join(out, 'berth.cjs'), '--help'], { stdio: 'ignore' });
