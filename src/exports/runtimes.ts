/**
 * `proxmox-lxcri/runtimes`: the two runtimes — the OCI runtime driver (crun or runc) and the Proxmox VE LXC runtime.
 *
 * @packageDocumentation
 */
export { OciRuntimeDriver } from '../runtimes/crun/driver.js';
export type { ContainerExitStatus, OciContainerStatus, OciContainerState, CreateOciContainerOptions, KillOciContainerOptions, DeleteOciContainerOptions, WaitForExitOptions } from '../runtimes/crun/driver.js';
export type { OciRuntimeDriverOptions } from '../runtimes/crun/options.js';
export { ProxmoxLxcRuntime } from '../runtimes/proxmox-lxc/runtime.js';
export type { LxcContainerRef, LxcCreateOptions, LxcCreateResult, LxcContainerStatus, LxcContainerInfo, LxcCallOptions } from '../runtimes/proxmox-lxc/runtime.js';
export type { ProxmoxLxcRuntimeOptions } from '../runtimes/proxmox-lxc/options.js';
export type { LxcProgress, LxcProgressPhase } from '../runtimes/proxmox-lxc/progress.js';
export { LXC_ANNOTATIONS, LXCRI_TAG, parseMarker } from '../runtimes/proxmox-lxc/ct-params.js';
export type { LxcMarker } from '../runtimes/proxmox-lxc/ct-params.js';
