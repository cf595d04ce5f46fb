import { join } from 'node:path';

/**
 * Where containers live:
 *
 *   <BERTH_ROOT>/
 *     containers.db                 SQLite: one row per container (state.ts)
 *     containers/<id>/              the OCI bundle and everything else of one container
 *       config.json                 the runtime config (spec.ts)
 *       rootfs/                     the root file system runc starts in (an overlay mount)
 *       hosts hostname resolv.conf  bind-mounted over the container's /etc files
 *       ctr.log                     output of a detached container (conmon's k8s-file format)
 *       exit/<id>                   its exit code, written by conmon when it ends
 *       conmon.pid, pidfile         conmon's and the container's pid
 *     containers/.trash/<id>/       a removed container's files, until the rm removing them ends
 *   /run/berth/
 *     runc/                         runc's state (--root), on tmpfs: gone after a reboot, as
 *                                   the containers are
 *     sock/<id> -> the bundle       conmon's short link to the bundle, where its `attach` socket
 *                                   is: connected through the link, as sun_path holds 108 bytes
 */
export class ContainerPaths {
  readonly db: string;
  readonly containers: string;

  constructor(
    readonly root: string,
    readonly run: string = '/run/berth',
  ) {
    this.db = join(root, 'containers.db');
    this.containers = join(root, 'containers');
  }

  get runcRoot(): string {
    return join(this.run, 'runc');
  }

  get socketDir(): string {
    return join(this.run, 'sock');
  }

  get trash(): string {
    return join(this.containers, '.trash');
  }

  bundle(id: string): string {
    return join(this.containers, checked(id));
  }

  rootfs(id: string): string {
    return join(this.bundle(id), 'rootfs');
  }

  log(id: string): string {
    return join(this.bundle(id), 'ctr.log');
  }

  exitDir(id: string): string {
    return join(this.bundle(id), 'exit');
  }

  exitFile(id: string): string {
    return join(this.exitDir(id), checked(id));
  }
}

const ID_RE = /^[a-f0-9]{64}$/;

/** Container ids are 64 hex characters; anything else never becomes a path. */
function checked(id: string): string {
  if (!ID_RE.test(id)) throw new Error(`invalid container id "${id.slice(0, 80)}"`);
  return id;
}
