/**
 * Normalised CRI v1 types (cri-api v0.36.3) and the sandbox / container record types.
 *
 * A normalised object is what {@link normalizeCreateContainerRequest} and
 * `validateCreateContainerRequest` return. It is one camelCase object that follows the proto's
 * lowerCamelCase JSON names exactly, with these rules:
 *
 * - enums are the proto enum value **names** (`'POD'`, `'PROPAGATION_PRIVATE'`, `'RuntimeDefault'`,
 *   `'SIGTERM'`, ...), whatever spelling the input used (name, number, or the `SIGNAL_` prefixed
 *   names of newer cri-api versions for {@link CriSignal});
 * - int64 / uint64 / int32 / uint32 are JS numbers (non-safe integers are rejected);
 * - repeated fields are arrays (default `[]`), maps are `Record<string, string>` (default `{}`);
 * - scalars have their proto3 defaults filled (`''`, `0`, `false`, first enum value);
 * - message fields whose **presence carries meaning** stay optional (documented on each field);
 *   message fields whose absence means the same as an empty message are always present
 *   ("always present" in their TSDoc), so consumers do not null-check deep chains.
 *
 * Always present after normalisation: `config`, `config.metadata`, `config.image`,
 * `config.linux`, `config.linux.securityContext`, `config.linux.securityContext.capabilities`,
 * `config.linux.securityContext.namespaceOptions`, `config.linux.securityContext.selinuxOptions`,
 * `sandboxConfig`, `sandboxConfig.metadata`, `sandboxConfig.linux`,
 * `sandboxConfig.linux.securityContext`, `sandboxConfig.linux.securityContext.namespaceOptions`,
 * `sandboxConfig.linux.securityContext.selinuxOptions`.
 *
 * Optional because presence matters: `config.linux.resources` (present ⇒ `oomScoreAdj` is applied),
 * `runAsUser` / `runAsGroup` (`Int64Value` wrappers), `seccomp` / `apparmor` (nil ⇒ unconfined
 * seccomp, `{}` ⇒ RuntimeDefault), `namespaceOptions.usernsOptions` (nil ⇒ no user namespace),
 * `mounts[].image` (present ⇒ image volume), `sandboxConfig.dnsConfig`,
 * `sandboxConfig.linux.overhead` / `.resources`, and the Windows-only `windows` messages (accepted
 * by the parser, rejected by validation when set).
 *
 * @module
 */

// ---------------------------------------------------------------------------------------------
// Enums (value names, in proto order: index = proto number)

/** `runtime.v1.NamespaceMode` value names, index = proto number. */
export const NAMESPACE_MODES = ['POD', 'CONTAINER', 'NODE', 'TARGET'] as const;
/** `runtime.v1.NamespaceMode`: POD=0, CONTAINER=1, NODE=2, TARGET=3. */
export type NamespaceMode = (typeof NAMESPACE_MODES)[number];

/** `runtime.v1.MountPropagation` value names, index = proto number. */
export const MOUNT_PROPAGATIONS = ['PROPAGATION_PRIVATE', 'PROPAGATION_HOST_TO_CONTAINER', 'PROPAGATION_BIDIRECTIONAL'] as const;
/** `runtime.v1.MountPropagation`: PRIVATE (rprivate), HOST_TO_CONTAINER (rslave), BIDIRECTIONAL (rshared). */
export type MountPropagation = (typeof MOUNT_PROPAGATIONS)[number];

/** `runtime.v1.Protocol` value names, index = proto number. */
export const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;
/** `runtime.v1.Protocol`. */
export type Protocol = (typeof PROTOCOLS)[number];

/** `runtime.v1.SupplementalGroupsPolicy` value names, index = proto number. */
export const SUPPLEMENTAL_GROUPS_POLICIES = ['Merge', 'Strict'] as const;
/** `runtime.v1.SupplementalGroupsPolicy`: Merge=0 (default), Strict=1. */
export type SupplementalGroupsPolicy = (typeof SUPPLEMENTAL_GROUPS_POLICIES)[number];

