import { existsSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startDaemon, waitUntil, type Daemon } from './daemon.js';
import { requireTools } from './exec.js';
import { freePort, httpGet } from './net.js';
import { makeTempDir, removeTempDir } from './tmp.js';

export type RegistryKind = 'berth' | 'distribution';

export interface Registry {
  readonly kind: RegistryKind;
  /** host:port, as clients want it in image references, e.g. 127.0.0.1:41234 */
  readonly url: string;
  /** http://host:port, for direct HTTP requests */
  readonly base: string;
  /** Last lines of the registry's log (Berth: JSON request lines). */
  logTail(lines?: number): string;
  readonly logFile: string;
  stop(): Promise<void>;
  /** SIGKILL, as a crash would; the data directory stays. */
  kill(): Promise<void>;
}

/** Repository root (test/dist/support -> ../../..). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
export const BERTH_MAIN = join(REPO_ROOT, 'services/registry/dist/src/main.js');

/** Which registry the suite targets: BERTH_TEST_REGISTRY=distribution|berth (default berth). */
export function registryKind(): RegistryKind {
  const v = process.env['BERTH_TEST_REGISTRY'] ?? 'berth';
  if (v !== 'berth' && v !== 'distribution') {
    throw new Error(`BERTH_TEST_REGISTRY must be "berth" or "distribution", got "${v}"`);
  }
  return v;
}

function distributionConfig(dataDir: string, port: number, auth: readonly string[]): string {
  return [
    ...(auth.length > 0 ? ['auth:', ...auth.map((l) => `  ${l}`)] : []),
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: json',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${dataDir}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    '',
  ].join('\n');
}

function launch(kind: RegistryKind, dir: string, port: number, logFile: string, extraEnv: Readonly<Record<string, string>>, distributionAuth: readonly string[]): Daemon {
  if (kind === 'berth') {
    if (!existsSync(BERTH_MAIN)) {
      throw new Error(
        `Berth is not built (${BERTH_MAIN} missing): run \`npx tsc -b\`, or set BERTH_TEST_REGISTRY=distribution`,
      );
    }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...extraEnv,
      BERTH_HTTP_ADDR: `127.0.0.1:${port}`,
      BERTH_DATA_DIR: join(dir, 'data'),
    };
    delete env['BERTH_CONFIG'];
    return startDaemon(process.execPath, [BERTH_MAIN, 'serve'], { logFile, env, cwd: REPO_ROOT });
  }
  requireTools('docker-registry');
  const config = join(dir, `config-${port}.yml`);
  mkdirSync(join(dir, 'data'), { recursive: true });
  writeFileSync(config, distributionConfig(join(dir, 'data'), port, distributionAuth));
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith('REGISTRY_')) delete env[k];
  return startDaemon('/usr/bin/docker-registry', ['serve', config], { logFile, env });
}

function extraEnvHasAuth(env: Readonly<Record<string, string>> | undefined): boolean {
  return env?.['BERTH_AUTH_MODE'] !== undefined && env['BERTH_AUTH_MODE'] !== 'none';
}

export interface RegistryOptions {
  readonly kind?: RegistryKind;
  /** Extra BERTH_* settings for Berth (e.g. BERTH_LIMITS_PAGESIZE); Distribution ignores them. */
  readonly berthEnv?: Readonly<Record<string, string>>;
  /** Distribution's `auth:` section, as lines below it (e.g. ['htpasswd:', '  realm: x', ...]); Berth ignores it. */
  readonly distributionAuth?: readonly string[];
  /** Data directory to use (and keep on stop), e.g. to restart a registry on the same data. */
  readonly dir?: string;
}

/** Starts the registry under test on 127.0.0.1 on a free port and waits until it answers. */
export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const kind = options.kind ?? registryKind();
  const dir = options.dir ?? makeTempDir(`registry-${kind}`);
  const ownDir = options.dir === undefined;
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    let daemon: Daemon | undefined;
    try {
      daemon = launch(kind, dir, port, join(dir, attempt === 0 ? `registry-${port}.log` : `registry-${port}-${attempt}.log`), options.berthEnv ?? {}, options.distributionAuth ?? []);
      const base = `http://127.0.0.1:${port}`;
      const started = daemon;
      await waitUntil(
        `${kind} registry on 127.0.0.1:${port}`,
        async () => {
          if (kind === 'berth' && (await httpGet(`${base}/healthz`)).status !== 200) return false;
          // 401: the registry asks for credentials (auth.mode htpasswd or token)
          const status = (await httpGet(`${base}/v2/`)).status;
          return status === 200 || (status === 401 && (extraEnvHasAuth(options.berthEnv) || (kind === 'distribution' && (options.distributionAuth ?? []).length > 0)));
        },
        started,
        20_000,
      );
      return {
        kind,
        url: `127.0.0.1:${port}`,
        base,
        logFile: started.logFile,
        logTail: (lines) => started.logTail(lines),
        async stop() {
          await started.stop();
          if (ownDir) removeTempDir(dir);
        },
        async kill() {
          process.kill(-started.pid, 'SIGKILL');
          await started.stop();
        },
      };
    } catch (err) {
      lastError = err;
      await daemon?.stop();
      // only a lost race for the port is worth another try
      if (!/EADDRINUSE|address already in use/i.test(daemon?.logTail(200) ?? '')) break;
    }
  }
  if (ownDir) removeTempDir(dir);
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
