import { request as plainRequest } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Proxies from the standard environment: HTTPS_PROXY for https URLs, HTTP_PROXY for http
 * (lower-case forms win, as in curl and Go), NO_PROXY a comma list of hosts, domain
 * suffixes (".example.com" or "example.com"), host:port entries or "*". As in Go's (so
 * docker's) clients, loopback hosts are never proxied.
 */
export function proxyFor(url: URL, env: NodeJS.ProcessEnv = process.env): URL | undefined {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (host === 'localhost' || /^127\./.test(host) || host === '::1') return undefined;
  const raw = url.protocol === 'https:' ? (env['https_proxy'] ?? env['HTTPS_PROXY']) : (env['http_proxy'] ?? env['HTTP_PROXY']);
  if (raw === undefined || raw === '') return undefined;
  const noProxy = (env['no_proxy'] ?? env['NO_PROXY'] ?? '').split(',').map((e) => e.trim().toLowerCase()).filter((e) => e !== '');
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  for (const entry of noProxy) {
    if (entry === '*') return undefined;
    const [entryHost = '', entryPort] = entry.startsWith('[') ? [entry.slice(1, entry.indexOf(']')), entry.split(']:')[1]] : entry.split(':');
    if (entryPort !== undefined && entryPort !== port) continue;
    const bare = entryHost.replace(/^\*?\./, '');
    if (host === bare || host.endsWith(`.${bare}`)) return undefined;
  }
  try {
    return new URL(raw.includes('://') ? raw : `http://${raw}`);
  } catch {
    throw new Error(`invalid proxy URL in the environment: "${raw.slice(0, 200)}"`);
  }
}

/** The Proxy-Authorization header for a proxy URL with credentials. */
export function proxyAuthorization(proxy: URL): Record<string, string> {
  if (proxy.username === '') return {};
  const creds = `${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`;
  return { 'proxy-authorization': `Basic ${Buffer.from(creds).toString('base64')}` };
}

/**
 * A TCP tunnel to `target` through the proxy (HTTP CONNECT), for TLS to run over. Fails
 * with ECONNREFUSED-like errors the caller classes as unreachable.
 */
export function connectTunnel(proxy: URL, target: URL, signal: AbortSignal | undefined): Promise<Socket> {
  const port = target.port !== '' ? target.port : '443';
  return new Promise<Socket>((resolve, reject) => {
    const req = plainRequest({
      host: proxy.hostname,
      port: proxy.port !== '' ? proxy.port : 80,
      method: 'CONNECT',
      path: `${target.hostname}:${port}`,
      headers: { host: `${target.hostname}:${port}`, ...proxyAuthorization(proxy) },
      ...(signal !== undefined ? { signal } : {}),
    });
    req.once('connect', (res, socket) => {
      if (res.statusCode === 200) return resolve(socket);
      socket.destroy();
      reject(Object.assign(new Error(`proxy ${proxy.host} refused the tunnel to ${target.host}: HTTP ${res.statusCode ?? 0}`), { code: 'ECONNREFUSED' }));
    });
    req.once('error', reject);
    req.end();
  });
}