/** `runtime.v1.SecurityProfile.ProfileType` value names, index = proto number. */
export const SECURITY_PROFILE_TYPES = ['RuntimeDefault', 'Unconfined', 'Localhost'] as const;
/** `runtime.v1.SecurityProfile.ProfileType`: RuntimeDefault=0, Unconfined=1, Localhost=2. */
export type SecurityProfileType = (typeof SECURITY_PROFILE_TYPES)[number];

/**
 * `runtime.v1.Signal` value names as in cri-api v0.36.3, index = proto number (0..65).
 * Newer cri-api versions spell them `SIGNAL_<name>`; both spellings are accepted on input and the
 * v0.36.3 spelling is the normalised one.
 */
export const CRI_SIGNALS = [
  'RUNTIME_DEFAULT', 'SIGABRT', 'SIGALRM', 'SIGBUS', 'SIGCHLD', 'SIGCLD', 'SIGCONT', 'SIGFPE', 'SIGHUP', 'SIGILL',
  'SIGINT', 'SIGIO', 'SIGIOT', 'SIGKILL', 'SIGPIPE', 'SIGPOLL', 'SIGPROF', 'SIGPWR', 'SIGQUIT', 'SIGSEGV',
  'SIGSTKFLT', 'SIGSTOP', 'SIGSYS', 'SIGTERM', 'SIGTRAP', 'SIGTSTP', 'SIGTTIN', 'SIGTTOU', 'SIGURG', 'SIGUSR1',
  'SIGUSR2', 'SIGVTALRM', 'SIGWINCH', 'SIGXCPU', 'SIGXFSZ', 'SIGRTMIN', 'SIGRTMINPLUS1', 'SIGRTMINPLUS2',
  'SIGRTMINPLUS3', 'SIGRTMINPLUS4', 'SIGRTMINPLUS5', 'SIGRTMINPLUS6', 'SIGRTMINPLUS7', 'SIGRTMINPLUS8',
  'SIGRTMINPLUS9', 'SIGRTMINPLUS10', 'SIGRTMINPLUS11', 'SIGRTMINPLUS12', 'SIGRTMINPLUS13', 'SIGRTMINPLUS14',
  'SIGRTMINPLUS15', 'SIGRTMAXMINUS14', 'SIGRTMAXMINUS13', 'SIGRTMAXMINUS12', 'SIGRTMAXMINUS11', 'SIGRTMAXMINUS10',
  'SIGRTMAXMINUS9', 'SIGRTMAXMINUS8', 'SIGRTMAXMINUS7', 'SIGRTMAXMINUS6', 'SIGRTMAXMINUS5', 'SIGRTMAXMINUS4',
  'SIGRTMAXMINUS3', 'SIGRTMAXMINUS2', 'SIGRTMAXMINUS1', 'SIGRTMAX',
] as const;
/** `runtime.v1.Signal` (ContainerConfig.stop_signal); `RUNTIME_DEFAULT` = use the image's StopSignal. */
export type CriSignal = (typeof CRI_SIGNALS)[number];

// ---------------------------------------------------------------------------------------------
// Shared messages

/** `runtime.v1.KeyValue` (an environment variable). `value` is decoded to a string. */
export interface NormalizedKeyValue {
  key: string;
  value: string;
}

/** `runtime.v1.IDMapping`: uint32 fields. */
export interface NormalizedIdMapping {
  hostId: number;
  containerId: number;
  length: number;
}

/** `runtime.v1.ImageSpec`. */
export interface NormalizedImageSpec {
  /** Image reference or id. Validation requires it to be non-empty. */
  image: string;
  annotations: Record<string, string>;
  userSpecifiedImage: string;
  runtimeHandler: string;
  imageRef: string;
}

/** `runtime.v1.Int64Value`, the presence wrapper used for uid/gid. */
export interface NormalizedInt64Value {
  value: number;
}

/** `runtime.v1.SecurityProfile` (seccomp or AppArmor). */
export interface NormalizedSecurityProfile {
  profileType: SecurityProfileType;
  /** Only with `Localhost`: an absolute path (seccomp) or a profile name (AppArmor). */
  localhostRef: string;
}

