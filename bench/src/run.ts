// `berth run` against `docker run` and `podman run` on the same image, machine and run:
//   1. `run --rm IMAGE true` on a pulled busybox image, --network none for all three
//      (the private dockerd runs without a bridge, and podman's default bridge would
//      change the host's firewall); Berth with and without NODE_EXTRA_CA_CERTS (which
//      costs every Node start ~40 ms here), and Berth on its own bridge for reference.
//      Target: Berth <= 0.6 x podman.
//   2. the first run of a new 100 MiB image (pull, unpack, run): before each trial the
//      image is removed (docker/podman: rmi -f; Berth: rmi, which deletes its blobs, and its
//      whole layer cache). Target: faster than docker and podman.
// Peers: a private dockerd (test/support/dockerd.ts), podman with --runtime runc and the
// ulimits it needs here, its storage in a temp dir. Rounds are interleaved; medians.
// Before each timed run the machine must be idle (< 0.25 cores busy over 200 ms, waiting at
// most --quiet-wait seconds, 0 = off): docker's daemon and podman's clean-up go on for a
// while after their command returns, and would otherwise be timed into the next run,
// whichever tool's it is.
//   npm run bench:run [-- --runs 15 --first 3 --quiet-wait 3]
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDockerd, type DockerDaemon } from '@berth/test-support/dockerd';
import { requireTools } from '@berth/test-support/exec';
import { busyboxLayer, openLayout, randomLayer } from '@berth/test-support/images';
import { startRegistry, type Registry } from '@berth/test-support/registry';
import { makeTempDir, removeTempDir } from '@berth/test-support/tmp';
import { run, runOk } from './util/proc.js';
import { waitQuiet } from './util/quiet.js';
import { median } from './util/stats.js';

const repoRoot = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..', '..');
// the command as installed: bin/berth, the shell launcher that runs the bundle
const BERTH = join(repoRoot, 'packages/cli/bin/berth');

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : def;
  return Number.isFinite(v) && v >= 0 ? v : def;
}

/** Runs not preceded by an idle machine (the wait timed out), per tool. */
const noisy = new Map<string, number>();

/** Waits (bounded) for an idle machine, then times the tool's run. */
async function quietly(label: string, maxWaitMs: number, fn: () => Promise<number>): Promise<number> {
  if (maxWaitMs > 0 && !(await waitQuiet(maxWaitMs, 0.25, 200)).quiet) noisy.set(label, (noisy.get(label) ?? 0) + 1);
  return fn();
}

interface Tool {
  readonly label: string;
  /** Runs `run --rm image true`; resolves with the wall time in ms. */
  run(image: string): Promise<number>;
  /** Forgets the image (and its layers) before a first-run trial. */
  forget(image: string): Promise<void>;
}

