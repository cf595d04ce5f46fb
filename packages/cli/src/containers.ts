/**
 * The container commands: run, ps, logs, exec, stop, kill, start, restart, rm, wait,
 * attach, port, commit (and `inspect` of containers, called from the image inspect).
 * Registered by registerContainerCommands; every action imports the runtime lazily.
 * All of them need root: without it, one line says so.
 */
import { Option, type Command } from 'commander';
import { defaultRoot, LocalStore } from '@berth/store';
import type { Containers } from '@berth/runtime/containers';
import type { Io } from './commands.js';
import { collect, parseStopTimeout, parseTail } from './container-options.js';
import type { RunFlags } from './container-run.js';
import { ago, portsText, statusText } from './container-inspect.js';
import { table } from './output.js';

export { inspectContainer } from './container-inspect.js';

export class NeedsRootError extends Error {
  constructor(command: string) {
    super(`berth ${command} needs root: run it as root (e.g. with sudo)`);
    this.name = 'NeedsRootError';
  }
}

function requireRoot(command: string): void {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) throw new NeedsRootError(command);
}

/** Defines the container commands on `program` (those `wanted` names: all by default). */
export function registerContainerCommands(program: Command, io: Io, env: NodeJS.ProcessEnv, wanted: (command: string) => boolean = () => true): void {
  // `berth run IMAGE sh -c ...`: options after the image belong to the command (global options go first)
  program.enablePositionalOptions();
  const rootOf = (): string => program.opts<{ root?: string }>().root ?? defaultRoot(env);
  const withContainers = async <T>(command: string, fn: (c: Containers) => Promise<T>): Promise<T> => {
    requireRoot(command);
    const rt = await import('@berth/runtime/containers');
    const c = await rt.Containers.open({ root: rootOf() });
    try {
      return await fn(c);
    } finally {
      c.close();
    }
  };
  /** Runs fn for every ref; the first failure is reported after the others were tried (as docker does). */
  const each = async (refs: readonly string[], fn: (ref: string) => Promise<void>): Promise<void> => {
    let first: Error | undefined;
    for (const ref of refs) {
      try {
        await fn(ref);
      } catch (err) {
        first ??= err instanceof Error ? err : new Error(String(err));
      }
    }
    if (first !== undefined) throw first;
  };
  const setExit = (code: number): void => {
    process.exitCode = code;
  };

  if (wanted('run')) {
    program
      .command('run')
      .description('run a command in a new container (pulls the image when it is not here)')
      .helpOption('--help', 'display help for command')
      .argument('<image>', 'image name or id')
      .argument('[command...]', 'command and arguments (default: the image\'s Entrypoint and Cmd)')
      .passThroughOptions()
      .option('-d, --detach', 'run in the background and print the container id')
      .option('--rm', 'remove the container when it exits')
      .option('-i, --interactive', 'keep standard input open')
      .option('-t, --tty', 'allocate a pseudo-terminal')
      .option('--name <name>', 'name the container')
      .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect)
      .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect)
      .option('-v, --volume <host:ctr[:ro]>', 'bind-mount a host directory (repeatable)', collect)
      .option('-w, --workdir <dir>', 'working directory inside the container')
      .option('-u, --user <user[:group]>', 'user name or uid (and group)')
      .option('--entrypoint <cmd>', 'override the image\'s entrypoint')
      .option('-h, --hostname <name>', 'container hostname')
      .option('--init', 'run an init (catatonit) as pid 1 that reaps zombies and forwards signals')
      .option('--read-only', 'mount the root file system read-only')
      .option('--cap-add <cap>', 'add a Linux capability (repeatable; ALL for every one)', collect)
      .option('--cap-drop <cap>', 'drop a Linux capability (repeatable; ALL for every one)', collect)
      .option('--network <mode>', 'none, host or bridge', 'bridge')
      .option('-p, --publish <[ip:]host:ctr[/proto]>', 'publish a container port on the host (repeatable)', collect)
      .option('-m, --memory <size>', 'memory limit, e.g. 64m')
      .option('--cpus <n>', 'CPU limit, e.g. 0.5')
      .option('--pids-limit <n>', 'most processes in the container')
      .option('--runtime <name>', 'OCI runtime: runc or crun (default: $BERTH_RUNTIME or runc)')
      .addOption(new Option('--pull <policy>', 'pull the image: missing, always or never').choices(['missing', 'always', 'never']).default('missing'))
      .action(async (image: string, command: string[], flags: RunFlags) => {
        requireRoot('run');
        const { run } = await import('./container-run.js');
        const root = rootOf();
        const store = await LocalStore.open(root);
        try {
          setExit(await run(store, root, io, image, command, flags, env));
        } finally {
          store.close();
        }
      });
  }

  if (wanted('ps')) {
    program
      .command('ps')
      .description('list containers (running ones; -a for all)')
      .option('-a, --all', 'show all containers')
      .option('-q, --quiet', 'only container ids')
      .action(async (opts: { all?: boolean; quiet?: boolean }) => {
        await withContainers('ps', async (c) => {
          const list = (await c.list()).filter((r) => opts.all === true || r.status === 'running');
          if (opts.quiet === true) {
            io.out(list.map((r) => `${r.id.slice(0, 12)}\n`).join(''));
            return;
          }
          io.out(
            table(
              ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
              list.map((r) => {
                const cmd = r.config.args.join(' ');
                return [r.id.slice(0, 12), r.config.image, JSON.stringify(cmd.length > 20 ? `${cmd.slice(0, 19)}…` : cmd), `${ago(r.createdAt)} ago`, statusText(r), portsText(r), r.name];
              }),
            ),
          );
        });
      });
  }

  if (wanted('logs')) {
    program
      .command('logs')
      .description('print a detached container\'s output')
      .argument('<container>', 'name or id')
      .option('-f, --follow', 'follow the output until the container ends')
      .option('--tail <n>', 'only the last n lines ("all" for every line)', 'all')
      .option('-t, --timestamps', 'prefix each line with its time')
      .action(async (ref: string, opts: { follow?: boolean; tail: string; timestamps?: boolean }) => {
        const tail = parseTail(opts.tail);
        await withContainers('logs', async (c) => {
          const rt = await import('@berth/runtime/containers');
          const r = await c.find(ref);
          await rt.readLog(
            c.paths.log(r.id),
            {
              write: (rec) => {
                const text = opts.timestamps === true ? `${rec.time.replace(/\+00:00$/, 'Z')} ${rec.text}` : rec.text;
                (rec.stream === 'stderr' ? process.stderr : process.stdout).write(text);
              },
            },
            { ...(tail !== undefined ? { tail } : {}), follow: opts.follow === true, ended: async () => (await c.find(r.id).catch(() => undefined))?.status !== 'running' },
          );
        });
      });
  }

  if (wanted('exec')) {
    program
      .command('exec')
      .description('run a command in a running container')
      .helpOption('--help', 'display help for command')
      .argument('<container>', 'name or id')
      .argument('<command...>', 'command and arguments')
      .passThroughOptions()
      .option('-i, --interactive', 'keep standard input open')
      .option('-t, --tty', 'allocate a pseudo-terminal')
      .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect)
      .option('-u, --user <user[:group]>', 'user name or uid (and group)')
      .option('-w, --workdir <dir>', 'working directory')
      .action(async (ref: string, command: string[], opts: { interactive?: boolean; tty?: boolean; env?: string[]; user?: string; workdir?: string }) => {
        await withContainers('exec', async (c) => {
          const { envFlag } = await import('./container-options.js');
          const envs = (opts.env ?? []).map((e) => envFlag(e, env)).filter((e): e is string => e !== undefined);
          const rt = await import('@berth/runtime/containers');
          setExit(await rt.exec(c, ref, command, { interactive: opts.interactive === true, tty: opts.tty === true, env: envs, ...(opts.user !== undefined ? { user: opts.user } : {}), ...(opts.workdir !== undefined ? { workdir: opts.workdir } : {}) }));
        });
      });
  }

  if (wanted('stop')) {
    program
      .command('stop')
      .description('stop running containers: the stop signal, then SIGKILL after the grace period')
      .argument('<container...>', 'names or ids')
      .option('-t, --time <seconds>', 'grace period before SIGKILL', '10')
      .action(async (refs: string[], opts: { time: string }) => {
        const t = parseStopTimeout(opts.time);
        await withContainers('stop', (c) => each(refs, async (ref) => {
          await c.stop(ref, t);
          io.out(`${ref}\n`);
        }));
      });
  }

  if (wanted('kill')) {
    program
      .command('kill')
      .description('send a signal to running containers')
      .argument('<container...>', 'names or ids')
      .option('-s, --signal <signal>', 'signal to send', 'KILL')
      .action(async (refs: string[], opts: { signal: string }) => {
        await withContainers('kill', async (c) => {
          const rt = await import('@berth/runtime/containers');
          const sig = rt.parseSignal(opts.signal);
          await each(refs, async (ref) => {
            await c.kill(ref, sig);
            io.out(`${ref}\n`);
          });
        });
      });
  }

  if (wanted('start')) {
    program
      .command('start')
      .description('start stopped containers (detached; -a to attach)')
      .argument('<container...>', 'names or ids')
      .option('-a, --attach', 'attach to the output and exit with the container\'s code')
      .option('-i, --interactive', 'with -a: send standard input too')
      .action(async (refs: string[], opts: { attach?: boolean; interactive?: boolean }) => {
        await withContainers('start', async (c) => {
          if (opts.attach === true) {
            if (refs.length !== 1) throw new Error('start -a takes exactly one container');
            const r = await c.find(refs[0] ?? '');
            const rt = await import('@berth/runtime/containers');
            const offset = await rt.logOffset(c, r.id);
            await c.start(r.id);
            setExit(await rt.attach(c, r.id, { offset, stdin: opts.interactive === true }));
            return;
          }
          await each(refs, async (ref) => {
            await c.start(ref);
            io.out(`${ref}\n`);
          });
        });
      });
  }

  if (wanted('restart')) {
    program
      .command('restart')
      .description('stop (with a grace period) and start containers again')
      .argument('<container...>', 'names or ids')
      .option('-t, --time <seconds>', 'grace period before SIGKILL', '10')
      .action(async (refs: string[], opts: { time: string }) => {
        const t = parseStopTimeout(opts.time);
        await withContainers('restart', (c) => each(refs, async (ref) => {
          const r = await c.stop(ref, t);
          await c.start(r.id);
          io.out(`${ref}\n`);
        }));
      });
  }

  if (wanted('rm')) {
    program
      .command('rm')
      .description('remove containers')
      .argument('<container...>', 'names or ids')
      .option('-f, --force', 'kill running containers first')
      .action(async (refs: string[], opts: { force?: boolean }) => {
        await withContainers('rm', (c) => each(refs, async (ref) => {
          await c.remove(ref, opts.force === true);
          io.out(`${ref}\n`);
        }));
      });
  }

  if (wanted('wait')) {
    program
      .command('wait')
      .description('wait until containers end, then print their exit codes')
      .argument('<container...>', 'names or ids')
      .action(async (refs: string[]) => {
        await withContainers('wait', (c) => each(refs, async (ref) => {
          const r = await c.find(ref);
          await c.waitExit(r.id);
          const done = c.state.get(r.id);
          if (done === undefined) throw new Error(`container ${r.name} was removed when it ended (--rm): its exit code is gone`);
          io.out(`${done.exitCode ?? 0}\n`);
        }));
      });
  }

  if (wanted('attach')) {
    program
      .command('attach')
      .description('follow a running container\'s output (and send it standard input when it was started with -i) until it ends; exits with its code')
      .argument('<container>', 'name or id')
      .option('--no-stdin', 'do not send standard input')
      .action(async (ref: string, opts: { stdin: boolean }) => {
        await withContainers('attach', async (c) => {
          const r = await c.find(ref);
          if (r.status !== 'running') throw new Error(`container ${r.name} is not running: start it first`);
          const rt = await import('@berth/runtime/containers');
          setExit(await rt.attach(c, r.id, { stdin: opts.stdin }));
        });
      });
  }

  if (wanted('port')) {
    program
      .command('port')
      .description('list a container\'s published ports')
      .argument('<container>', 'name or id')
      .argument('[port[/proto]]', 'only this container port')
      .action(async (ref: string, port: string | undefined) => {
        await withContainers('port', async (c) => {
          const r = await c.find(ref);
          const [num, proto = 'tcp'] = (port ?? '').split('/');
          const list = r.config.ports.filter((p) => port === undefined || (String(p.containerPort) === num && p.protocol === proto));
          if (port !== undefined && list.length === 0) throw new Error(`no public port '${port}' published for ${r.name}`);
          for (const p of list) io.out(`${port === undefined ? `${p.containerPort}/${p.protocol} -> ` : ''}${p.hostIp ?? '0.0.0.0'}:${p.hostPort}\n`);
        });
      });
  }

  if (wanted('commit')) {
    program
      .command('commit')
      .description('make a new image from a container\'s changes')
      .argument('<container>', 'name or id')
      .argument('[repository[:tag]]', 'name for the new image')
      .option('-m, --message <text>', 'commit message (in the image history)')
      .option('-a, --author <name>', 'author')
      .option('-c, --change <instruction>', 'apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, LABEL (repeatable)', collect)
      .action(async (ref: string, name: string | undefined, opts: { message?: string; author?: string; change?: string[] }) => {
        await withContainers('commit', async (c) => {
          const { commit } = await import('./container-commit.js');
          const store = await LocalStore.open(rootOf());
          try {
            io.out(`${await commit(c, store, ref, name, opts)}\n`);
          } finally {
            store.close();
          }
        });
      });
  }
}
