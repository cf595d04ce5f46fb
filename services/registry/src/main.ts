#!/usr/bin/env node
import { ConfigError, loadConfig } from './config/index.js';
import { createLogger } from './logger.js';
import { runMigrate } from './migrate-command.js';
import { startRegistry } from './server.js';

/**
 * berth-registry serve [--config FILE]
 * Starts the registry with embedded defaults, a YAML file and BERTH_* overrides.
 * Exits 0 after a graceful SIGTERM/SIGINT, 1 on a bad configuration or start failure.
 *
 * berth-registry migrate --from FILE --to FILE: copies every blob between two storage
 * configurations (see migrate-command.ts).
 */
const USAGE = 'usage: berth-registry serve [--config FILE]\n       berth-registry migrate --from FILE --to FILE [--concurrency N]';

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === 'migrate') return runMigrate(rest, USAGE);
  if (command !== 'serve' && command !== undefined) {
    process.stderr.write(`berth-registry: unknown command "${command}"\n${USAGE}\n`);
    return 2;
  }
  let file: string | undefined;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] as string;
    if (arg === '--config' && rest[i + 1] !== undefined) file = rest[++i];
    else if (arg.startsWith('--config=')) file = arg.slice('--config='.length);
    else {
      process.stderr.write(`berth-registry: unknown argument "${arg}"\n${USAGE}\n`);
      return 2;
    }
  }
  let config;
  try {
    config = loadConfig(file !== undefined ? { file } : {});
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`berth-registry: config: ${line}\n`);
      return 1;
    }
    throw err;
  }
  const logger = createLogger(config.log.level);
  let running;
  try {
    running = await startRegistry(config, logger);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const line of err.problems) process.stderr.write(`berth-registry: config: ${line}\n`);
      return 1;
    }
    process.stderr.write(`berth-registry: cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const stop = (signal: string): void => {
      logger.info('shutting down', { signal });
      running.shutdown().then(resolve, (err: unknown) => {
        logger.error('shutdown failed', { error: String(err) });
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`berth-registry: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
