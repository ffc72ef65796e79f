/**
 * proxmox-lxcri: create containers the way a Kubernetes CRI runtime does, on Proxmox VE hosts.
 *
 * @packageDocumentation
 */

// Errors and redaction
export {
  LXCRI_ERROR_CODES,
  LxcriError,
  isLxcriError,
  hasErrorCode,
  InvalidOptionsError,
  NotFoundError,
  AlreadyExistsError,
  FailedPreconditionError,
  AbortedError,
  StoreError,
  CriValidationError,
  RuntimeSelectionError,
  ImageError,
  LayerExtractionError,
  BundleError,
  OciRuntimeError,
  ProxmoxHttpError,
  ProxmoxNetworkError,
  ProxmoxTimeoutError,
  ProxmoxAuthError,
  ProxmoxTaskError,
  ProxmoxResponseError,
} from './errors.js';
export type {
  GrpcStatus,
  LxcriErrorCode,
  LxcriErrorOptions,
  CriValidationIssue,
  ProxmoxHttpErrorDetails,
} from './errors.js';
export { redact, redactString, isSecretKey, REDACTED } from './redact.js';

// Logging
export { silentLogger, createRedactingLogger } from './logger.js';
export type { Logger, LogFn } from './logger.js';

// runtime-selector
export {
  RUNTIME_NAMES,
  PRIVILEGED_POLICIES,
  DEFAULT_RUNTIME_HANDLERS,
  DEFAULT_RUNTIME_ANNOTATION,
  runtimePolicySchema,
  parseRuntimePolicy,
  loadRuntimePolicy,
} from './runtime-selector/policy.js';
export {
  selectRuntime,
  RUNTIME_SELECTION_STEPS,
} from './runtime-selector/select-runtime.js';
export {
  createRuntimeProbes,
  runtimeProbesOptionsSchema,
} from './runtime-selector/probes.js';
export type {
  RuntimeName,
  PrivilegedPolicy,
  RuntimePolicy,
  RuntimeRule,
  RuntimeRuleMatch,
  RuntimeFallbackPolicy,
  ResolvedRuntimePolicy,
  ResolvedRuntimeRule,
  LoadRuntimePolicyOptions,
} from './runtime-selector/policy.js';
export type {
  RuntimeSelection,
  RuntimeSelectionContext,
  RuntimeSelectionOutcome,
  RuntimeSelectionSource,
  RuntimeSelectionStep,
  RuntimeSelectionTraceEntry,
} from './runtime-selector/select-runtime.js';
export type {
  RuntimeProbes,
  RuntimeProbesOptions,
  ResolvedRuntimeProbesOptions,
  RunProbesOptions,
  RuntimeProbeResults,
  RuntimeProbeResult,
  OciRuntimeProbeResult,
  ProxmoxProbeResult,
  ProxmoxVersionSource,
  RuntimeProbeSpawn,
} from './runtime-selector/probes.js';

// <oci images and layers>
export {
  openImageLayout,
  ImageLayout,
  imageLayoutOptionsSchema,
  parsePlatform,
  resolveImageOptionsSchema,
  importImageOptionsSchema,
  REF_NAME_ANNOTATION,
  CONTAINERD_NAME_ANNOTATION,
} from './oci/image/layout.js';
export type {
  ImageLayoutOptions,
  ResolvedImageLayoutOptions,
  ResolveImageOptions,
  ResolvedResolveImageOptions,
  ImportImageOptions,
  ResolvedImage,
  ImageLayoutEntry,
  PlatformSpec,
} from './oci/image/layout.js';
export { parseImageReference, tryParseImageReference, isTag, DEFAULT_DOMAIN } from './oci/image/reference.js';
export type { ImageReference } from './oci/image/reference.js';
export { parseDigest, isDigest, sha256Digest, computeChainIds, DigestVerifier } from './oci/image/digest.js';
export type { ParsedDigest } from './oci/image/digest.js';
export {
  MEDIA_TYPES,
  layerCompression,
  ociImageConfigSchema,
  ociManifestSchema,
  ociIndexSchema,
  ociDescriptorSchema,
  ociPlatformSchema,
  ociImageRunConfigSchema,
  ociHistorySchema,
} from './oci/image/types.js';
export type { OciImageConfig, OciImageRunConfig, OciHistory, OciManifest, OciIndex, OciDescriptor, OciPlatform, LayerCompression } from './oci/image/types.js';
export { unpackImage, unpackImageOptionsSchema, applyLayerBlob } from './oci/layers/unpack-image.js';
export type {
  UnpackImageOptions,
  ResolvedUnpackImageOptions,
  UnpackImageResult,
  LayerProgress,
  ProgressCallback,
  ApplyLayerBlobOptions,
  ApplyLayerResult,
} from './oci/layers/unpack-image.js';
export { extractionLimitsSchema } from './oci/layers/limits.js';
export type { ExtractionLimits, ResolvedExtractionLimits } from './oci/layers/limits.js';
export type { LayerRecord, WhiteoutMode, LowerView, LowerEntry } from './oci/layers/apply-layer.js';
export { LayerCache, layerCacheOptionsSchema, createRootfsOptionsSchema } from './oci/layers/layer-cache.js';
export type {
  LayerCacheOptions,
  ResolvedLayerCacheOptions,
  CreateRootfsOptions,
  ResolvedCreateRootfsOptions,
  RootfsHandle,
  CachedLayerInfo,
  LayerCacheGcResult,
} from './oci/layers/layer-cache.js';

