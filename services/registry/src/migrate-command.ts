import { ConfigError, loadConfig, type Config } from './config/index.js';
import { migrateBlobs, type MigrateProgress } from './migrate.js';

/**
 * berth-registry migrate --from FILE --to FILE [--concurrency N]
 * Each FILE is a complete registry configuration (BERTH_* variables are not applied, so
 * the two cannot be mixed up). Prints one line per blob to stderr and a summary to
 * stdout; exits 0 when every blob is in the target, 1 when some failed (run it again
 * to retry them: copied blobs are skipped), 2 on usage errors.
 */
export async function runMigrate(args: readonly string[], usage: string): Promise<number> {
  const opts: Record<string, string> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    const m = /^--(from|to|concurrency)(?:=(.*))?$/.exec(arg);
    const value = m?.[2] ?? args[i + 1];
    if (m === null || value === undefined) {
      process.stderr.write(`berth-registry: migrate: unexpected argument "${arg}"\n${usage}\n`);
      return 2;
    }
    if (m[2] === undefined) i++;
    opts[m[1] as string] = value;
  }
  const concurrency = Number(opts['concurrency'] ?? '4');
  if (opts['from'] === undefined || opts['to'] === undefined || !Number.isInteger(concurrency) || concurrency < 1 || concurrency > 64) {
    process.stderr.write(`berth-registry: migrate: --from and --to are required; --concurrency is 1 to 64\n${usage}\n`);
    return 2;
  }
  let from: Config;
  let to: Config;
  try {
    from = loadConfig({ file: opts['from'], env: {} });
    to = loadConfig({ file: opts['to'], env: {} });
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`berth-registry: config: ${line}\n`);
      return 1;
    }
    throw err;
  }
  const started = Date.now();
  const line = (p: MigrateProgress): string =>
    `[${p.index}/${p.total}] ${p.outcome} ${p.digest} (${mib(p.size)})${p.error !== undefined ? `: ${p.error}` : ''}\n`;
  const result = await migrateBlobs(from, to, { concurrency, onProgress: (p) => process.stderr.write(line(p)) });
  const secs = (Date.now() - started) / 1000;
  process.stdout.write(
    `migrated ${result.total} blobs from ${from.storage.driver} to ${to.storage.driver}: ${result.copied} copied (${mib(result.bytes)}), ` +
      `${result.skipped} already there, ${result.failed} failed, in ${secs.toFixed(1)} s\n`,
  );
  return result.failed > 0 ? 1 : 0;
}

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
