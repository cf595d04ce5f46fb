/** The subset of the OCI runtime-spec (config.json, v1.0.2) that Berth writes. */

export interface SpecUser {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface SpecCapabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient: string[];
}

export interface SpecRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface SpecProcess {
  terminal: boolean;
  consoleSize?: { height: number; width: number };
  user: SpecUser;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: SpecCapabilities;
  rlimits: SpecRlimit[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
}

export interface SpecMount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface SpecNamespace {
  type: 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup';
  path?: string;
}

export interface SpecDeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number;
  minor?: number;
  access: string;
}

export interface SpecResources {
  devices: SpecDeviceRule[];
  memory?: { limit: number; swap?: number };
  cpu?: { quota: number; period: number; shares?: number };
  pids?: { limit: number };
}

export interface SpecSyscallArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

export interface SpecSyscall {
  names: string[];
  action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO' | 'SCMP_ACT_KILL';
  errnoRet?: number;
  args?: SpecSyscallArg[];
}

export interface SpecSeccomp {
  defaultAction: 'SCMP_ACT_ERRNO' | 'SCMP_ACT_ALLOW' | 'SCMP_ACT_KILL';
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: SpecSyscall[];
}

export interface SpecHook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface RuntimeSpec {
  ociVersion: string;
  process: SpecProcess;
  root: { path: string; readonly: boolean };
  hostname: string;
  mounts: SpecMount[];
  hooks?: { prestart?: SpecHook[]; createRuntime?: SpecHook[]; poststop?: SpecHook[] };
  annotations?: Record<string, string>;
  linux: {
    namespaces: SpecNamespace[];
    resources: SpecResources;
    cgroupsPath: string;
    seccomp: SpecSeccomp;
    maskedPaths: string[];
    readonlyPaths: string[];
    sysctl?: Record<string, string>;
  };
}
