import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { createS3Client } from '../src/s3/client.js';
import { UrlSigner } from '../src/s3/presign.js';
import { startS3Server, type TestS3Server } from './s3-server.js';

const retry = { attempts: 1, baseDelay: 1, maxDelay: 1, timeout: 5000 };
const AT = new Date('2026-03-04T05:06:07Z');

const configs = [
  { name: 'path-style on a custom endpoint', region: 'us-east-1', endpoint: 'http://127.0.0.1:9000', forcePathStyle: true },
  { name: 'virtual-hosted on AWS', region: 'eu-west-1', forcePathStyle: false },
  { name: 'path-style on AWS', region: 'ap-southeast-2', forcePathStyle: true },
  { name: 'virtual-hosted on a custom endpoint with a path', region: 'us-east-1', endpoint: 'https://s3.example:8443/store', forcePathStyle: false },
] as const;

const keys = ['registry/uploads/0b6f3f6e-2d5c-4d47-9b0e-1f1c2f3a4b5c', 'uploads/x', "odd prefix/with spaces+plus/!'()*~/uploads/y"];

describe('UrlSigner: pre-signed GET URLs signed locally', () => {
  for (const c of configs) {
    for (const sessionToken of [undefined, 'token/with+special=chars']) {
      test(`the same URL as the SDK's presigner, character for character: ${c.name}${sessionToken !== undefined ? ', session credentials' : ''}`, async () => {
        const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', ...(sessionToken !== undefined ? { sessionToken } : {}) };
        const client = createS3Client({ ...c, credentials, retry });
        try {
          const signer = new UrlSigner(client, 'my-bucket');
          assert.equal(await signer.signsItself(), true);
          for (const key of keys) {
            for (const expiresIn of [60, 1200, 604800]) {
              const sdk = await getSignedUrl(client, new GetObjectCommand({ Bucket: 'my-bucket', Key: key }), { expiresIn, signingDate: AT });
              assert.equal(await signer.url(key, expiresIn, AT), sdk);
            }
          }
        } finally {
          client.destroy();
        }
      });
    }
  }
});

describe('UrlSigner against a real S3-compatible server', () => {
  let s3: TestS3Server;
  before(async () => {
    s3 = await startS3Server();
  });
  after(async () => {
    await s3.close();
  });

  test('its URLs serve the object and ranges of it; a tampered one is refused', async () => {
    const client = createS3Client({ region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey }, retry });
    try {
      const body = Buffer.from('signed here, served there');
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'p/uploads/one', Body: body }));
      const signer = new UrlSigner(client, s3.bucket);
      const url = await signer.url('p/uploads/one', 300);
      assert.deepEqual(Buffer.from(await (await fetch(url)).arrayBuffer()), body);
      const part = await fetch(url, { headers: { Range: 'bytes=7-10' } });
      assert.equal(part.status, 206);
      assert.equal(await part.text(), 'here');
      const other = url.replace('/p/uploads/one?', '/p/uploads/two?');
      assert.equal((await fetch(other)).status, 403);
    } finally {
      client.destroy();
    }
  });
});
