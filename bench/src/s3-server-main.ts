// The S3-compatible server of the S3 benchmark, in a process of its own (so its CPU is
// neither registry's): s3rver on 127.0.0.1, as the tests use it. Prints its address as
// one JSON line; for each "requests" line on stdin, prints the requests served so far by
// method as one JSON line. Serves until SIGTERM.
import { createInterface } from "node:readline";
import { startS3Server } from "@berth/storage/test-s3-server";

const s3 = await startS3Server();
process.stdout.write(`${JSON.stringify({ endpoint: s3.endpoint, bucket: s3.bucket, region: s3.region, accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey })}\n`);
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line.trim() === "requests") process.stdout.write(`${JSON.stringify(s3.requests)}\n`);
});
process.once("SIGTERM", () => {
  void s3.close().then(() => process.exit(0));
});
