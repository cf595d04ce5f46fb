import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, waitUntil, type Daemon } from './daemon.js';
import { requireTools, run, type RunResult } from './exec.js';
import { makeTempDir, removeTempDir } from './tmp.js';

export interface Containerd {
  readonly address: string;
  /** ctr -a <address> --namespace berth-interop ... */
  ctr(args: readonly string[], allowFailure?: boolean): Promise<RunResult>;
  logTail(lines?: number): string;
  stop(): Promise<void>;
}

/**
 * Starts a private containerd (root, state and sockets in a temp dir, CRI plugin off so
 * it needs no CNI or network setup).
 */
export async function startContainerd(): Promise<Containerd> {
  requireTools('containerd', 'ctr');
  const dir = makeTempDir('containerd');
  const address = join(dir, 'containerd.sock');
  const config = join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${join(dir, 'root')}"`,
      `state = "${join(dir, 'state')}"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${address}"`,
      '[ttrpc]',
      `  address = "${address}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const ctr = (args: readonly string[], allowFailure = false): Promise<RunResult> =>
    run('ctr', ['-a', address, '--namespace', 'berth-interop', ...args], { allowFailure, timeoutMs: 120_000 });
  let daemon: Daemon | undefined;
  const stop = async (): Promise<void> => {
    await daemon?.stop();
    removeTempDir(dir);
  };
  try {
    daemon = startDaemon('containerd', ['--config', config], { logFile: join(dir, 'containerd.log') });
    await waitUntil('containerd', async () => existsSync(address) && (await ctr(['version'], true)).code === 0, daemon);
  } catch (err) {
    await stop();
    throw err;
  }
  const started = daemon;
  return { address, ctr, logTail: (n) => started.logTail(n), stop };
}
