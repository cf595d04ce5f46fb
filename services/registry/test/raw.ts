import type { Response } from 'superagent';
import type { Test } from 'supertest';

/** Makes supertest keep the body as raw bytes whatever its content type. */
export function raw(t: Test): Test {
  return t.buffer(true).parse((res: Response, cb: (err: Error | null, body: Buffer) => void) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => cb(null, Buffer.concat(chunks)));
  });
}
