import { randomBytes, randomInt } from 'node:crypto';

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
