import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';

export const FAKE_HOST = 'registry.berth-proxy.test';

/**
 * A forward proxy on 127.0.0.1 (CONNECT tunnels and absolute-form requests) that knows one
 * name no DNS resolves: FAKE_HOST:port goes to 127.0.0.1:port. It records what it served.
 */
export async function startProxy(): Promise<{ url: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  const resolveHost = (hostPort: string): { host: string; port: number } => {
    const [host = '', port = '80'] = hostPort.split(':');
    return { host: host === FAKE_HOST ? '127.0.0.1' : host, port: Number(port) };
  };
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/');
    seen.push(`${req.method ?? ''} ${url.host}`);
    const target = resolveHost(url.host);
    const up = httpRequest({ host: target.host, port: target.port, method: req.method, path: `${url.pathname}${url.search}`, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  const tunnels = new Set<{ destroy(): void }>();
  server.on('connect', (req, socket, head) => {
    tunnels.add(socket);
    seen.push(`CONNECT ${req.url ?? ''}`);
    const target = resolveHost(req.url ?? '');
    const up = connect(target.port, target.host, () => {
      tunnels.add(up);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of tunnels) t.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
