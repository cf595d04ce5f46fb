// The S3-compatible server of the S3 benchmark, in a process of its own (so its CPU is
// neither registry's): s3rver on 127.0.0.1, as the tests use it. Prints its address as
// one JSON line, serves until SIGTERM.
import { startS3Server } from "@berth/storage/test-s3-server";

const s3 = await startS3Server();
process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey })}\n`);
process.once("SIGTERM", () => {
  void s3.close().then(() => process.exit(0));
});
