import { existsSync } from 'node:fs';
import { NetworkError } from './errors.js';
import { mustRun, runTool } from './exec.js';
import { netnsName, netnsPath } from './names.js';

/**
 * Creates the container's network namespace, pinned by a bind mount at /run/netns/berth-<id>
 * (`ip netns add`, which also makes /run/netns a shared mount so deleting it propagates),
 * with loopback up. Fails if it exists: a namespace is never shared by two containers.
 */
export async function createNetns(containerId: string): Promise<string> {
  const name = netnsName(containerId);
  const made = await runTool('ip', ['netns', 'add', name]);
  if (made.code !== 0) {
    const why = made.stderr.trim().split('\n')[0] ?? '';
    if (/exists/i.test(why)) throw new NetworkError('conflict', `network namespace ${name} already exists; release the container's network first`);
    throw new NetworkError('failed', `ip netns add ${name}: ${why}`);
  }
  await mustRun('ip', ['-n', name, 'link', 'set', 'dev', 'lo', 'up']);
  return netnsPath(containerId);
}

/** Unpins the namespace (it dies with its last process); absent is fine. */
export async function deleteNetns(containerId: string): Promise<void> {
  const name = netnsName(containerId);
  if (!existsSync(netnsPath(containerId))) return;
  const result = await runTool('ip', ['netns', 'delete', name]);
  if (result.code !== 0 && existsSync(netnsPath(containerId))) {
    throw new NetworkError('failed', `ip netns delete ${name}: ${result.stderr.trim()}`);
  }
}