/** `runtime.v1.SELinuxOption`. */
export interface NormalizedSelinuxOption {
  user: string;
  role: string;
  type: string;
  level: string;
}

/** `runtime.v1.UserNamespace`. */
export interface NormalizedUserNamespace {
  /** Only POD and NODE are supported by CRI. */
  mode: NamespaceMode;
  uids: NormalizedIdMapping[];
  gids: NormalizedIdMapping[];
}

/** `runtime.v1.NamespaceOption`. Always present in both security contexts after normalisation. */
export interface NormalizedNamespaceOption {
  network: NamespaceMode;
  pid: NamespaceMode;
  ipc: NamespaceMode;
  /** Container id whose pid namespace is joined when `pid` is TARGET. */
  targetId: string;
  /** Optional: absent means no user namespace (containerd's reading of "nil"). */
  usernsOptions?: NormalizedUserNamespace | undefined;
}

/** `runtime.v1.HugepageLimit`. */
export interface NormalizedHugepageLimit {
  /** `<size><unit>B`, e.g. `2MB`, `1GB`. */
  pageSize: string;
  /** uint64 limit in bytes. */
  limit: number;
}

/** `runtime.v1.LinuxContainerResources`; 0 / '' mean "not specified". */
export interface NormalizedLinuxContainerResources {
  cpuPeriod: number;
  cpuQuota: number;
  cpuShares: number;
  memoryLimitInBytes: number;
  oomScoreAdj: number;
  cpusetCpus: string;
  cpusetMems: string;
  hugepageLimits: NormalizedHugepageLimit[];
  /** cgroup v2 files, e.g. `{ "memory.max": "1G" }`. */
  unified: Record<string, string>;
  memorySwapLimitInBytes: number;
}

// ---------------------------------------------------------------------------------------------
// ContainerConfig

/** `runtime.v1.ContainerMetadata`. Always present (validation requires it). */
export interface NormalizedContainerMetadata {
  name: string;
  attempt: number;
}

/** `runtime.v1.Mount`. */
export interface NormalizedMount {
  containerPath: string;
  hostPath: string;
  readonly: boolean;
  selinuxRelabel: boolean;
  propagation: MountPropagation;
  uidMappings: NormalizedIdMapping[];
  gidMappings: NormalizedIdMapping[];
  recursiveReadOnly: boolean;
  /** Optional: present means an image volume (then `hostPath` must be empty and `readonly` true). */
  image?: NormalizedImageSpec | undefined;
  imageSubPath: string;
}

/** `runtime.v1.Device`. */
export interface NormalizedDevice {
  containerPath: string;
  hostPath: string;
  /** Any combination of `r`, `w`, `m`. */
  permissions: string;
}

/** `runtime.v1.CDIDevice`. */
export interface NormalizedCdiDevice {
  /** Fully-qualified CDI name, e.g. `vendor.com/gpu=gpu0`. */
  name: string;
}

/** `runtime.v1.Capability`. Always present after normalisation (empty lists = keep defaults). */
export interface NormalizedCapability {
  addCapabilities: string[];
  dropCapabilities: string[];
  addAmbientCapabilities: string[];
}

/** `runtime.v1.LinuxContainerSecurityContext`. Always present after normalisation. */
export interface NormalizedLinuxContainerSecurityContext {
  /** Always present. */
  capabilities: NormalizedCapability;
  privileged: boolean;
  /** Always present. */
  namespaceOptions: NormalizedNamespaceOption;
  /** Always present. */
  selinuxOptions: NormalizedSelinuxOption;
  /** Optional (presence wrapper). */
  runAsUser?: NormalizedInt64Value | undefined;
  /** Optional (presence wrapper); requires runAsUser or runAsUsername. */
  runAsGroup?: NormalizedInt64Value | undefined;
  runAsUsername: string;
  readonlyRootfs: boolean;
  supplementalGroups: number[];
  supplementalGroupsPolicy: SupplementalGroupsPolicy;
  noNewPrivs: boolean;
  maskedPaths: string[];
  readonlyPaths: string[];
  /** Optional: absent ⇒ no seccomp (unconfined) unless the deprecated path says otherwise; `{}` ⇒ RuntimeDefault. */
  seccomp?: NormalizedSecurityProfile | undefined;
  /** Optional: absent ⇒ runtime default (unless privileged). */
  apparmor?: NormalizedSecurityProfile | undefined;
  /** Deprecated `apparmor_profile`. */
  apparmorProfile: string;
  /** Deprecated `seccomp_profile_path`. */
  seccompProfilePath: string;
}

