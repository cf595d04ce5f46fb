/**
 * Containers: OCI bundles generated from image configs (spec.ts), run with runc (or crun),
 * detached ones held by conmon, state in containers.db.
 */
export { Containers, type ManagerOptions } from './manager.js';
export { ContainerNotFoundError, ContainerStateError } from './errors.js';
export { parseSignal, SIGNALS } from './signals.js';
export { attach, exec, logOffset } from './attach.js';
export { type CreateRequest, type RootfsSource, InvalidRequestError, CATATONIT } from './create.js';
export { type ContainerConfig, type PortMapping } from './config.js';
export { type ContainerRecord, type ContainerStatus, NameInUseError } from './state.js';
export { buildSpec, processArgs, processEnv, NoCommandError, MASKED_PATHS, READONLY_PATHS, INIT_PATH, type ImageRunConfig, type SpecInput, type VolumeMount } from './spec.js';
export { capabilitySet, DEFAULT_CAPABILITIES, InvalidCapabilityError } from './capabilities.js';
export { defaultSeccomp } from './seccomp.js';
export { resolveUser, UnknownUserError } from './user.js';
export { readLog, parseRecord, type LogRecord, type LogSink } from './logs.js';
export { OciRuntime, RuntimeError } from './runc.js';
export { ContainerPaths } from './paths.js';
export { InvalidNameError } from './names.js';
export type { RuntimeSpec } from './spec-types.js';
// what `berth run` needs from the other modules, without loading all of them
export { ensureLayers } from '../layers/cache.js';
export { createRootfs, openRootfs } from '../layers/rootfs.js';
export { diffToLayer } from '../layers/diff.js';
export { parsePortMappings } from '../network/ports.js';
