/**
 * The command of a `berth` command line: its first argument that is no option (`--root`,
 * berth's one global option with a value, skipped with its value), if it is a plain
 * lower-case word; undefined when there is none (e.g. `berth --help`).
 */
export function commandWord(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a === '--root') i++;
    else if (!a.startsWith('-')) return /^[a-z][a-z-]{0,31}$/.test(a) ? a : undefined;
  }
  return undefined;
}