// <cri> CRI schemas, normalisation, validation, sandbox and container stores
export {
  NAMESPACE_MODES,
  MOUNT_PROPAGATIONS,
  PROTOCOLS,
  SUPPLEMENTAL_GROUPS_POLICIES,
  SECURITY_PROFILE_TYPES,
  CRI_SIGNALS,
  SANDBOX_STATES,
  CONTAINER_STATES,
} from './cri/types.js';
export type {
  NamespaceMode,
  MountPropagation,
  Protocol,
  SupplementalGroupsPolicy,
  SecurityProfileType,
  CriSignal,
  NormalizedKeyValue,
  NormalizedIdMapping,
  NormalizedImageSpec,
  NormalizedInt64Value,
  NormalizedSecurityProfile,
  NormalizedSelinuxOption,
  NormalizedUserNamespace,
  NormalizedNamespaceOption,
  NormalizedHugepageLimit,
  NormalizedLinuxContainerResources,
  NormalizedContainerMetadata,
  NormalizedMount,
  NormalizedDevice,
  NormalizedCdiDevice,
  NormalizedCapability,
  NormalizedLinuxContainerSecurityContext,
  NormalizedLinuxContainerConfig,
  NormalizedWindowsContainerSecurityContext,
  NormalizedWindowsCpuGroupAffinity,
  NormalizedWindowsContainerResources,
  NormalizedWindowsContainerConfig,
  NormalizedContainerConfig,
  NormalizedPodSandboxMetadata,
  NormalizedDnsConfig,
  NormalizedPortMapping,
  NormalizedLinuxSandboxSecurityContext,
  NormalizedLinuxPodSandboxConfig,
  NormalizedWindowsNamespaceOption,
  NormalizedWindowsSandboxSecurityContext,
  NormalizedWindowsPodSandboxConfig,
  NormalizedPodSandboxConfig,
  NormalizedCreateContainerRequest,
  SandboxState,
  ContainerState,
  SandboxNamespacePaths,
  SandboxRecord,
  ContainerRecord,
  StoreOperationOptions,
  ContainerListFilter,
  SandboxStore,
  ContainerStore,
} from './cri/types.js';
export {
  KeyValueSchema,
  IdMappingSchema,
  ImageSpecSchema,
  Int64ValueSchema,
  SecurityProfileSchema,
  SelinuxOptionSchema,
  UserNamespaceSchema,
  NamespaceOptionSchema,
  HugepageLimitSchema,
  LinuxContainerResourcesSchema,
  ContainerMetadataSchema,
  MountSchema,
  DeviceSchema,
  CdiDeviceSchema,
  CapabilitySchema,
  LinuxContainerSecurityContextSchema,
  LinuxContainerConfigSchema,
  WindowsContainerSecurityContextSchema,
  WindowsCpuGroupAffinitySchema,
  WindowsContainerResourcesSchema,
  WindowsContainerConfigSchema,
  ContainerConfigSchema,
  PodSandboxMetadataSchema,
  DnsConfigSchema,
  PortMappingSchema,
  LinuxSandboxSecurityContextSchema,
  LinuxPodSandboxConfigSchema,
  WindowsNamespaceOptionSchema,
  WindowsSandboxSecurityContextSchema,
  WindowsPodSandboxConfigSchema,
  PodSandboxConfigSchema,
  CreateContainerRequestSchema,
} from './cri/schema.js';
export type {
  CreateContainerRequestInput,
  ContainerConfigInput,
  PodSandboxConfigInput,
  CreateContainerRequestOutput,
  ContainerConfigOutput,
  PodSandboxConfigOutput,
} from './cri/schema.js';
export {
  NormalizeOptionsSchema,
  normalizeCreateContainerRequest,
  tryNormalizeCreateContainerRequest,
  normalizeContainerConfig,
  normalizePodSandboxConfig,
  tryNormalizePodSandboxConfig,
} from './cri/normalize.js';
export type { NormalizeOptions, ResolvedNormalizeOptions, NormalizeResult } from './cri/normalize.js';
export { validateCreateContainerRequest, validatePodSandboxConfig } from './cri/validate.js';
export type { ValidateContext, RuntimeHandlerFeatures } from './cri/validate.js';
export { createLinuxHostInspector, parseMountinfo } from './cri/host-inspector.js';
export type { HostInspector, HostPathKind, HostMountPropagation, LinuxHostInspectorOptions } from './cri/host-inspector.js';
export { InMemorySandboxStore, InMemoryContainerStore } from './cri/store-memory.js';
export { FileSandboxStore, FileContainerStore, FileStoreOptionsSchema } from './cri/store-file.js';
export type { FileStoreOptions, ResolvedFileStoreOptions, FileStoreWriteInfo } from './cri/store-file.js';
export { RECORD_ID_PATTERN } from './cri/store-common.js';
// </cri>