/** `runtime.v1.LinuxContainerConfig`. Always present after normalisation. */
export interface NormalizedLinuxContainerConfig {
  /** Optional: when present, `oomScoreAdj` is applied even if 0. */
  resources?: NormalizedLinuxContainerResources | undefined;
  /** Always present. */
  securityContext: NormalizedLinuxContainerSecurityContext;
}

/** `runtime.v1.WindowsContainerSecurityContext` (Windows only; rejected by validation). */
export interface NormalizedWindowsContainerSecurityContext {
  runAsUsername: string;
  credentialSpec: string;
  hostProcess: boolean;
}

/** `runtime.v1.WindowsCpuGroupAffinity` (Windows only). */
export interface NormalizedWindowsCpuGroupAffinity {
  cpuMask: number;
  cpuGroup: number;
}

/** `runtime.v1.WindowsContainerResources` (Windows only). */
export interface NormalizedWindowsContainerResources {
  cpuShares: number;
  cpuCount: number;
  cpuMaximum: number;
  memoryLimitInBytes: number;
  rootfsSizeInBytes: number;
  affinityCpus: NormalizedWindowsCpuGroupAffinity[];
}

/** `runtime.v1.WindowsContainerConfig` (Windows only; rejected by validation when set). */
export interface NormalizedWindowsContainerConfig {
  resources?: NormalizedWindowsContainerResources | undefined;
  securityContext?: NormalizedWindowsContainerSecurityContext | undefined;
}

