// Free-port lookup and a tiny HTTP client (node:http) for readiness checks and seeding.
import { createServer } from "node:net";
import { request } from "node:http";
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr !== null && typeof addr === "object") resolve(addr.port);
        else reject(new Error("no port"));
      });
    });
  });
}

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  timeoutMs?: number;
}

export function http(req: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const r = request(req.url, { method: req.method, headers: req.headers ?? {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on("error", reject);
    });
    r.setTimeout(req.timeoutMs ?? 30_000, () => r.destroy(new Error(`timeout: ${req.method} ${req.url}`)));
    r.on("error", reject);
    const body = req.body;
    if (body === undefined) r.end();
    else if (Buffer.isBuffer(body)) r.end(body);
    else body.pipe(r);
  });
}

export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

/** One-line description of a response for anomaly reports. */
export function describe(req: HttpRequest, res: HttpResponse): string {
  const hs = Object.entries(res.headers)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.join(", ") : (v ?? "")}`)
    .join("; ");
  return `${req.method} ${req.url} -> ${res.status} [${hs}] ${res.body.subarray(0, 300).toString("utf8")}`;
}
