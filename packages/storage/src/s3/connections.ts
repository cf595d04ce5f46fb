import { connect as netConnect, isIP, type OnReadOpts, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ConnectionError } from './answer.js';

/** Size of the buffer an idle connection, and the head of each answer, is read into. */
const HEAD_READ = 16 * 1024;
/** Idle connections kept per origin. */
const MAX_IDLE = 8;
const IDLE_MS = 4000;

/** What reads on a connection go to while a request uses it. */
export interface ConnectionUser {
  /** `n` bytes were read into `buf`; return false to stop reading (resume() starts again). */
  onRead(n: number, buf: Buffer): boolean;
  /** The connection failed or the server closed it. */
  onGone(err: Error): void;
}

/**
 * A keep-alive HTTP/1.1 connection (plain or TLS) whose socket reads into buffers its user
 * chooses (`onread`), so that reading allocates nothing. While idle it reads into its own
 * small buffer: data or a close then simply drops it.
 */
export class Connection {
  readonly socket: Socket;
  /** Reads go here until a user points them elsewhere; the head of each answer always starts here. */
  readonly headBuffer = Buffer.allocUnsafeSlow(HEAD_READ);
  /** The buffer the next read goes into. */
  next: Buffer = this.headBuffer;
  /** Requests this connection carried before the current one. */
  uses = 0;
  private user: ConnectionUser | undefined;
  private alive = true;

  constructor(private readonly pool: ConnectionPool, readonly origin: string, url: URL) {
    const onread = {
      buffer: (): Buffer => this.next,
      callback: (n: number, buf: Buffer): boolean => {
        if (this.user !== undefined) return this.user.onRead(n, buf);
        this.destroy();
        return false;
      },
    };
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const tls = url.protocol === 'https:';
    const port = url.port !== '' ? Number(url.port) : tls ? 443 : 80;
    if (tls) {
      // tls.connect hands `onread` to its socket as net.connect does; @types/node omits it.
      const options: ConnectionOptions & { onread: OnReadOpts } = { host, port, onread, ...(isIP(host) === 0 ? { servername: host } : {}), ...pool.tls };
      this.socket = tlsConnect(options);
    } else {
      this.socket = netConnect({ host, port, onread });
    }
    this.socket.setNoDelay(true);
    const gone = (err: Error): void => {
      this.alive = false;
      const user = this.user;
      this.user = undefined;
      this.pool.drop(this);
      user?.onGone(err);
    };
    this.socket.on('error', gone);
    this.socket.on('end', () => gone(new ConnectionError('ECONNRESET', 'S3 closed the connection')));
    this.socket.on('close', () => gone(new ConnectionError('ECONNRESET', 'the connection to S3 closed')));
    this.socket.on('timeout', () => this.socket.destroy(new ConnectionError('ETIMEDOUT', 'S3 sent nothing within the timeout')));
  }

  get usable(): boolean {
    return this.alive && !this.socket.destroyed;
  }

  /** Gives the connection to `user` until release(), with an idle deadline of `timeout` ms. */
  attach(user: ConnectionUser, timeout: number): void {
    this.user = user;
    this.socket.setTimeout(timeout);
  }

  /** Ends the current use: back to the idle pool when `reusable`, closed otherwise. */
  release(reusable: boolean): void {
    this.user = undefined;
    this.next = this.headBuffer;
    this.uses++;
    if (reusable && this.usable) this.pool.put(this);
    else this.destroy();
  }

  destroy(): void {
    this.alive = false;
    this.user = undefined;
    this.pool.drop(this);
    this.socket.destroy();
  }
}

/**
 * Idle keep-alive connections by origin, at most MAX_IDLE each, closed after IDLE_MS
 * (before servers close theirs: Node's default keep-alive timeout is 5 s).
 */
export class ConnectionPool {
  private readonly idle = new Map<string, Connection[]>();
  private closed = false;

  /** `ca`: the certificates TLS connections trust instead of Node's default ones. */
  constructor(readonly tls: { readonly ca?: string } = {}) {}

  /** An idle connection to `url`'s origin (most recently used first), or a new one. */
  take(url: URL): Connection {
    const origin = `${url.protocol}//${url.host}`;
    const list = this.idle.get(origin) ?? [];
    for (let c = list.pop(); c !== undefined; c = list.pop()) {
      if (c.usable) {
        c.socket.ref();
        return c;
      }
    }
    return this.fresh(url);
  }

  /** A new connection to `url`'s origin. */
  fresh(url: URL): Connection {
    return new Connection(this, `${url.protocol}//${url.host}`, url);
  }

  put(c: Connection): void {
    const list = this.idle.get(c.origin) ?? [];
    if (this.closed || list.length >= MAX_IDLE) {
      c.destroy();
      return;
    }
    list.push(c);
    this.idle.set(c.origin, list);
    c.socket.setTimeout(IDLE_MS);
    // An idle socket must not keep the process alive.
    c.socket.unref();
  }

  drop(c: Connection): void {
    const list = this.idle.get(c.origin);
    const i = list?.indexOf(c) ?? -1;
    if (list !== undefined && i >= 0) list.splice(i, 1);
  }

  /** Closes every idle connection; connections in use close when their request ends. */
  close(): void {
    this.closed = true;
    for (const list of [...this.idle.values()]) for (const c of [...list]) c.destroy();
    this.idle.clear();
  }
}
