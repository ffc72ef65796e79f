/**
 * zod schema of the OCI runtime-spec `config.json` subset this package emits (Linux only).
 *
 * Every object is strict: a field the generator does not know cannot slip in. The schema also
 * carries the prose MUSTs of `config.md` that the official JSON schema does not enforce:
 * `process.cwd` absolute, at least one `process.args` entry, `process.user.uid/gid` present,
 * `root.path` present, mount destinations absolute. `linux.rootfsPropagation` uses the schema's
 * enum (`private | shared | slave | unbindable`) — not the `rslave`/`rshared` spelling that
 * containerd and CRI-O emit, which fails the official schema; the e2e tests show runc and crun
 * propagate HOST_TO_CONTAINER and BIDIRECTIONAL mounts the same with either spelling.
 *
 * @module
 */
import { z } from 'zod';

const uint32 = z.number().int().min(0).max(0xffff_ffff);
const int64 = z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER);
const uint64 = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const absolutePath = z.string().regex(/^\//, 'must be an absolute path');

/** `process.user`. */
export const ociUserSchema = z.strictObject({
  uid: uint32,
  gid: uint32,
  umask: uint32.optional(),
  additionalGids: z.array(uint32).optional(),
});

/** `process.capabilities`: `CAP_`-prefixed names. */
export const ociCapabilitiesSchema = z.strictObject({
  bounding: z.array(z.string().regex(/^CAP_[A-Z_]+$/)).optional(),
  effective: z.array(z.string().regex(/^CAP_[A-Z_]+$/)).optional(),
  inheritable: z.array(z.string().regex(/^CAP_[A-Z_]+$/)).optional(),
  permitted: z.array(z.string().regex(/^CAP_[A-Z_]+$/)).optional(),
  ambient: z.array(z.string().regex(/^CAP_[A-Z_]+$/)).optional(),
});

/** `process.rlimits[]`. */
export const ociRlimitSchema = z.strictObject({ type: z.string().regex(/^RLIMIT_[A-Z]+$/), soft: uint64, hard: uint64 });

/** `process`. */
export const ociProcessSchema = z.strictObject({
  terminal: z.boolean().optional(),
  user: ociUserSchema,
  args: z.array(z.string()).min(1, 'process.args needs at least one entry').refine((a) => (a[0] ?? '') !== '', 'process.args[0] must not be empty'),
  env: z.array(z.string().regex(/^[^=]+=/, 'env entries are KEY=value')).optional(),
  cwd: absolutePath,
  capabilities: ociCapabilitiesSchema.optional(),
  rlimits: z.array(ociRlimitSchema).optional(),
  noNewPrivileges: z.boolean().optional(),
  apparmorProfile: z.string().optional(),
  oomScoreAdj: z.number().int().min(-1000).max(1000).optional(),
  selinuxLabel: z.string().optional(),
});

/** `root`. */
export const ociRootSchema = z.strictObject({ path: z.string().min(1), readonly: z.boolean().optional() });

/** `linux.uidMappings[]` / `mounts[].uidMappings[]`. */
export const ociIdMappingSchema = z.strictObject({ containerID: uint32, hostID: uint32, size: uint32 });

/** `mounts[]`. */
export const ociMountSchema = z.strictObject({
  destination: absolutePath,
  type: z.string().optional(),
  source: z.string().optional(),
  options: z.array(z.string()).optional(),
  uidMappings: z.array(ociIdMappingSchema).optional(),
  gidMappings: z.array(ociIdMappingSchema).optional(),
});

/** Namespace types of `linux.namespaces[]`. */
export const OCI_NAMESPACE_TYPES = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'] as const;
/** A namespace type. */
export type OciNamespaceType = (typeof OCI_NAMESPACE_TYPES)[number];

/** `linux.namespaces[]`. */
export const ociNamespaceSchema = z.strictObject({ type: z.enum(OCI_NAMESPACE_TYPES), path: absolutePath.optional() });

/** `linux.devices[]`. */
export const ociDeviceSchema = z.strictObject({
  type: z.enum(['c', 'b', 'u', 'p']),
  path: absolutePath,
  major: int64.optional(),
  minor: int64.optional(),
  fileMode: uint32.optional(),
  uid: uint32.optional(),
  gid: uint32.optional(),
});

/** `linux.resources.devices[]` (cgroup device rules). */
export const ociDeviceCgroupSchema = z.strictObject({
  allow: z.boolean(),
  type: z.enum(['a', 'c', 'b']).optional(),
  major: int64.optional(),
  minor: int64.optional(),
  access: z.string().regex(/^[rwm]*$/).optional(),
});

/** `linux.resources`. */
export const ociResourcesSchema = z.strictObject({
  devices: z.array(ociDeviceCgroupSchema).optional(),
  memory: z
    .strictObject({ limit: int64.optional(), reservation: int64.optional(), swap: int64.optional(), kernel: int64.optional(), swappiness: uint64.optional() })
    .optional(),
  cpu: z
    .strictObject({
      shares: uint64.optional(),
      quota: int64.optional(),
      period: uint64.optional(),
      realtimeRuntime: int64.optional(),
      realtimePeriod: uint64.optional(),
      cpus: z.string().optional(),
      mems: z.string().optional(),
    })
    .optional(),
  pids: z.strictObject({ limit: int64 }).optional(),
  hugepageLimits: z.array(z.strictObject({ pageSize: z.string().regex(/^[1-9][0-9]*[KMG]B$/), limit: uint64 })).optional(),
  unified: z.record(z.string(), z.string()).optional(),
});

/** Seccomp actions of the schema. */
export const OCI_SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
] as const;

