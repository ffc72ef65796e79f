/**
 * The OCI runtime CLI driver (crun, runc).
 *
 * @module
 */
export { OciRuntimeDriver } from './driver.js';
export type {
  ContainerExitStatus,
  OciContainerStatus,
  OciContainerState,
  CreateOciContainerOptions,
  KillOciContainerOptions,
  DeleteOciContainerOptions,
  WaitForExitOptions,
} from './driver.js';
export { ociRuntimeDriverOptionsSchema, resolveOciRuntimeDriverOptions } from './options.js';
export type { OciRuntimeDriverOptions, ResolvedOciRuntimeDriverOptions, SpawnFunction } from './options.js';
