import type { Readable, Writable } from 'node:stream';

/**
 * Copies `src` into `dest` without ending `dest`, honouring its backpressure. Rejects
 * (and destroys `src`) when either side fails or `dest` closes first (the client left).
 */
export function pumpInto(src: Readable, dest: Writable): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      src.off('data', onData);
      src.off('end', onEnd);
      src.off('error', finish);
      dest.off('drain', onDrain);
      dest.off('close', onClose);
      dest.off('error', finish);
      if (err !== undefined) {
        src.destroy();
        reject(err instanceof Error ? err : new Error('stream failed'));
      } else resolve();
    };
    const onData = (chunk: Buffer): void => {
      if (!dest.write(chunk)) src.pause();
    };
    const onDrain = (): void => {
      src.resume();
    };
    const onEnd = (): void => finish();
    const onClose = (): void => finish(new Error('the destination closed before the blob was sent'));
    if (dest.destroyed || dest.writableEnded) {
      finish(new Error('the destination is closed'));
      return;
    }
    src.on('data', onData);
    src.once('end', onEnd);
    src.once('error', finish);
    dest.on('drain', onDrain);
    dest.once('close', onClose);
    dest.once('error', finish);
  });
}