/** `linux.seccomp.syscalls[].args[]`. */
export const ociSyscallArgSchema = z.strictObject({
  index: uint32,
  value: uint64,
  valueTwo: uint64.optional(),
  op: z.enum(['SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_EQ', 'SCMP_CMP_GE', 'SCMP_CMP_GT', 'SCMP_CMP_MASKED_EQ']),
});

/** `linux.seccomp`. */
export const ociSeccompSchema = z.strictObject({
  defaultAction: z.enum(OCI_SECCOMP_ACTIONS),
  defaultErrnoRet: uint32.optional(),
  architectures: z.array(z.string().regex(/^SCMP_ARCH_[A-Z0-9_]+$/)).optional(),
  flags: z.array(z.string().regex(/^SECCOMP_FILTER_FLAG_[A-Z_]+$/)).optional(),
  listenerPath: z.string().optional(),
  listenerMetadata: z.string().optional(),
  syscalls: z
    .array(
      z.strictObject({
        names: z.array(z.string()).min(1),
        action: z.enum(OCI_SECCOMP_ACTIONS),
        errnoRet: uint32.optional(),
        args: z.array(ociSyscallArgSchema).optional(),
      }),
    )
    .optional(),
});

/** `linux`. */
export const ociLinuxSchema = z.strictObject({
  namespaces: z.array(ociNamespaceSchema).optional(),
  uidMappings: z.array(ociIdMappingSchema).optional(),
  gidMappings: z.array(ociIdMappingSchema).optional(),
  devices: z.array(ociDeviceSchema).optional(),
  resources: ociResourcesSchema.optional(),
  cgroupsPath: z.string().optional(),
  rootfsPropagation: z.enum(['private', 'shared', 'slave', 'unbindable']).optional(),
  seccomp: ociSeccompSchema.optional(),
  sysctl: z.record(z.string(), z.string()).optional(),
  maskedPaths: z.array(absolutePath).optional(),
  readonlyPaths: z.array(absolutePath).optional(),
  mountLabel: z.string().optional(),
});

/** The runtime-spec `config.json` subset emitted by {@link buildRuntimeSpec}. */
export const ociRuntimeSpecSchema = z.strictObject({
  ociVersion: z.string().regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'ociVersion must be SemVer'),
  process: ociProcessSchema,
  root: ociRootSchema,
  hostname: z.string().optional(),
  mounts: z.array(ociMountSchema).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  linux: ociLinuxSchema,
});

/** A runtime-spec `config.json` as emitted by {@link buildRuntimeSpec}. */
export type OciRuntimeSpec = z.output<typeof ociRuntimeSpecSchema>;
/** `process` of {@link OciRuntimeSpec}. */
export type OciProcess = z.output<typeof ociProcessSchema>;
/** `mounts[]` of {@link OciRuntimeSpec}. */
export type OciMount = z.output<typeof ociMountSchema>;
/** `linux` of {@link OciRuntimeSpec}. */
export type OciLinux = z.output<typeof ociLinuxSchema>;
/** `linux.seccomp` of {@link OciRuntimeSpec}. */
export type OciSeccomp = z.output<typeof ociSeccompSchema>;
/** `linux.resources` of {@link OciRuntimeSpec}. */
export type OciResources = z.output<typeof ociResourcesSchema>;
/** `linux.namespaces[]` of {@link OciRuntimeSpec}. */
export type OciNamespace = z.output<typeof ociNamespaceSchema>;
/** `linux.devices[]` of {@link OciRuntimeSpec}. */
export type OciDevice = z.output<typeof ociDeviceSchema>;
/** `process.capabilities` of {@link OciRuntimeSpec}. */
export type OciCapabilities = z.output<typeof ociCapabilitiesSchema>;
/** `linux.uidMappings[]` entry. */
export type OciIdMapping = z.output<typeof ociIdMappingSchema>;