// <proxmox>
export { ProxmoxClient } from './proxmox/client.js';
export type { RequestOptions } from './proxmox/client.js';
export {
  proxmoxClientOptionsSchema,
  authOptionsSchema,
  resolveProxmoxClientOptions,
} from './proxmox/options.js';
export type {
  ProxmoxClientOptions,
  ResolvedProxmoxClientOptions,
  AuthOptions,
  ResolvedAuthOptions,
  OtpProvider,
  TfaChallengeContext,
  Clock,
  Sleep,
} from './proxmox/options.js';
export { tlsOptionsSchema } from './proxmox/transport/tls.js';
export type { TlsOptions, ResolvedTlsOptions } from './proxmox/transport/tls.js';
export { fetchTransport } from './proxmox/transport/fetch-transport.js';
export type { FetchTransportOptions } from './proxmox/transport/fetch-transport.js';
export { axiosTransport } from './proxmox/transport/axios-transport.js';
export type { AxiosLike, AxiosLikeRequestConfig, AxiosLikeResponse } from './proxmox/transport/axios-transport.js';
export { isTransport } from './proxmox/transport/types.js';
export type {
  Transport,
  TransportFactory,
  TransportContext,
  TransportRequest,
  TransportResponse,
  StreamBody,
  HttpMethod,
} from './proxmox/transport/types.js';
export { encodeForm, percentEncode } from './proxmox/transport/encode.js';
export type { Params, ParamValue } from './proxmox/transport/encode.js';
export type { UploadProgress } from './proxmox/transport/multipart.js';
export { ticketResponseSchema } from './proxmox/transport/auth.js';
export type { TicketResponse } from './proxmox/transport/auth.js';
export {
  encodePropertyString,
  parsePropertyString,
  encodeIndexedParams,
  parseIndexedParamName,
  INDEXED_PARAM_LIMITS,
  netPropertySchema,
  rootfsPropertySchema,
  mountPointPropertySchema,
  featuresPropertySchema,
  startupPropertySchema,
  devicePropertySchema,
} from './proxmox/property-string.js';
export type {
  PropertyStringKind,
  PropertyStringTypes,
  IndexedPropertyKind,
  NetProperty,
  RootfsProperty,
  MountPointProperty,
  FeaturesProperty,
  StartupProperty,
  DeviceProperty,
} from './proxmox/property-string.js';
export { parseUpid, isUpid } from './proxmox/upid.js';
export type { Upid } from './proxmox/upid.js';
export { waitForTask, isTaskSuccess, readTaskLog, timerSleep } from './proxmox/wait-for-task.js';
export type {
  TaskStatus,
  TaskLogLine,
  TaskReader,
  TaskResult,
  TaskWaitProgress,
  WaitForTaskOptions,
  WaitForTaskDeps,
} from './proxmox/wait-for-task.js';
export { VmidAllocator, Mutex, isVmidConflict } from './proxmox/vmid.js';
export type { AllocateVmidOptions, AllocateVmidResult, CreateWithVmid, VmidAllocatorOptions } from './proxmox/vmid.js';
export { choosePlacement } from './proxmox/placement.js';
export type { Placement, PlacementCriteria } from './proxmox/placement.js';
export type { Endpoint, CallOptions, RetryPolicy, EndpointSender } from './proxmox/api/endpoint.js';
export { VersionApi, versionSchema } from './proxmox/api/version.js';
export type { PveVersion } from './proxmox/api/version.js';
export { NodesApi, nodeSchema } from './proxmox/api/nodes.js';
export type { PveNode } from './proxmox/api/nodes.js';
export { ClusterApi, clusterResourceSchema } from './proxmox/api/cluster.js';
export type { ClusterResource, ClusterResourceType } from './proxmox/api/cluster.js';
export { LxcApi, toLxcWireParams, lxcListEntrySchema, lxcStatusSchema, lxcConfigSchema } from './proxmox/api/lxc.js';
export type {
  LxcCreateParams,
  LxcConfigParams,
  LxcConfigUpdateParams,
  LxcListEntry,
  LxcStatus,
  LxcConfig,
  Indexed,
} from './proxmox/api/lxc.js';
export { StorageApi, normalizeContentFilename, storageSchema, storageContentSchema } from './proxmox/api/storage.js';
export type { PveStorage, StorageContent, UploadOptions, UploadResult, UploadContentType, ChecksumAlgorithm } from './proxmox/api/storage.js';
export { TasksApi, taskStatusSchema, taskLogSchema } from './proxmox/api/tasks.js';
export { AccessApi } from './proxmox/api/access.js';
export type { TicketParams } from './proxmox/api/access.js';
// </proxmox>

