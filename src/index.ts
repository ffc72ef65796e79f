/**
 * proxmox-lxcri: create containers the way a Kubernetes CRI runtime does, on Proxmox VE hosts.
 *
 * The root entry point holds the facade — {@link createContainer} and the {@link Lxcri} lifecycle
 * class — and what its callers need. Each part has its own entry point with the rest:
 * `proxmox-lxcri/cri`, `/runtime-selector`, `/oci`, `/runtimes`, `/proxmox`, `/errors` and
 * `/testing` (the Proxmox VE simulator and the demo image).
 *
 * @packageDocumentation
 */

// The facade
export { createContainer } from './create-container.js';
export type { CreateContainerOptions, OneShotCreateResult } from './create-container.js';
export { Lxcri } from './lxcri/lxcri.js';
export type {
  CreateStep,
  LxcriProgress,
  LxcriCallOptions,
  CreateContainerResult,
  ContainerStatus,
  ContainerFilter,
  ReconcileReport,
  LxcriDependencies,
} from './lxcri/lxcri.js';
export type { LxcriOptions } from './lxcri/options.js';
export type { OciRuntimeSetup } from './lxcri/oci-runtime.js';

// The parts' main entry functions and classes
export { validateCreateContainerRequest } from './cri/validate.js';
export { FileSandboxStore, FileContainerStore } from './cri/store-file.js';
export { selectRuntime } from './runtime-selector/select-runtime.js';
export type { RuntimePolicy } from './runtime-selector/policy.js';
export type { RuntimeSelection } from './runtime-selector/select-runtime.js';
export { openImageLayout } from './oci/image/layout.js';
export type { ResolvedImage } from './oci/image/layout.js';
export { LayerCache } from './oci/layers/layer-cache.js';
export { pullImage, ensureImage } from './oci/registry/pull.js';
export type { PullPolicy } from './oci/registry/pull.js';
export { writeBundle } from './oci/bundle/write-bundle.js';
export { OciRuntimeDriver } from './runtimes/crun/driver.js';
export { ProxmoxLxcRuntime } from './runtimes/proxmox-lxc/runtime.js';
export { ProxmoxClient } from './proxmox/client.js';
export type { ProxmoxClientOptions } from './proxmox/options.js';
export type { Logger } from './logger.js';

// Errors
export {
  LxcriError,
  isLxcriError,
  hasErrorCode,
  InvalidOptionsError,
  NotFoundError,
  AlreadyExistsError,
  FailedPreconditionError,
  AbortedError,
  CriValidationError,
  RuntimeSelectionError,
} from './errors.js';
export type { LxcriErrorCode, GrpcStatus } from './errors.js';
