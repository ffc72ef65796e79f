/**
 * `proxmox-lxcri/proxmox`: the Proxmox VE API client — auth (tokens, tickets, TFA), TLS pinning, endpoint groups, tasks, VMIDs, property strings.
 *
 * @packageDocumentation
 */
export { ProxmoxClient } from '../proxmox/client.js';
export type { RequestOptions } from '../proxmox/client.js';
export type { ProxmoxClientOptions, AuthOptions, OtpProvider, TfaChallengeContext } from '../proxmox/options.js';
export type { TlsOptions } from '../proxmox/transport/tls.js';
export { fetchTransport } from '../proxmox/transport/fetch-transport.js';
export type { FetchTransportOptions } from '../proxmox/transport/fetch-transport.js';
export { axiosTransport } from '../proxmox/transport/axios-transport.js';
export type { AxiosLike, AxiosLikeRequestConfig, AxiosLikeResponse } from '../proxmox/transport/axios-transport.js';
export type { Transport, TransportFactory, TransportRequest, TransportResponse } from '../proxmox/transport/types.js';
export type { UploadProgress } from '../proxmox/transport/multipart.js';
export { encodePropertyString, parsePropertyString, encodeIndexedParams } from '../proxmox/property-string.js';
export type { PropertyStringKind, PropertyStringTypes, IndexedPropertyKind, NetProperty, RootfsProperty, MountPointProperty, FeaturesProperty, StartupProperty, DeviceProperty } from '../proxmox/property-string.js';
export { parseUpid, isUpid } from '../proxmox/upid.js';
export type { Upid } from '../proxmox/upid.js';
export { waitForTask, isTaskSuccess, readTaskLog } from '../proxmox/wait-for-task.js';
export type { TaskStatus, TaskLogLine, TaskResult, TaskWaitProgress, WaitForTaskOptions } from '../proxmox/wait-for-task.js';
export { VmidAllocator, isVmidConflict } from '../proxmox/vmid.js';
export type { AllocateVmidOptions, AllocateVmidResult, CreateWithVmid, VmidAllocatorOptions } from '../proxmox/vmid.js';
export { choosePlacement } from '../proxmox/placement.js';
export type { Placement, PlacementCriteria } from '../proxmox/placement.js';
export type { Endpoint, CallOptions, RetryPolicy } from '../proxmox/api/endpoint.js';
export { VersionApi } from '../proxmox/api/version.js';
export type { PveVersion } from '../proxmox/api/version.js';
export { NodesApi } from '../proxmox/api/nodes.js';
export type { PveNode } from '../proxmox/api/nodes.js';
export { ClusterApi } from '../proxmox/api/cluster.js';
export type { ClusterResource, ClusterResourceType } from '../proxmox/api/cluster.js';
export { LxcApi } from '../proxmox/api/lxc.js';
export type { LxcCreateParams, LxcConfigParams, LxcConfigUpdateParams, LxcListEntry, LxcStatus, LxcConfig } from '../proxmox/api/lxc.js';
export { StorageApi, normalizeContentFilename } from '../proxmox/api/storage.js';
export type { PveStorage, StorageContent, UploadOptions, UploadResult, UploadContentType, ChecksumAlgorithm } from '../proxmox/api/storage.js';
export { TasksApi } from '../proxmox/api/tasks.js';
export { AccessApi } from '../proxmox/api/access.js';
export type { TicketParams } from '../proxmox/api/access.js';