async function timed(cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<number> {
  const r = await run(cmd, args, { timeoutMs: 300_000, ...(env !== undefined ? { env } : {}) });
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}\n${r.stderr.slice(-2000)}`);
  return r.ms;
}

async function buildImages(dir: string, registry: Registry): Promise<{ small: string; big: string }> {
  const layout = openLayout(join(dir, 'layout'));
  const small = await layout.writeImage({ architecture: 'amd64', os: 'linux' }, [busyboxLayer()], 'bench run small');
  layout.tag('small', small.manifest);
  const big = await layout.writeImage({ architecture: 'amd64', os: 'linux' }, [busyboxLayer(), randomLayer(100 * 1024 * 1024)], 'bench run big');
  layout.tag('big', big.manifest);
  const refs = { small: `${registry.url}/bench/run:small`, big: `${registry.url}/bench/run:big` };
  for (const [tag, ref] of Object.entries(refs)) {
    await runOk('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${join(dir, 'layout')}:${tag}`, `docker://${ref}`]);
  }
  return refs;
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('the run benchmark needs root');
  requireTools('skopeo', 'busybox', 'runc', 'conmon', 'docker', 'dockerd', 'podman');
  if (!existsSync(join(repoRoot, 'packages/cli/dist/bundle/berth.cjs'))) throw new Error('the CLI bundle is missing: build first (npm run build)');
  const runs = arg('runs', 15);
  const firstRuns = arg('first', 3);
  const quietMs = arg('quiet-wait', 3) * 1000;
  const dir = makeTempDir('bench-run');
  let registry: Registry | undefined;
  let dockerd: DockerDaemon | undefined;
  try {
    registry = await startRegistry();
    const images = await buildImages(dir, registry);
    dockerd = await startDockerd();
    const dockerEnv = dockerd.env;
    const podmanBase = ['--root', join(dir, 'podman', 'root'), '--runroot', join(dir, 'podman', 'run'), '--storage-driver', 'overlay'];
    const podmanRun = ['run', '--rm', '--tls-verify=false', '--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', '--network', 'none'];
    const withCa = { ...process.env };
    const noCa = { ...process.env };
    delete noCa['NODE_EXTRA_CA_CERTS'];
    const berthRoot = join(dir, 'berth');
    const berthTool = (label: string, env: NodeJS.ProcessEnv, network: string): Tool => ({
      label,
      run: (image) => timed(BERTH, ['--root', berthRoot, 'run', '--rm', '--network', network, image, 'true'], env),
      forget: async () => undefined,
    });
    const tools: Tool[] = [
      {
        label: 'docker run',
        run: (image) => timed('docker', ['run', '--rm', '--network', 'none', image, 'true'], dockerEnv),
        forget: async (image) => void (await run('docker', ['rmi', '-f', image], { env: dockerEnv })),
      },
      {
        label: 'podman run',
        run: (image) => timed('podman', [...podmanBase, ...podmanRun, image, 'true']),
        forget: async (image) => void (await run('podman', [...podmanBase, 'rmi', '-f', image])),
      },
      berthTool('berth run', withCa, 'none'),
      berthTool('berth run (no NODE_EXTRA_CA_CERTS)', noCa, 'none'),
      berthTool('berth run --network bridge', withCa, 'bridge'),
    ];
    // pull once everywhere (not timed), then warm up
    await runOk('docker', ['pull', '-q', images.small], { env: dockerEnv });
    await runOk('podman', [...podmanBase, 'pull', '-q', '--tls-verify=false', images.small]);
    await runOk(BERTH, ['--root', berthRoot, 'pull', '-q', images.small]);
    for (const t of tools) for (let i = 0; i < 2; i++) await t.run(images.small);
    const times = new Map<string, number[]>(tools.map((t) => [t.label, []]));
    for (let i = 0; i < runs; i++) {
      // a different order each round, so no tool always runs right after another
      const order = i % 2 === 0 ? tools : [...tools].reverse();
      for (const t of order) times.get(t.label)?.push(await quietly(t.label, quietMs, () => t.run(images.small)));
    }

    // first run of a new 100 MiB image: pull + unpack + run
    const first = new Map<string, number[]>();
    // Berth keeps its store (as docker and podman keep theirs); the image, its blobs and the
    // whole layer cache go before each trial
    const firstTools: Tool[] = [tools[0] as Tool, tools[1] as Tool, {
      label: 'berth run',
      run: (image) => timed(BERTH, ['--root', berthRoot, 'run', '--rm', '--network', 'none', image, 'true'], withCa),
      forget: async (image) => {
        await run(BERTH, ['--root', berthRoot, 'rmi', image]);
        await rm(join(berthRoot, 'layers'), { recursive: true, force: true });
      },
    }];
    for (let i = 0; i < firstRuns; i++) {
      for (const t of i % 2 === 0 ? firstTools : [...firstTools].reverse()) {
        await t.forget(images.big);
        const ms = await quietly(t.label, quietMs, () => t.run(images.big));
        (first.get(t.label) ?? first.set(t.label, []).get(t.label))?.push(ms);
      }
    }

    const podman = median(times.get('podman run') ?? []);
    const docker = median(times.get('docker run') ?? []);
    const lines = [
      `## berth run vs docker run vs podman run (${runs} rounds, medians, ms)`,
      '',
      '| `run --rm IMAGE true` | median | min | × podman | × docker |',
      '| --- | ---: | ---: | ---: | ---: |',
      ...tools.map((t) => {
        const xs = times.get(t.label) ?? [];
        const m = median(xs);
        return `| ${t.label} | ${m.toFixed(0)} | ${Math.min(...xs).toFixed(0)} | ${(m / podman).toFixed(2)} | ${(m / docker).toFixed(2)} |`;
      }),
      '',
      `| first run of a new 100 MiB image (${firstRuns} trials) | median | × podman | × docker |`,
      '| --- | ---: | ---: | ---: |',
      ...firstTools.map((t) => {
        const m = median(first.get(t.label) ?? []);
        return `| ${t.label} | ${m.toFixed(0)} | ${(m / median(first.get('podman run') ?? [])).toFixed(2)} | ${(m / median(first.get('docker run') ?? [])).toFixed(2)} |`;
      }),
      '',
      `Targets: berth run <= 0.6 x podman: ${median(times.get('berth run') ?? []) <= 0.6 * podman ? 'PASS' : 'FAIL'} (with NODE_EXTRA_CA_CERTS), ` +
        `${median(times.get('berth run (no NODE_EXTRA_CA_CERTS)') ?? []) <= 0.6 * podman ? 'PASS' : 'FAIL'} (without); ` +
        `first run faster than both: ${median(first.get('berth run') ?? []) < Math.min(median(first.get('docker run') ?? []), median(first.get('podman run') ?? [])) ? 'PASS' : 'FAIL'}`,
      '',
      quietMs > 0
        ? `Runs started on a busy machine (the ${quietMs / 1000} s idle wait timed out): ${noisy.size === 0 ? 'none' : [...noisy].map(([l, n]) => `${l} ${n}`).join(', ')}`
        : 'No idle wait (--quiet-wait 0).',
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    await dockerd?.stop();
    await registry?.stop();
    removeTempDir(dir);
  }
}

await main().catch((err: unknown) => {
  process.stderr.write(`bench run: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});
