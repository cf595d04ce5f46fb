import { Command, Option } from 'commander';
import { defaultRoot, LocalStore } from '@berth/store';
import type * as cmd from './commands.js';
import { parseFormat } from './output.js';
import { parseSearchTerm, search } from './search.js';
import { inspectContainer, registerContainerCommands } from './containers.js';

/** The commands' code, loaded by the command that runs (the registry client and its HTTP stack only for those that talk to one). */
const commands = (): Promise<typeof cmd> => import('./commands.js');

/**
 * Builds the `berth` command; `io` and `env` are injected so tests can drive it in-process.
 * With `only` (the command word of the command line, see commandWord), just that command is
 * defined: defining all 25 and their options costs a command ~1.5 ms. A word that names no
 * command (a typo, `help`) gets them all, so that commander's messages and help are whole.
 */
export function buildProgram(io: cmd.Io, env: NodeJS.ProcessEnv = process.env, only?: string): Command {
  const program = defineProgram(io, env, (name) => only === undefined || name === only);
  return only !== undefined && program.commands.length === 0 ? defineProgram(io, env, () => true) : program;
}

function defineProgram(io: cmd.Io, env: NodeJS.ProcessEnv, wanted: (command: string) => boolean): Command {
  const program = new Command('berth')
    .description('Berth: pull, push and manage OCI images')
    .option('--root <dir>', 'local image store (default: $BERTH_ROOT, /var/lib/berth as root, ~/.local/share/berth otherwise)')
    .showHelpAfterError(false)
    // throw CommanderError instead of exiting, in every subcommand (main picks the status)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => process.stderr.write(s) });

  const withStore = async <T>(fn: (store: LocalStore) => Promise<T> | T): Promise<T> => {
    const root = program.opts<{ root?: string }>().root ?? defaultRoot(env);
    const store = await LocalStore.open(root);
    try {
      return await fn(store);
    } finally {
      store.close();
    }
  };
  const remote = (c: Command): Command =>
    c
      .option('--creds <user:password>', 'registry credentials (password from $BERTH_PASSWORD when omitted)')
      .option('--insecure', 'plain HTTP to this registry (always so for localhost and 127.0.0.1)')
      .option('-q, --quiet', 'print only the result');

  if (wanted('pull')) {
    remote(program.command('pull').description('pull an image from a registry').argument('<image>', 'image reference, e.g. 127.0.0.1:5000/team/app:1.0'))
      .option('--platform <os/arch[/variant]>', 'platform to pick from a multi-platform image (default: this host)')
      .option('--all-platforms', 'also fetch every other platform of a multi-platform image (push then sends the whole index)')
      .action(async (image: string, opts: cmd.RemoteOptions & { platform?: string; allPlatforms?: boolean }) => {
        const c = await commands();
        await withStore((store) => c.pull(store, io, image, opts));
      });
  }

  if (wanted('push')) {
    remote(program.command('push').description('push a local image to a registry').argument('<image>', 'local image name, pushed to the registry it names'))
      .addOption(new Option('--chunk-size <bytes>', 'upload blobs bigger than this in chunks of this size').argParser((v) => parseSize(v)).hideHelp())
      .action(async (image: string, opts: cmd.RemoteOptions & { chunkSize?: number }) => {
        const c = await commands();
        await withStore((store) => c.push(store, io, image, opts));
      });
  }

  if (wanted('images')) {
    program
      .command('images')
      .description('list local images')
      .option('-q, --quiet', 'only image ids')
      .option('--digests', 'show digests')
      .option('--format <format>', 'table (default) or json (one object per line)')
      .action(async (opts: { quiet?: boolean; digests?: boolean; format?: string }) => {
        const format = parseFormat(opts.format);
        const c = await commands();
        await withStore((store) => c.images(store, io, { ...opts, format }));
      });
  }

  if (wanted('tag')) {
    program
      .command('tag')
      .description('give a local image another name')
      .argument('<source>', 'local image')
      .argument('<target>', 'new name[:tag]')
      .action(async (source: string, target: string) => {
        const c = await commands();
        await withStore((store) => c.tag(store, source, target));
      });
  }

  if (wanted('rmi')) {
    program
      .command('rmi')
      .description('remove local image names, then images and blobs nothing uses any more')
      .argument('<image...>', 'image names or ids')
      .action(async (images: string[]) => {
        const c = await commands();
        await withStore((store) => c.rmi(store, io, images));
      });
  }

  if (wanted('inspect')) {
    program
      .command('inspect')
      .description('print a container as JSON, or else an image\'s manifest and config')
      .argument('<image>', 'container name or id, or local image name or id')
      .option('--format <format>', 'json (the default)')
      .action(async (image: string, opts: { format?: string }) => {
        if (opts.format !== undefined && parseFormat(opts.format) !== 'json') throw new Error('inspect prints JSON only: use --format json or leave it out');
        if (await inspectContainer(program.opts<{ root?: string }>().root ?? defaultRoot(env), image, io)) return;
        const c = await commands();
        await withStore((store) => c.inspect(store, io, image));
      });
  }

  if (wanted('save')) {
    program
      .command('save')
      .description('write images to a tar archive (OCI layout, also readable by docker load)')
      .argument('<image...>', 'image names or ids')
      .option('-o, --output <file>', 'write to this file instead of standard output')
      .action(async (images: string[], opts: { output?: string }) => {
        const { save } = await import('./archive.js');
        await withStore((store) => save(store, images, opts, process.stdout));
      });
  }

  if (wanted('load')) {
    program
      .command('load')
      .description('load images from a tar archive (berth save, docker save, OCI layout)')
      .option('-i, --input <file>', 'read from this file instead of standard input')
      .option('-q, --quiet', 'accepted for docker compatibility; only the result is printed anyway')
      .action(async (opts: { input?: string }) => {
        const { load } = await import('./archive.js');
        await withStore((store) => load(store, io, opts, process.stdin));
      });
  }

  if (wanted('login')) {
    program
      .command('login')
      .description('check credentials against a registry and store them for later commands')
      .argument('<registry>', 'registry host, e.g. 127.0.0.1:5000')
      .option('-u, --username <user>', 'user name')
      .option('-p, --password <password>', 'password (prefer --password-stdin or $BERTH_PASSWORD)')
      .option('--password-stdin', 'read the password from standard input')
      .option('--insecure', 'plain HTTP to this registry (always so for localhost and 127.0.0.1)')
      .action(async (registry: string, opts: { username?: string; password?: string; passwordStdin?: boolean; insecure?: boolean }) => {
        if (opts.username === undefined || opts.username === '') throw new Error('give a user name with -u');
        const password = opts.passwordStdin === true ? await readStdin() : (opts.password ?? env['BERTH_PASSWORD']);
        if (password === undefined || password === '') throw new Error('give a password with --password-stdin, -p or $BERTH_PASSWORD');
        await (await commands()).login(io, registry, { username: opts.username, password }, opts);
      });
  }

  if (wanted('logout')) {
    program
      .command('logout')
      .description('forget the credentials stored for a registry')
      .argument('<registry>', 'registry host')
      .action(async (registry: string) => {
        await (await commands()).logout(io, registry);
      });
  }

  if (wanted('version')) {
    program
      .command('version')
      .description('print the client version and the versions of registries (those given, else those logged in to)')
      .option('--registry <host>', 'a registry to ask (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
      .option('--format <format>', 'table (default) or json')
      .action(async (opts: { registry: string[]; format?: string }) => {
        await (await commands()).version(io, { registries: opts.registry, format: parseFormat(opts.format) });
      });
  }

  if (wanted('search')) {
    remote(program.command('search').description("search a registry's catalog for repositories whose name contains TERM").argument('<registry/term>', 'e.g. registry.example.com/app'))
      .option('--limit <n>', 'most results to show (1-100)', (v: string) => parseLimit(v), 25)
      .option('--format <format>', 'table (default) or json (one object per line)')
      .action(async (input: string, opts: cmd.RemoteOptions & { limit: number; format?: string }) => {
        const format = parseFormat(opts.format);
        const { registry, term } = parseSearchTerm(input);
        await search(await (await commands()).clientFor(registry, opts), io, term, { limit: opts.limit, format });
      });
  }

  registerContainerCommands(program, io, env, wanted);
  return program;
}

function parseLimit(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new Error(`invalid --limit "${v.slice(0, 20)}": give a number from 1 to 100`);
  return n;
}

function parseSize(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`invalid size "${v}"`);
  return n;
}

/** All of standard input, without the trailing newline (bounded: a password, not a file). */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 64 * 1024) throw new Error('--password-stdin: input too long');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