/** `runtime.v1.ContainerConfig`. */
export interface NormalizedContainerConfig {
  /** Always present. */
  metadata: NormalizedContainerMetadata;
  /** Always present. */
  image: NormalizedImageSpec;
  command: string[];
  args: string[];
  workingDir: string;
  envs: NormalizedKeyValue[];
  mounts: NormalizedMount[];
  devices: NormalizedDevice[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Relative to `sandboxConfig.logDirectory`. */
  logPath: string;
  stdin: boolean;
  stdinOnce: boolean;
  tty: boolean;
  /** Always present. */
  linux: NormalizedLinuxContainerConfig;
  /** Windows only: accepted by the parser, rejected by validation when set. */
  windows?: NormalizedWindowsContainerConfig | undefined;
  /** JSON name `CDIDevices` (proto `CDI_devices`). */
  CDIDevices: NormalizedCdiDevice[];
  stopSignal: CriSignal;
}

// ---------------------------------------------------------------------------------------------
// PodSandboxConfig

/** `runtime.v1.PodSandboxMetadata`. Always present (validation requires it). */
export interface NormalizedPodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

/** `runtime.v1.DNSConfig`. */
export interface NormalizedDnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

/** `runtime.v1.PortMapping`. */
export interface NormalizedPortMapping {
  protocol: Protocol;
  containerPort: number;
  /** 0 = no host port. */
  hostPort: number;
  hostIp: string;
}

/** `runtime.v1.LinuxSandboxSecurityContext`. Always present after normalisation. */
export interface NormalizedLinuxSandboxSecurityContext {
  /** Always present. */
  namespaceOptions: NormalizedNamespaceOption;
  /** Always present. */
  selinuxOptions: NormalizedSelinuxOption;
  runAsUser?: NormalizedInt64Value | undefined;
  runAsGroup?: NormalizedInt64Value | undefined;
  readonlyRootfs: boolean;
  supplementalGroups: number[];
  supplementalGroupsPolicy: SupplementalGroupsPolicy;
  /** Must be true for a privileged container to run in this sandbox. */
  privileged: boolean;
  seccomp?: NormalizedSecurityProfile | undefined;
  apparmor?: NormalizedSecurityProfile | undefined;
  /** Deprecated `seccomp_profile_path`. */
  seccompProfilePath: string;
}

/** `runtime.v1.LinuxPodSandboxConfig`. Always present after normalisation. */
export interface NormalizedLinuxPodSandboxConfig {
  /** cgroupfs syntax, e.g. `/kubepods/burstable/pod123`, or a systemd slice. */
  cgroupParent: string;
  /** Always present. */
  securityContext: NormalizedLinuxSandboxSecurityContext;
  sysctls: Record<string, string>;
  overhead?: NormalizedLinuxContainerResources | undefined;
  resources?: NormalizedLinuxContainerResources | undefined;
}

/** `runtime.v1.WindowsNamespaceOption` (Windows only). */
export interface NormalizedWindowsNamespaceOption {
  network: NamespaceMode;
}

/** `runtime.v1.WindowsSandboxSecurityContext` (Windows only). */
export interface NormalizedWindowsSandboxSecurityContext {
  runAsUsername: string;
  credentialSpec: string;
  hostProcess: boolean;
  namespaceOptions?: NormalizedWindowsNamespaceOption | undefined;
}

/** `runtime.v1.WindowsPodSandboxConfig` (Windows only; rejected by validation when set). */
export interface NormalizedWindowsPodSandboxConfig {
  securityContext?: NormalizedWindowsSandboxSecurityContext | undefined;
}

/** `runtime.v1.PodSandboxConfig`. */
export interface NormalizedPodSandboxConfig {
  /** Always present. */
  metadata: NormalizedPodSandboxMetadata;
  hostname: string;
  logDirectory: string;
  /** Optional: absent ⇒ the runtime's default resolv.conf. */
  dnsConfig?: NormalizedDnsConfig | undefined;
  portMappings: NormalizedPortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Always present. */
  linux: NormalizedLinuxPodSandboxConfig;
  /** Windows only: accepted by the parser, rejected by validation when set. */
  windows?: NormalizedWindowsPodSandboxConfig | undefined;
}

/** `runtime.v1.CreateContainerRequest`, normalised. */
export interface NormalizedCreateContainerRequest {
  podSandboxId: string;
  /** Always present. */
  config: NormalizedContainerConfig;
  /** Always present: the config the sandbox was created with. */
  sandboxConfig: NormalizedPodSandboxConfig;
}

// ---------------------------------------------------------------------------------------------
// Records

/** `runtime.v1.PodSandboxState` names. */
export const SANDBOX_STATES = ['SANDBOX_READY', 'SANDBOX_NOTREADY'] as const;
/** State of a pod sandbox. */
export type SandboxState = (typeof SANDBOX_STATES)[number];

/** `runtime.v1.ContainerState` names. */
export const CONTAINER_STATES = ['CONTAINER_CREATED', 'CONTAINER_RUNNING', 'CONTAINER_EXITED', 'CONTAINER_UNKNOWN'] as const;
/** State of a container. */
export type ContainerState = (typeof CONTAINER_STATES)[number];

/** Paths of the namespaces a sandbox holds (e.g. `/proc/1234/ns/net`, or bind-mounted files). */
export interface SandboxNamespacePaths {
  network?: string | undefined;
  ipc?: string | undefined;
  uts?: string | undefined;
  pid?: string | undefined;
  user?: string | undefined;
}

/** A pod sandbox as the stores keep it. JSON-serialisable. */
export interface SandboxRecord {
  /** Sandbox id (64 lowercase hex by convention; any `[A-Za-z0-9_.-]{1,128}` is accepted by the stores). */
  id: string;
  metadata: NormalizedPodSandboxMetadata;
  config: NormalizedPodSandboxConfig;
  state: SandboxState;
  /** CRI runtime handler the sandbox was created with ('' = default). */
  runtimeHandler: string;
  namespacePaths: SandboxNamespacePaths;
  /** Creation time, Unix epoch milliseconds. */
  createdAt: number;
}

/** A container as the stores keep it. JSON-serialisable. */
export interface ContainerRecord {
  /** Container id (64 lowercase hex by convention; any `[A-Za-z0-9_.-]{1,128}` is accepted by the stores). */
  id: string;
  sandboxId: string;
  /** `config.metadata.name`; (sandboxId, name, attempt) is unique in a store. */
  name: string;
  /** `config.metadata.attempt`. */
  attempt: number;
  config: NormalizedContainerConfig;
  state: ContainerState;
  /** Runtime that runs it, e.g. `crun` or `proxmox-lxc`. */
  runtime: string;
  /** Image reference as requested (`config.image.image`). */
  image: string;
  /** Resolved image reference (digest) used to create it; '' when not known. */
  imageRef: string;
  /** Unix epoch milliseconds. */
  createdAt: number;
  /** Unix epoch milliseconds; 0 = not started. */
  startedAt: number;
  /** Unix epoch milliseconds; 0 = not finished. */
  finishedAt: number;
  /** Exit code once EXITED; 0 otherwise. */
  exitCode: number;
  /** Short machine reason once EXITED (e.g. `Completed`, `OOMKilled`, `Error`). */
  reason: string;
  /** Human-readable message about the state. */
  message: string;
  /** Runtime-specific, JSON-serialisable data (bundle path, PVE node/VMID, pid, ...). */
  runtimeData: Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Stores

/** Options every store operation accepts. */
export interface StoreOperationOptions {
  /** Aborts the operation (an `AbortedError` is thrown). */
  signal?: AbortSignal | undefined;
}

/** Filter for {@link ContainerStore.list}. */
export interface ContainerListFilter {
  sandboxId?: string | undefined;
  state?: ContainerState | undefined;
}

/**
 * Where pod sandboxes are kept. Every implementation is safe with concurrent callers in one process.
 * Treat returned records as read-only (the in-memory store hands out frozen objects); change them
 * with `update`, whose callback receives a private mutable copy.
 */
export interface SandboxStore {
  /** The record, or `undefined` when there is none. */
  get(id: string, options?: StoreOperationOptions): Promise<SandboxRecord | undefined>;
  /** All records, ordered by `createdAt` then `id`. */
  list(options?: StoreOperationOptions): Promise<SandboxRecord[]>;
  /** Adds a record; `AlreadyExistsError` when the id is taken. */
  create(record: SandboxRecord, options?: StoreOperationOptions): Promise<void>;
  /** Replaces a record with `update(current)`; `NotFoundError` when it does not exist. The id cannot change. */
  update(id: string, update: (current: SandboxRecord) => SandboxRecord, options?: StoreOperationOptions): Promise<SandboxRecord>;
  /** Removes a record; true when it existed. */
  delete(id: string, options?: StoreOperationOptions): Promise<boolean>;
}

/**
 * Where containers are kept. Every implementation is safe with concurrent callers in one process
 * and keeps (sandboxId, name, attempt) unique. Treat returned records as read-only (the in-memory
 * store hands out frozen objects); change them with `update`.
 */
export interface ContainerStore {
  /** The record, or `undefined` when there is none. */
  get(id: string, options?: StoreOperationOptions): Promise<ContainerRecord | undefined>;
  /** The container holding a name in a sandbox, or `undefined`. */
  findByName(sandboxId: string, name: string, attempt: number, options?: StoreOperationOptions): Promise<ContainerRecord | undefined>;
  /** Records matching `filter`, ordered by `createdAt` then `id`. */
  list(filter?: ContainerListFilter, options?: StoreOperationOptions): Promise<ContainerRecord[]>;
  /**
   * Adds a record. `AlreadyExistsError` when the id is taken, or when (sandboxId, name, attempt)
   * is held by another container (its id is in `details.containerId`).
   */
  create(record: ContainerRecord, options?: StoreOperationOptions): Promise<void>;
  /** Replaces a record with `update(current)`; `NotFoundError` when it does not exist. Id, sandbox, name and attempt cannot change. */
  update(id: string, update: (current: ContainerRecord) => ContainerRecord, options?: StoreOperationOptions): Promise<ContainerRecord>;
  /** Removes a record; true when it existed. */
  delete(id: string, options?: StoreOperationOptions): Promise<boolean>;
}
