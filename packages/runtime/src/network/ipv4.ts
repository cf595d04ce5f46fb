import { NetworkError } from './errors.js';

/** Dotted-quad IPv4 text to its 32-bit value, or undefined when it is not one (no leading zeros). */
export function parseIPv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = value * 256 + octet;
  }
  return value;
}

export function formatIPv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** An IPv4 network in CIDR form, normalised (host bits zero). */
export interface Subnet {
  readonly base: number;
  readonly prefix: number;
  /** `a.b.c.d/n`, as stored and shown. */
  readonly cidr: string;
}

/**
 * Parses a subnet for a bridge network. Host bits must be zero and the prefix between 8 and
 * 30, so there is room for the gateway (first address) and at least one container.
 */
export function parseSubnet(text: string): Subnet {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(text);
  const base = match?.[1] === undefined ? undefined : parseIPv4(match[1]);
  const prefix = Number(match?.[2]);
  if (base === undefined || !(prefix >= 8 && prefix <= 30)) {
    throw new NetworkError('invalid', `invalid subnet "${text}": expected IPv4 CIDR such as 10.89.0.0/24 (prefix /8 to /30)`);
  }
  if (((base & hostMask(prefix)) >>> 0) !== 0) {
    throw new NetworkError('invalid', `invalid subnet "${text}": host bits set (did you mean ${formatIPv4((base & ~hostMask(prefix)) >>> 0)}/${prefix}?)`);
  }
  return { base, prefix, cidr: `${formatIPv4(base)}/${prefix}` };
}

/** The host part's bits: 2^(32-prefix) - 1. */
function hostMask(prefix: number): number {
  return (2 ** (32 - prefix) - 1) >>> 0;
}

/** The gateway (the bridge's own address): the first host address. */
export function gatewayOf(subnet: Subnet): number {
  return subnet.base + 1;
}

/** Addresses containers may get: after the gateway, before the broadcast address. */
export function hostRange(subnet: Subnet): { first: number; last: number } {
  return { first: subnet.base + 2, last: subnet.base + hostMask(subnet.prefix) - 1 };
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const aEnd = a.base + (a.prefix === 32 ? 0 : hostMask(a.prefix));
  const bEnd = b.base + (b.prefix === 32 ? 0 : hostMask(b.prefix));
  return a.base <= bEnd && b.base <= aEnd;
}

/** Any `a.b.c.d[/n]` as routes print it (n 0..32, host bits dropped), or undefined. */
export function parseRoutePrefix(text: string): Subnet | undefined {
  const [addr, len] = text.split('/');
  const base = parseIPv4(addr ?? '');
  const prefix = len === undefined ? 32 : Number(len);
  if (base === undefined || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) return undefined;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const masked = (base & mask) >>> 0;
  return { base: masked, prefix, cidr: `${formatIPv4(masked)}/${prefix}` };
}
