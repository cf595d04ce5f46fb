/**
 * Error kinds of the network module. Core code throws these; the CLI prints `message` as
 * its one line on stderr. Messages name the offending value and what would be accepted.
 */
export type NetworkErrorKind =
  /** A bad value from the user: a `-p` spec, a subnet, a container id. */
  | 'invalid'
  /** Something else holds the resource: a host port, an address range, a bridge name. */
  | 'conflict'
  /** Not root (bridge and none networks need CAP_NET_ADMIN and iptables). */
  | 'permission'
  /** A tool the network needs (ip, iptables) is missing. */
  | 'unavailable'
  /** A kernel or tool operation failed. */
  | 'failed';

export class NetworkError extends Error {
  constructor(
    readonly kind: NetworkErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NetworkError';
  }
}

/** A `-p` value that does not parse; `spec` is the raw text the user gave. */
export class PortSpecError extends NetworkError {
  constructor(
    readonly spec: string,
    reason: string,
  ) {
    super('invalid', `invalid port mapping "${spec}": ${reason}`);
    this.name = 'PortSpecError';
  }
}
