#!/usr/bin/env node
import { CommanderError } from 'commander';
import { commandWord } from './command-word.js';
import { buildProgram } from './program.js';

/** Every failure is one line on stderr and exit status 1 (usage errors: commander's own line, status 2). */
async function main(): Promise<void> {
  const io = { out: (s: string) => process.stdout.write(s), ...(process.stdout.isTTY ? { terminal: { columns: process.stdout.columns > 0 ? process.stdout.columns : 80 } } : {}) };
  const program = buildProgram(io, process.env, commandWord(process.argv.slice(2)));
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      process.exitCode = err.exitCode === 0 ? 0 : 2;
      return;
    }
    process.stderr.write(`berth: ${oneLine(err)}\n`);
    process.exitCode = 1;
  }
}

function oneLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

void main();
