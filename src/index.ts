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
  selectRuntime,
  RUNTIME_SELECTION_STEPS,
  createRuntimeProbes,
  runtimeProbesOptionsSchema,
} from './runtime-selector/index.js';
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
  RuntimeSelection,
  RuntimeSelectionContext,
  RuntimeSelectionOutcome,
  RuntimeSelectionSource,
  RuntimeSelectionStep,
  RuntimeSelectionTraceEntry,
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
} from './runtime-selector/index.js';

// <oci images and layers>
export {
  openImageLayout,
  ImageLayout,
  imageLayoutOptionsSchema,
  parsePlatform,
  REF_NAME_ANNOTATION,
  CONTAINERD_NAME_ANNOTATION,
} from './oci/image/layout.js';
export type { ImageLayoutOptions, ResolvedImageLayoutOptions, ResolveImageOptions, ResolvedImage, ImageLayoutEntry, PlatformSpec } from './oci/image/layout.js';
export { parseImageReference, tryParseImageReference, isTag, DEFAULT_DOMAIN } from './oci/image/reference.js';
export type { ImageReference } from './oci/image/reference.js';
export { parseDigest, isDigest, sha256Digest, computeChainIds, DigestVerifier } from './oci/image/digest.js';
export type { ParsedDigest, DigestVerifierResult } from './oci/image/digest.js';
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
export type { LayerRecord, WhiteoutMode } from './oci/layers/apply-layer.js';

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
