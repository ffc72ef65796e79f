/**
 * `proxmox-lxcri/cri`: CRI v1 normalisation and validation (containerd/CRI-O rules), and the sandbox and container stores.
 *
 * @packageDocumentation
 */
export { NAMESPACE_MODES, MOUNT_PROPAGATIONS, PROTOCOLS, SUPPLEMENTAL_GROUPS_POLICIES, SECURITY_PROFILE_TYPES, CRI_SIGNALS, SANDBOX_STATES, CONTAINER_STATES } from '../cri/types.js';
export type { NamespaceMode, MountPropagation, Protocol, SupplementalGroupsPolicy, SecurityProfileType, CriSignal, NormalizedKeyValue, NormalizedIdMapping, NormalizedImageSpec, NormalizedInt64Value, NormalizedSecurityProfile, NormalizedSelinuxOption, NormalizedUserNamespace, NormalizedNamespaceOption, NormalizedHugepageLimit, NormalizedLinuxContainerResources, NormalizedContainerMetadata, NormalizedMount, NormalizedDevice, NormalizedCdiDevice, NormalizedCapability, NormalizedLinuxContainerSecurityContext, NormalizedLinuxContainerConfig, NormalizedWindowsContainerSecurityContext, NormalizedWindowsCpuGroupAffinity, NormalizedWindowsContainerResources, NormalizedWindowsContainerConfig, NormalizedContainerConfig, NormalizedPodSandboxMetadata, NormalizedDnsConfig, NormalizedPortMapping, NormalizedLinuxSandboxSecurityContext, NormalizedLinuxPodSandboxConfig, NormalizedWindowsNamespaceOption, NormalizedWindowsSandboxSecurityContext, NormalizedWindowsPodSandboxConfig, NormalizedPodSandboxConfig, NormalizedCreateContainerRequest, SandboxState, ContainerState, SandboxNamespacePaths, SandboxRecord, ContainerRecord, StoreOperationOptions, ContainerListFilter, SandboxStore, ContainerStore } from '../cri/types.js';
export type { CreateContainerRequestInput, ContainerConfigInput, PodSandboxConfigInput, CreateContainerRequestOutput, ContainerConfigOutput, PodSandboxConfigOutput } from '../cri/schema.js';
export { normalizeCreateContainerRequest, normalizeContainerConfig, normalizePodSandboxConfig } from '../cri/normalize.js';
export type { NormalizeOptions } from '../cri/normalize.js';
export { validateCreateContainer, validateCreateContainerRequest, validateOnHost, validatePodSandboxConfig } from '../cri/validate.js';
export type { ValidateContext, RuntimeHandlerFeatures, ValidatedCreateContainer } from '../cri/validate.js';
export { createLinuxHostInspector } from '../cri/host-inspector.js';
export type { HostInspector, HostPathKind, HostMountPropagation, LinuxHostInspectorOptions } from '../cri/host-inspector.js';
export { InMemorySandboxStore, InMemoryContainerStore } from '../cri/store-memory.js';
export { FileSandboxStore, FileContainerStore } from '../cri/store-file.js';
export type { FileStoreOptions } from '../cri/store-file.js';
export type { HostSysctl, SeccompProfileRead } from '../cri/host-inspector.js';
