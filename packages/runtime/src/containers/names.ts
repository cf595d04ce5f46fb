import { closeSync, openSync, readSync } from 'node:fs';

/**
 * `n` random bytes from the kernel's CSPRNG, as node:crypto's randomBytes reads them, but
 * without loading node:crypto (~2 ms of every `berth run`, which needs nothing else of it);
 * node:crypto where /dev/urandom cannot be read.
 */
function randomBytes(n: number): Buffer {
  let fd: number;
  try {
    fd = openSync('/dev/urandom', 'r');
  } catch {
    return process.getBuiltinModule('node:crypto').randomBytes(n);
  }
  try {
    const out = Buffer.alloc(n);
    for (let got = 0; got < n; ) {
      const read = readSync(fd, out, got, n - got, null);
      if (read <= 0) throw new Error('/dev/urandom: short read');
      got += read;
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** A uniform integer in [0, max), max <= 2^16 (rejection sampling: no modulo bias). */
function randomInt(max: number): number {
  const limit = Math.floor(0x10000 / max) * max;
  for (;;) {
    const v = randomBytes(2).readUInt16BE(0);
    if (v < limit) return v % max;
  }
}

/** Docker's container name grammar. */
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export class InvalidNameError extends Error {
  constructor(name: string) {
    super(`invalid container name "${name.slice(0, 140)}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at most 128 characters`);
    this.name = 'InvalidNameError';
  }
}

export function checkName(name: string): string {
  const bare = name.startsWith('/') ? name.slice(1) : name;
  if (!NAME_RE.test(bare)) throw new InvalidNameError(name);
  return bare;
}

const LEFT = ['admiring', 'brave', 'calm', 'eager', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nifty', 'proud', 'quiet', 'sharp', 'tender', 'vivid', 'wise', 'zealous'];
const RIGHT = ['babbage', 'curie', 'darwin', 'euler', 'fermat', 'galileo', 'hopper', 'kepler', 'lovelace', 'noether', 'pascal', 'ritchie', 'shannon', 'thompson', 'turing', 'wozniak'];

/** adjective_scientist, as Docker names containers; a random suffix keeps collisions rare. */
export function randomName(): string {
  return `${LEFT[randomInt(LEFT.length)] ?? 'calm'}_${RIGHT[randomInt(RIGHT.length)] ?? 'turing'}_${randomBytes(2).toString('hex')}`;
}

export function newId(): string {
  return randomBytes(32).toString('hex');
}
