/**
 * CRI request + image config → OCI runtime-spec `config.json`.
 *
 * @module
 */
export { buildRuntimeSpec, DEFAULT_PATH_ENV, CRI_ANNOTATIONS } from './build.js';
export type { SpecImageConfig } from './build.js';
export { buildRuntimeSpecOptionsSchema, resolveBuildRuntimeSpecOptions, hostDeviceInfoSchema } from './options.js';
export type { BuildRuntimeSpecOptions, ResolvedBuildRuntimeSpecOptions, HostDeviceInfo } from './options.js';
export { collectSpecInputs, detectHostSpecDefaults } from './collect.js';
export type { CollectedSpecInputs, CollectSpecInputsOptions, HostSpecDefaults } from './collect.js';
export {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_SECCOMP_DENIED_SYSCALLS,
  defaultMounts,
  defaultSeccompProfile,
  seccompArchitectures,
} from './defaults.js';
export {
  ociRuntimeSpecSchema,
  ociProcessSchema,
  ociUserSchema,
  ociCapabilitiesSchema,
  ociRlimitSchema,
  ociRootSchema,
  ociMountSchema,
  ociIdMappingSchema,
  ociNamespaceSchema,
  ociDeviceSchema,
  ociDeviceCgroupSchema,
  ociResourcesSchema,
  ociSeccompSchema,
  ociSyscallArgSchema,
  ociLinuxSchema,
  OCI_NAMESPACE_TYPES,
  OCI_SECCOMP_ACTIONS,
} from './runtime-spec.js';
export type {
  OciRuntimeSpec,
  OciProcess,
  OciMount,
  OciLinux,
  OciSeccomp,
  OciResources,
  OciNamespace,
  OciNamespaceType,
  OciDevice,
  OciCapabilities,
  OciIdMapping,
} from './runtime-spec.js';
export { readImageUserDb, readRootfsFile, resolveInRootfs, parsePasswd, parseGroup, USER_DB_MAX_BYTES } from './user-db.js';
export type { PasswdEntry, GroupEntry, ImageUserDb } from './user-db.js';