// <oci-spec, oci-bundle, runtimes-crun>
export {
  buildRuntimeSpec,
  DEFAULT_PATH_ENV,
  CRI_ANNOTATIONS,
} from './oci/spec/build.js';
export {
  buildRuntimeSpecOptionsSchema,
  resolveBuildRuntimeSpecOptions,
  hostDeviceInfoSchema,
} from './oci/spec/options.js';
export {
  collectSpecInputs,
  detectHostSpecDefaults,
} from './oci/spec/collect.js';
export {
  ALL_CAPABILITIES,
  DEFAULT_CAPABILITIES,
  DEFAULT_SECCOMP_DENIED_SYSCALLS,
  defaultMounts,
  defaultSeccompProfile,
  seccompArchitectures,
} from './oci/spec/defaults.js';
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
} from './oci/spec/runtime-spec.js';
export {
  readImageUserDb,
  readRootfsFile,
  resolveInRootfs,
  parsePasswd,
  parseGroup,
  USER_DB_MAX_BYTES,
} from './oci/spec/user-db.js';
export type {
  SpecImageConfig,
} from './oci/spec/build.js';
export type {
  BuildRuntimeSpecOptions,
  ResolvedBuildRuntimeSpecOptions,
  HostDeviceInfo,
} from './oci/spec/options.js';
export type {
  CollectedSpecInputs,
  CollectSpecInputsOptions,
  HostSpecDefaults,
} from './oci/spec/collect.js';
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
} from './oci/spec/runtime-spec.js';
export type {
  PasswdEntry,
  GroupEntry,
  ImageUserDb,
} from './oci/spec/user-db.js';
export {
  writeBundle,
  bundlePath,
  mountsBelow,
  unpackRootfsProvider,
  writeBundleOptionsSchema,
} from './oci/bundle/write-bundle.js';
export {
  shiftOwnership,
  mapToHost,
} from './oci/bundle/shift-ownership.js';
export type {
  WriteBundleOptions,
  ResolvedWriteBundleOptions,
  BundleSpecOptions,
  OciBundle,
  RootfsProvider,
  ProvidedRootfs,
  RootfsMode,
} from './oci/bundle/write-bundle.js';
export {
  OciRuntimeDriver,
} from './runtimes/crun/driver.js';
export {
  ociRuntimeDriverOptionsSchema,
  resolveOciRuntimeDriverOptions,
} from './runtimes/crun/options.js';
export type {
  ContainerExitStatus,
  OciContainerStatus,
  OciContainerState,
  CreateOciContainerOptions,
  KillOciContainerOptions,
  DeleteOciContainerOptions,
  WaitForExitOptions,
} from './runtimes/crun/driver.js';
export type {
  OciRuntimeDriverOptions,
  ResolvedOciRuntimeDriverOptions,
  SpawnFunction,
} from './runtimes/crun/options.js';
// </oci-spec, oci-bundle, runtimes-crun>

// <facade>
export { createContainer } from './create-container.js';
export type { CreateContainerOptions, OneShotCreateResult } from './create-container.js';
export { Lxcri, CREATE_STEPS } from './lxcri/lxcri.js';
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
export { lxcriOptionsSchema } from './lxcri/options.js';
export type { LxcriOptions, ResolvedLxcriOptions } from './lxcri/options.js';
export type { OciRuntimeSetup } from './lxcri/oci-runtime.js';
export { ProxmoxLxcRuntime } from './runtimes/proxmox-lxc/runtime.js';
// </facade>
