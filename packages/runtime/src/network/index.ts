/**
 * Container networking: `none`, `host` and `bridge`.
 *
 * Lifecycle, as `berth run` uses it (all calls need root except host mode):
 *
 *   const ports = parsePortMappings(argv['-p'])          // PortSpecError on a bad value
 *   const net = await setupNetwork(id, { mode, ports })  // bridge: berth0, 10.89.0.0/24
 *   await writeNetworkFiles(dir, { mode, hostname, ip: net.ip })   // bind-mount the 3 files
 *   config.json linux.namespaces: net.netnsPath === undefined
 *       ? no network entry at all (host mode shares the host's)
 *       : { type: 'network', path: net.netnsPath }
 *   ... the container runs, exits ...
 *   await releaseNetwork(id)   // on container removal; also after a crash: state is on disk
 *
 * none     a fresh namespace with only loopback, up.
 * host     no namespace of its own; nothing to release; -p is refused (the ports are the host's).
 * bridge   a namespace with eth0 (one end of a veth; the other on the bridge), an address
 *          leased from the subnet, a default route via the bridge (the gateway: the subnet's
 *          first address), NAT to the outside (MASQUERADE), and published ports as DNAT
 *          rules that also answer on 127.0.0.1 (route_localnet on the bridge, no proxy
 *          process; see publish.ts and bridge.ts).
 *
 * Addresses and published ports are claimed in one SQLite transaction under a lock shared
 * by every berth process (state.ts, in /run/berth/network by default: host-wide like the
 * bridge and rules it accounts for, and gone at reboot like them), so concurrent runs get
 * distinct addresses and a port is published once. A bridge serves one state directory
 * (its alias says which). A failed setup undoes itself. networkEndpoints lists what is
 * held, e.g. to release what removed containers left behind.
 * Errors are NetworkError with a kind (invalid, conflict, permission, unavailable, failed)
 * and a one-line message for the CLI.
 */
export {
  setupNetwork,
  releaseNetwork,
  removeBridgeNetwork,
  networkEndpoints,
  DEFAULT_BRIDGE,
  DEFAULT_SUBNET,
  type ContainerNetwork,
  type EndpointInfo,
  type NetworkMode,
  type NetworkOptions,
} from './setup.js';
export { parsePortMapping, parsePortMappings, formatPortMapping, type PortMapping, type PortProtocol } from './ports.js';
export { writeNetworkFiles, checkHostname, type NetworkFiles, type NetworkFilesOptions } from './files.js';
export { NetworkError, PortSpecError, type NetworkErrorKind } from './errors.js';
export { DEFAULT_STATE_DIR } from './state.js';
export { netnsPath } from './names.js';
