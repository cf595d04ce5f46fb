import { PortSpecError } from './errors.js';
import { parseIPv4 } from './ipv4.js';

export type PortProtocol = 'tcp' | 'udp';

/** One published port: traffic to hostIp:hostPort (any local address when hostIp is absent) goes to the container's port. */
export interface PortMapping {
  /** IPv4 address of the host to publish on; undefined means every local address. */
  readonly hostIp?: string;
  readonly hostPort: number;
  readonly containerPort: number;
  readonly protocol: PortProtocol;
}

/**
 * Parses one `-p` value: `[hostIp:]hostPort:containerPort[/tcp|/udp]` (tcp by default).
 * Ports are 1..65535; hostIp is an IPv4 address (0.0.0.0 means every address). Throws
 * PortSpecError naming the value and the reason.
 */
export function parsePortMapping(spec: string): PortMapping {
  const slash = spec.lastIndexOf('/');
  const body = slash < 0 ? spec : spec.slice(0, slash);
  const protoText = slash < 0 ? 'tcp' : spec.slice(slash + 1).toLowerCase();
  if (protoText !== 'tcp' && protoText !== 'udp') {
    throw new PortSpecError(spec, `protocol must be tcp or udp, got "${protoText}"`);
  }
  if (body.startsWith('[')) throw new PortSpecError(spec, 'IPv6 host addresses are not supported');
  const parts = body.split(':');
  if (parts.length === 1) {
    throw new PortSpecError(spec, 'expected [ip:]hostPort:containerPort (a host port is required)');
  }
  if (parts.length > 3) throw new PortSpecError(spec, 'expected [ip:]hostPort:containerPort[/tcp|udp]');
  const [ipText, hostText, ctrText] = parts.length === 3 ? parts : [undefined, parts[0], parts[1]];
  let hostIp: string | undefined;
  if (ipText !== undefined && ipText !== '' && ipText !== '0.0.0.0') {
    if (parseIPv4(ipText) === undefined) throw new PortSpecError(spec, `"${ipText}" is not an IPv4 address`);
    hostIp = ipText;
  }
  const hostPort = parsePort(spec, 'host', hostText ?? '');
  const containerPort = parsePort(spec, 'container', ctrText ?? '');
  return hostIp === undefined
    ? { hostPort, containerPort, protocol: protoText }
    : { hostIp, hostPort, containerPort, protocol: protoText };
}

function parsePort(spec: string, which: string, text: string): number {
  if (text.includes('-')) throw new PortSpecError(spec, `${which} port ranges are not supported`);
  if (!/^[0-9]{1,5}$/.test(text)) throw new PortSpecError(spec, `${which} port "${text}" is not a number`);
  const port = Number(text);
  if (port < 1 || port > 65535) throw new PortSpecError(spec, `${which} port ${port} is out of range 1-65535`);
  return port;
}

/** At most this many published ports per container (each is a DNAT rule). */
export const MAX_PORT_MAPPINGS = 256;

/**
 * Parses every `-p` value of one container and refuses two that claim the same host port and
 * protocol on overlapping addresses (the same IP, or one of them on every address).
 */
export function parsePortMappings(specs: readonly string[]): PortMapping[] {
  if (specs.length > MAX_PORT_MAPPINGS) {
    throw new PortSpecError(specs[MAX_PORT_MAPPINGS] ?? '', `at most ${MAX_PORT_MAPPINGS} published ports per container`);
  }
  const mappings: PortMapping[] = [];
  specs.forEach((spec) => {
    const m = parsePortMapping(spec);
    const clash = mappings.findIndex((o) => portsClash(o, m));
    if (clash >= 0) {
      throw new PortSpecError(spec, `host port ${m.hostPort}/${m.protocol} is already published by "${specs[clash] ?? ''}"`);
    }
    mappings.push(m);
  });
  return mappings;
}

/** Whether two mappings would both receive the same packets. */
export function portsClash(a: PortMapping, b: PortMapping): boolean {
  return (
    a.protocol === b.protocol &&
    a.hostPort === b.hostPort &&
    (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp)
  );
}

export function formatPortMapping(m: PortMapping): string {
  return `${m.hostIp === undefined ? '' : `${m.hostIp}:`}${m.hostPort}:${m.containerPort}/${m.protocol}`;
}
