import type { PortMapping } from '../network/ports.js';
import type { VolumeMount } from './spec.js';

export type { PortMapping } from '../network/ports.js';

/**
 * What a container was created with, kept in containers.db: enough to start it again,
 * to answer inspect, ps and port, and to clean it up.
 */
export interface ContainerConfig {
  /** The image as the user named it, its id (config digest) and manifest digest. */
  readonly image: string;
  readonly imageId: string;
  readonly imageDigest: string;
  readonly entrypoint: readonly string[];
  readonly cmd: readonly string[];
  /** The process as config.json runs it (init included). */
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly workdir: string;
  readonly user: string;
  readonly hostname: string;
  readonly tty: boolean;
  readonly interactive: boolean;
  readonly autoRemove: boolean;
  readonly network: 'none' | 'host' | 'bridge';
  readonly ports: readonly PortMapping[];
  readonly exposedPorts: readonly string[];
  readonly volumes: readonly VolumeMount[];
  readonly readOnly: boolean;
  readonly init: boolean;
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly memory?: number;
  readonly cpus?: number;
  readonly pidsLimit?: number;
  readonly stopSignal: string;
  /** Which OCI runtime runs it: 'runc' or 'crun'. */
  readonly runtime: string;
  /** bridge: the container's address and gateway. */
  readonly ip?: string;
  readonly gateway?: string;
}
