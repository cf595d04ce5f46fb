/**
 * conmon's exit command: `node exit-main.js <BERTH_ROOT> <run dir> <id>`. Records the exit
 * code conmon wrote and removes an --rm container. Runs detached from any terminal, so it
 * reports nothing; a failure leaves the row for the next reader to reconcile.
 */
import { Containers } from './manager.js';

async function main(): Promise<void> {
  const [root, runDir, id] = process.argv.slice(2);
  if (root === undefined || runDir === undefined || id === undefined) return;
  const containers = await Containers.open({ root, runDir });
  try {
    const rec = await containers.find(id);
    if (rec.status !== 'running' && rec.config.autoRemove) await containers.removeNow(rec);
  } finally {
    containers.close();
  }
}

void main().catch(() => {
  process.exitCode = 1;
});
