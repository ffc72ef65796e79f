/**
 * Semantic validation of a CRI `CreateContainerRequest`: the first gate of `createContainer`.
 *
 * It accepts what real clients send (kubelet, crictl, critest) and rejects what containerd or
 * CRI-O would reject, collecting every issue with its path, a stable code, a message (containerd /
 * CRI-O wording where they have one) and a gRPC status.
 *
 * Where this module decides otherwise than containerd or CRI-O, docs/cri.md lists the rule with
 * its reason in one table (D1, D2, ...), and `test/unit/cri/differences.test.ts` tests each row.
 * The main ones:
 *
 * - **Container names** must be non-empty (CRI-O) letters, digits, `-` and `.`, starting and
 *   ending with a letter or digit, without `_` (it separates the parts of the runtime name).
 * - **Duplicate (name, attempt) in a sandbox** is `AlreadyExists` carrying the holder's id in
 *   `meta.containerId` (containerd; CRI-O instead returns the existing id).
 * - **run_as_user together with run_as_username** is rejected, as the proto comment says.
 * - **Capabilities**: unknown names are rejected (CRI-O); `CAP_` is optional, any case; `ALL` is
 *   the keyword, and `CAP_ALL` is refused with a hint (containerd does not read it as `ALL`).
 * - **Image names** must be image references (no upper case in the repository path): syntax,
 *   refused here, where containerd answers "failed to resolve image" at create. Whether the
 *   image exists is found when `createContainer` resolves it.
 * - **Sysctls**: only CRI-O's and the kubelet's list of namespaced sysctls, as an error (CRI-O
 *   skips others with a warning; `kernel.domainname` is not on the list although runc accepts
 *   it); values must not contain `+`, `=`, newlines or NUL (CVE-2022-0811).
 * - **Env**: keys non-empty without `=` or control characters; `HOME` without a newline (CRI-O,
 *   CVE-2022-4318).
 * - **Paths**: mount, masked, readonly and working-dir paths absolute; log_path relative without
 *   `..`; log_directory and cgroup_parent absolute.
 * - **Recursive read-only mounts** need `features.recursiveReadOnlyMounts` (default false: runc
 *   1.1 and crun 1.8 lack them); memory limits below `features.minimumMemoryLimitBytes` (CRI-O's
 *   12 MiB) are rejected; Windows-only fields are `Unimplemented`.
 * - **Host checks** run only with a {@link HostInspector}: device nodes, mount propagation,
 *   AppArmor (any profile but Unconfined is refused on a host without AppArmor, as containerd
 *   does; CRI-O ignores it), loaded AppArmor profiles, Localhost seccomp profiles (read and
 *   parsed with the spec step's outcome), and pod sysctls (the name exists under /proc/sys, the
 *   value has the kernel's shape).
 *
 * Syntax issues (unknown fields, wrong types, bad enum values) are found first; when there are any,
 * they are reported alone, because the semantic checks need a well-formed request.
 *
 * @module
 */
import { isIP } from 'node:net';
import { posix } from 'node:path';
import { CriValidationError, InvalidOptionsError, throwIfAborted } from '../errors.js';
import type { CriValidationIssue, GrpcStatus } from '../errors.js';
import { parseImageReference } from '../oci/image/reference.js';
import type { HostInspector } from './host-inspector.js';
import { tryNormalizeCreateContainerRequest, tryNormalizePodSandboxConfig } from './normalize.js';
import { formatPath } from '../internal/format-path.js';
import type { NormalizeOptions } from './normalize.js';
import type {
  ContainerRecord,
  ContainerStore,
  NormalizedContainerConfig,
  NormalizedCreateContainerRequest,
  NormalizedDevice,
  NormalizedIdMapping,
  NormalizedImageSpec,
  NormalizedLinuxContainerResources,
  NormalizedLinuxContainerSecurityContext,
  NormalizedLinuxPodSandboxConfig,
  NormalizedLinuxSandboxSecurityContext,
  NormalizedMount,
  NormalizedNamespaceOption,
  NormalizedPodSandboxConfig,
  NormalizedSecurityProfile,
  NormalizedSelinuxOption,
  NormalizedUserNamespace,
  SandboxRecord,
  SandboxStore,
} from './types.js';
import { CONTAINER_ID_PATTERN } from '../internal/schemas.js';

/** What the runtime handler supports; decides some checks. */
export interface RuntimeHandlerFeatures {
  /**
   * The handler supports recursive read-only mounts (`rro`).
   * @defaultValue `false` (runc 1.1 and crun 1.8 do not)
   */
  recursiveReadOnlyMounts?: boolean;
  /**
   * The handler supports user namespaces (`usernsOptions` with mode POD).
   * @defaultValue `true`
   */
  userNamespaces?: boolean;
  /**
   * The handler implements `supplementalGroupsPolicy: Strict`.
   * @defaultValue `true`
   */
  supplementalGroupsPolicy?: boolean;
  /**
   * The host has the hugetlb cgroup controller (hugepage limits can be applied).
   * @defaultValue `true`
   */
  hugetlbController?: boolean;
  /**
   * CDI devices can be injected.
   * @defaultValue `false` (no CDI support in proxmox-lxcri)
   */
  cdi?: boolean;
  /**
   * Smallest accepted non-zero memory limit, in bytes.
   * @defaultValue `12582912` (12 MiB, CRI-O's default)
   */
  minimumMemoryLimitBytes?: number;
}

/** What {@link validateCreateContainerRequest} needs besides the request. */
export interface ValidateContext {
  /** Where sandboxes are looked up. May be left out when the `sandbox` key is given (even as `undefined`: no pod). */
  sandboxes?: SandboxStore | undefined;
  /**
   * The pod's record, when the caller already holds it: used instead of a lookup in
   * `sandboxes` when its id is the request's `podSandboxId`. @defaultValue none
   */
  sandbox?: SandboxRecord | undefined;
  /** Where containers (name reservations, pid TARGET containers) are looked up. */
  containers: ContainerStore;
  /** Aborts the store lookups and host checks. @defaultValue none */
  signal?: AbortSignal | undefined;
  /** How to read the request. @defaultValue `{}` */
  normalize?: NormalizeOptions | undefined;
  /** What the runtime handler supports. @defaultValue see {@link RuntimeHandlerFeatures} */
  features?: RuntimeHandlerFeatures | undefined;
  /** Host facts for host-dependent checks; without it those checks are skipped. @defaultValue none */
  host?: HostInspector | undefined;
}

interface ResolvedFeatures {
  recursiveReadOnlyMounts: boolean;
  userNamespaces: boolean;
  supplementalGroupsPolicy: boolean;
  hugetlbController: boolean;
  cdi: boolean;
  minimumMemoryLimitBytes: number;
}

function resolveFeatures(features: RuntimeHandlerFeatures | undefined): ResolvedFeatures {
  return {
    recursiveReadOnlyMounts: features?.recursiveReadOnlyMounts ?? false,
    userNamespaces: features?.userNamespaces ?? true,
    supplementalGroupsPolicy: features?.supplementalGroupsPolicy ?? true,
    hugetlbController: features?.hugetlbController ?? true,
    cdi: features?.cdi ?? false,
    minimumMemoryLimitBytes: features?.minimumMemoryLimitBytes ?? 12 * 1024 * 1024,
  };
}

// ---------------------------------------------------------------------------------------------
// Issue collection

type Path = readonly (string | number)[];

class Issues {
  readonly list: CriValidationIssue[] = [];
  add(path: Path, code: string, message: string, grpcStatus: GrpcStatus = 'InvalidArgument', meta?: Record<string, unknown>): void {
    this.list.push({ path: formatPath(path), code, message, grpcStatus, ...(meta ? { meta } : {}) });
  }
}

// ---------------------------------------------------------------------------------------------
// Grammar

const CONTAINER_NAME = /^[A-Za-z0-9]([-A-Za-z0-9.]{0,251}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const SELINUX_LEVEL = /^s\d(-s\d)??(:c\d{1,4}(\.c\d{1,4})?(,c\d{1,4}(\.c\d{1,4})?)*)?$/;
const CPUSET = /^\d+(-\d+)?(,\d+(-\d+)?)*$/;
const HUGEPAGE_SIZE = /^[1-9][0-9]*[KMG]B$/;
const UNIFIED_KEY = /^[a-z0-9_]+\.[A-Za-z0-9_.]+$/;
const CDI_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9][A-Za-z0-9_.-]*=[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const NUMERIC = /^\d+$/;
const MAX_ID = 2147483647;
const MAX_LABEL_BYTES = 4096;
const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** Linux capabilities (without `CAP_`), as of Linux 6.x. */
const CAPABILITIES = new Set([
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP',
  'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER',
  'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE',
  'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP',
  'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF',
  'CHECKPOINT_RESTORE',
]);

/**
 * Namespaced sysctls as CRI-O and the kubelet list them (kubelet `pkg/kubelet/sysctl`): exact
 * names and prefixes. The UTS sysctls (`kernel.hostname`, `kernel.domainname`) are namespaced too,
 * and runc accepts `kernel.domainname`, but they are not on this list: the kubelet refuses them
 * ("not a namespaced sysctl").
 */
const SYSCTL_EXACT = new Set(['kernel.sem']);
const SYSCTL_IPC_PREFIXES = ['kernel.shm', 'kernel.msg', 'fs.mqueue.'];
const SYSCTL_LIST = 'kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, net.*';
/** Sysctls whose value is a list of numbers and ranges (`8080,9000-9010`), not a vector of integers. */
const SYSCTL_RANGE_LISTS = new Set(['net/ipv4/ip_local_reserved_ports']);
const SYSCTL_INTEGER = /^-?(?:0[xX][0-9a-fA-F]+|\d+)$/;
const SYSCTL_INTEGERS_NOW = /^-?\d+(?:\s+-?\d+)*$/;

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

const DOT_DOT = /(^|\/)\.\.(\/|$)/;

function isAbsoluteClean(path: string): boolean {
  return path.startsWith('/') && !DOT_DOT.test(path);
}

function hasDotDot(path: string): boolean {
  return DOT_DOT.test(path);
}

/**
 * The `/proc/sys` path of a sysctl given in `.` or `/` form, swapping `.` and `/` in the dotted
 * form as the kubelet does (`net.ipv4.conf.eth0/100.forwarding` → `net/ipv4/conf/eth0.100/forwarding`).
 */
function sysctlProcPath(key: string): string {
  const first = key.search(/[./]/);
  if (first < 0 || key[first] === '/') return key;
  return key.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/** Why a pod sysctl is refused (host-independent rules), or `undefined`. */
function sysctlProblem(key: string, value: string, ns: NormalizedNamespaceOption): string | undefined {
  const parts = sysctlProcPath(key).split('/');
  if (parts.some((p) => p === '' || p === '.' || p === '..') || /[\s=]/.test(key) || CONTROL.test(key)) {
    return `sysctl name ${JSON.stringify(key)} is not valid: it names a file under /proc/sys, in "." or "/" form, without empty, "." or ".." parts, "=" or whitespace`;
  }
  const name = key.replace(/\//g, '.');
  const ipc = SYSCTL_EXACT.has(name) || SYSCTL_IPC_PREFIXES.some((p) => name.startsWith(p));
  const net = name.startsWith('net.');
  if (!ipc && !net) return `sysctl ${JSON.stringify(key)} is not allowed: only sysctls on CRI-O's and the kubelet's list of namespaced sysctls (${SYSCTL_LIST}) can be set`;
  if (ipc && ns.ipc === 'NODE') return `sysctl ${JSON.stringify(key)} is not allowed with host IPC (ipc namespace NODE)`;
  if (net && ns.network === 'NODE') return `sysctl ${JSON.stringify(key)} is not allowed with host network (network namespace NODE)`;
  if (/[+=\n\r\0]/.test(value)) return `sysctl ${JSON.stringify(key)} value must not contain '+', '=', newlines or NUL`;
  return undefined;
}

/**
 * Why the kernel would refuse `value` for a sysctl whose current value is `now`: when it shows
 * integers now, it takes at most that many integers (decimal, or hex with 0x), nothing else.
 */
function sysctlValueProblem(procPath: string, value: string, now: string): string | undefined {
  const current = now.trim();
  if (SYSCTL_RANGE_LISTS.has(procPath) || !SYSCTL_INTEGERS_NOW.test(current)) return undefined;
  const want = current.split(/\s+/).length;
  const tokens = value.trim() === '' ? [] : value.trim().split(/\s+/);
  if (tokens.length === 0 || tokens.length > want || !tokens.every((t) => SYSCTL_INTEGER.test(t))) {
    return `the kernel takes ${want === 1 ? 'an integer' : `up to ${want} integers separated by spaces`} for this sysctl (it shows ${JSON.stringify(current)}), not ${JSON.stringify(value)}`;
  }
  return undefined;
}

function qualifiedNameError(key: string): string | undefined {
  if (key === '') return 'key must not be empty';
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !DNS_SUBDOMAIN.test(prefix)) return `prefix ${JSON.stringify(prefix)} must be a DNS-1123 subdomain`;
  if (!QUALIFIED_NAME_PART.test(name)) return `name ${JSON.stringify(name)} must be 1-63 characters [A-Za-z0-9-_.], starting and ending with an alphanumeric`;
  return undefined;
}

function describeMappings(u: NormalizedUserNamespace | undefined): string {
  if (!u) return 'nil';
  const m = (list: NormalizedIdMapping[]) => list.map((x) => `${x.containerId}:${x.hostId}:${x.length}`).join(',');
  return `{mode ${u.mode} uids [${m(u.uids)}] gids [${m(u.gids)}]}`;
}

function sameUserns(a: NormalizedUserNamespace | undefined, b: NormalizedUserNamespace | undefined): boolean {
  if (!a || !b) return a === b;
  const eq = (x: NormalizedIdMapping[], y: NormalizedIdMapping[]) =>
    x.length === y.length && x.every((m, i) => m.hostId === y[i]?.hostId && m.containerId === y[i]?.containerId && m.length === y[i]?.length);
  return a.mode === b.mode && eq(a.uids, b.uids) && eq(a.gids, b.gids);
}

// ---------------------------------------------------------------------------------------------
// Shared checks

function checkMap(issues: Issues, path: Path, map: Record<string, string>, kind: 'label' | 'annotation'): void {
  let total = 0;
  for (const key of Object.keys(map)) {
    const value = map[key] ?? '';
    const error = qualifiedNameError(key);
    if (error) issues.add([...path, key], `invalid_${kind}_key`, `${kind} key ${JSON.stringify(key)} is not valid: ${error}`);
    if (kind === 'label' && byteLength(key) + byteLength(value) > MAX_LABEL_BYTES) {
      issues.add([...path, key], 'too_large', `label key and value greater than maximum size (${MAX_LABEL_BYTES} bytes)`);
    }
    total += byteLength(key) + byteLength(value);
  }
  if (kind === 'annotation' && total > MAX_ANNOTATIONS_BYTES) {
    issues.add(path, 'too_large', `annotations are ${total} bytes; at most ${MAX_ANNOTATIONS_BYTES} bytes are allowed`);
  }
}

function checkId(issues: Issues, path: Path, value: number, what: string): void {
  if (value < 0 || value > MAX_ID) issues.add(path, 'out_of_range', `${what} ${value} is out of range (0 to ${MAX_ID})`);
}

function checkIdMappings(issues: Issues, path: Path, list: NormalizedIdMapping[], what: string): void {
  list.forEach((m, i) => {
    if (m.length < 1) issues.add([...path, i, 'length'], 'invalid_mapping', `invalid mapping length ${m.length} in ${what}`);
    if (m.hostId + m.length > 4294967296 || m.containerId + m.length > 4294967296) {
      issues.add([...path, i], 'invalid_mapping', `${what} mapping ${m.containerId}:${m.hostId}:${m.length} overflows the 32-bit id range`);
    }
  });
}

function checkUserns(issues: Issues, path: Path, userns: NormalizedUserNamespace | undefined, features: ResolvedFeatures): void {
  if (!userns) return;
  switch (userns.mode) {
    case 'NODE':
      if (userns.uids.length > 0 || userns.gids.length > 0) {
        issues.add(path, 'invalid_userns', `can't use user namespace mode "NODE" with mappings. Got ${userns.uids.length} UID mappings and ${userns.gids.length} GID mappings`);
      }
      return;
    case 'POD':
      if (!features.userNamespaces) {
        issues.add([...path, 'mode'], 'unsupported', 'runtime handler does not support user namespaces', 'Unimplemented');
        return;
      }
      if (userns.uids.length === 0 || userns.gids.length === 0) {
        issues.add(path, 'invalid_userns', `can't use user namespace mode "POD" without UID and GID mappings`);
        return;
      }
      for (const key of ['uids', 'gids'] as const) {
        const list = userns[key];
        if (list.length > 1) issues.add([...path, key], 'invalid_userns', `only one mapping line supported, got ${list.length} mapping lines`);
        checkIdMappings(issues, [...path, key], list, key);
      }
      return;
    default:
      issues.add([...path, 'mode'], 'invalid_userns', `unsupported user namespace mode: ${userns.mode} (only POD and NODE are supported)`);
  }
}

function checkSelinux(issues: Issues, path: Path, options: NormalizedSelinuxOption): void {
  if (options.level !== '' && !SELINUX_LEVEL.test(options.level)) {
    issues.add([...path, 'level'], 'invalid_selinux_level', `the format of 'level' ${JSON.stringify(options.level)} is not correct`);
  }
  for (const key of ['user', 'role', 'type'] as const) {
    if (/[\s:]/.test(options[key])) issues.add([...path, key], 'invalid_selinux', `SELinux ${key} ${JSON.stringify(options[key])} must not contain ':' or whitespace`);
  }
}

function checkProfile(issues: Issues, path: Path, profile: NormalizedSecurityProfile | undefined, kind: 'seccomp' | 'apparmor'): void {
  if (!profile) return;
  if (profile.profileType !== 'Localhost') {
    if (profile.localhostRef !== '') {
      issues.add([...path, 'localhostRef'], 'invalid_profile', `${kind} config invalid LocalhostRef must only be set if ProfileType is Localhost`);
    }
    return;
  }
  if (profile.localhostRef === '') {
    issues.add([...path, 'localhostRef'], 'required', `${kind} profile type Localhost needs localhost_ref`);
  } else if (kind === 'seccomp' && !isAbsoluteClean(profile.localhostRef)) {
    issues.add([...path, 'localhostRef'], 'invalid_profile', `seccomp localhost_ref ${JSON.stringify(profile.localhostRef)} must be an absolute path`);
  } else if (kind === 'apparmor' && (CONTROL.test(profile.localhostRef) || /\s/.test(profile.localhostRef))) {
    issues.add([...path, 'localhostRef'], 'invalid_profile', `apparmor localhost_ref ${JSON.stringify(profile.localhostRef)} must not contain whitespace or control characters`);
  }
}

function checkDeprecatedProfile(issues: Issues, path: Path, value: string, kind: 'seccomp' | 'apparmor'): void {
  if (value === '' || value === 'runtime/default' || value === 'unconfined' || (kind === 'seccomp' && value === 'docker/default')) return;
  if (value.startsWith('localhost/')) {
    const ref = value.slice('localhost/'.length);
    if (kind === 'seccomp' ? isAbsoluteClean(ref) : ref !== '' && !/\s/.test(ref) && !CONTROL.test(ref)) return;
  }
  issues.add(path, 'invalid_profile', `invalid profile ${JSON.stringify(value)}`);
}

function checkResources(issues: Issues, path: Path, r: NormalizedLinuxContainerResources | undefined, features: ResolvedFeatures): void {
  if (!r) return;
  if (r.cpuPeriod !== 0 && (r.cpuPeriod < 1000 || r.cpuPeriod > 1_000_000)) {
    issues.add([...path, 'cpuPeriod'], 'out_of_range', `cpu_period ${r.cpuPeriod} is out of range (1000 to 1000000 microseconds, or 0)`);
  }
  if (r.cpuQuota !== 0 && r.cpuQuota !== -1 && r.cpuQuota < 1000) {
    issues.add([...path, 'cpuQuota'], 'out_of_range', `cpu_quota ${r.cpuQuota} is out of range (at least 1000 microseconds, or -1 for no limit, or 0)`);
  }
  if (r.cpuShares !== 0 && (r.cpuShares < 2 || r.cpuShares > 262_144)) {
    issues.add([...path, 'cpuShares'], 'out_of_range', `cpu_shares ${r.cpuShares} is out of range (2 to 262144, or 0)`);
  }
  if (r.memoryLimitInBytes < 0) {
    issues.add([...path, 'memoryLimitInBytes'], 'out_of_range', `memory_limit_in_bytes ${r.memoryLimitInBytes} must not be negative`);
  } else if (r.memoryLimitInBytes !== 0 && r.memoryLimitInBytes < features.minimumMemoryLimitBytes) {
    issues.add(
      [...path, 'memoryLimitInBytes'],
      'out_of_range',
      `set memory limit ${r.memoryLimitInBytes} too low; should be at least ${features.minimumMemoryLimitBytes} bytes`,
    );
  }
  if (r.memorySwapLimitInBytes < -1) {
    issues.add([...path, 'memorySwapLimitInBytes'], 'out_of_range', `memory_swap_limit_in_bytes ${r.memorySwapLimitInBytes} must be -1 (no limit), 0 or positive`);
  } else if (r.memorySwapLimitInBytes > 0 && r.memoryLimitInBytes > 0 && r.memorySwapLimitInBytes < r.memoryLimitInBytes) {
    issues.add(
      [...path, 'memorySwapLimitInBytes'],
      'out_of_range',
      `memory_swap_limit_in_bytes ${r.memorySwapLimitInBytes} must be at least memory_limit_in_bytes ${r.memoryLimitInBytes} (it includes memory)`,
    );
  }
  if (r.oomScoreAdj < -1000 || r.oomScoreAdj > 1000) {
    issues.add([...path, 'oomScoreAdj'], 'out_of_range', `oom_score_adj ${r.oomScoreAdj} is out of range (-1000 to 1000)`);
  }
  for (const key of ['cpusetCpus', 'cpusetMems'] as const) {
    const value = r[key];
    if (value === '') continue;
    const ok = CPUSET.test(value) && value.split(',').every((part) => { const [a, b] = part.split('-').map(Number); return b === undefined || (a ?? 0) <= b; });
    if (!ok) issues.add([...path, key], 'invalid_cpuset', `${key === 'cpusetCpus' ? 'cpuset_cpus' : 'cpuset_mems'} ${JSON.stringify(value)} is not a list like "0-3,5"`);
  }
  const sizes = new Set<string>();
  r.hugepageLimits.forEach((h, i) => {
    if (!HUGEPAGE_SIZE.test(h.pageSize)) {
      issues.add([...path, 'hugepageLimits', i, 'pageSize'], 'invalid_hugepage_size', `hugepage page_size ${JSON.stringify(h.pageSize)} must look like 2MB or 1GB`);
    } else if (sizes.has(h.pageSize)) {
      issues.add([...path, 'hugepageLimits', i, 'pageSize'], 'duplicate', `hugepage page_size ${h.pageSize} is given twice`);
    }
    sizes.add(h.pageSize);
  });
  if (r.hugepageLimits.length > 0 && !features.hugetlbController) {
    issues.add([...path, 'hugepageLimits'], 'unsupported', 'hugetlb cgroup controller is not available: hugepage limits cannot be applied', 'FailedPrecondition');
  }
  for (const [key, value] of Object.entries(r.unified)) {
    if (!UNIFIED_KEY.test(key)) issues.add([...path, 'unified', key], 'invalid_unified', `unified key ${JSON.stringify(key)} must be a cgroup v2 file name like "memory.high"`);
    if (/[\n\r\0]/.test(value)) issues.add([...path, 'unified', key], 'invalid_unified', `unified value for ${key} must not contain newlines or NUL`);
  }
}

function checkNamespaceModes(issues: Issues, path: Path, ns: NormalizedNamespaceOption, sandbox: boolean): void {
  if (ns.network === 'TARGET' || (sandbox && ns.network === 'CONTAINER')) {
    issues.add([...path, 'network'], 'unsupported_namespace_mode', `network namespace mode ${ns.network} is not supported (use POD or NODE)`);
  }
  if (ns.ipc === 'TARGET' || (sandbox && ns.ipc === 'CONTAINER')) {
    issues.add([...path, 'ipc'], 'unsupported_namespace_mode', `ipc namespace mode ${ns.ipc} is not supported (use POD or NODE)`);
  }
  if (ns.pid === 'TARGET' && (sandbox || ns.targetId === '')) {
    issues.add([...path, sandbox ? 'pid' : 'targetId'], sandbox ? 'unsupported_namespace_mode' : 'required', sandbox ? 'pid namespace mode TARGET is not valid for a sandbox' : 'target_id must be set when the pid namespace mode is TARGET');
  }
  if (ns.pid !== 'TARGET' && ns.targetId !== '') {
    issues.add([...path, 'targetId'], 'invalid_namespace', `target_id is only valid with pid namespace mode TARGET (pid is ${ns.pid})`);
  }
}

// ---------------------------------------------------------------------------------------------
// Sandbox config

/** Semantic checks of a pod sandbox config; issues are added under `path`. */
function checkSandboxConfig(issues: Issues, path: Path, c: NormalizedPodSandboxConfig, features: ResolvedFeatures): void {
  if (c.metadata.name === '') issues.add([...path, 'metadata', 'name'], 'required', 'pod sandbox name is empty');
  if (c.hostname !== '' && (c.hostname.length > 64 || !DNS_SUBDOMAIN.test(c.hostname))) {
    issues.add([...path, 'hostname'], 'invalid_hostname', `hostname ${JSON.stringify(c.hostname)} must be a lowercase DNS-1123 name of at most 64 characters`);
  }
  if (c.logDirectory !== '' && !isAbsoluteClean(c.logDirectory)) {
    issues.add([...path, 'logDirectory'], 'invalid_path', `log_directory ${JSON.stringify(c.logDirectory)} must be an absolute path without ".."`);
  }
  if (c.dnsConfig) {
    c.dnsConfig.servers.forEach((s, i) => {
      if (isIP(s) === 0) issues.add([...path, 'dnsConfig', 'servers', i], 'invalid_ip', `DNS server ${JSON.stringify(s)} is not an IP address`);
    });
    for (const key of ['searches', 'options'] as const) {
      c.dnsConfig[key].forEach((s, i) => {
        if (s === '' || CONTROL.test(s) || /\s/.test(s)) issues.add([...path, 'dnsConfig', key, i], 'invalid_dns', `DNS ${key} entry ${JSON.stringify(s)} must be non-empty without whitespace or control characters`);
      });
    }
  }
  c.portMappings.forEach((p, i) => {
    if (p.containerPort < 1 || p.containerPort > 65535) issues.add([...path, 'portMappings', i, 'containerPort'], 'out_of_range', `container_port ${p.containerPort} is out of range (1 to 65535)`);
    if (p.hostPort < 0 || p.hostPort > 65535) issues.add([...path, 'portMappings', i, 'hostPort'], 'out_of_range', `host_port ${p.hostPort} is out of range (0 to 65535)`);
    if (p.hostIp !== '' && isIP(p.hostIp) === 0) issues.add([...path, 'portMappings', i, 'hostIp'], 'invalid_ip', `host_ip ${JSON.stringify(p.hostIp)} is not an IP address`);
  });
  checkMap(issues, [...path, 'labels'], c.labels, 'label');
  checkMap(issues, [...path, 'annotations'], c.annotations, 'annotation');
  const linux = c.linux;
  const lp = [...path, 'linux'];
  if (linux.cgroupParent !== '' && !((linux.cgroupParent.startsWith('/') || linux.cgroupParent.endsWith('.slice')) && !hasDotDot(linux.cgroupParent) && !CONTROL.test(linux.cgroupParent))) {
    issues.add([...lp, 'cgroupParent'], 'invalid_path', `cgroup_parent ${JSON.stringify(linux.cgroupParent)} must be an absolute cgroupfs path or a systemd slice`);
  }
  const sc = linux.securityContext;
  const sp = [...lp, 'securityContext'];
  checkNamespaceModes(issues, [...sp, 'namespaceOptions'], sc.namespaceOptions, true);
  checkUserns(issues, [...sp, 'namespaceOptions', 'usernsOptions'], sc.namespaceOptions.usernsOptions, features);
  checkSelinux(issues, [...sp, 'selinuxOptions'], sc.selinuxOptions);
  if (sc.runAsGroup && !sc.runAsUser) issues.add([...sp, 'runAsGroup'], 'group_without_user', `user group "${sc.runAsGroup.value}" is specified without user`);
  if (sc.runAsUser) checkId(issues, [...sp, 'runAsUser', 'value'], sc.runAsUser.value, 'run_as_user');
  if (sc.runAsGroup) checkId(issues, [...sp, 'runAsGroup', 'value'], sc.runAsGroup.value, 'run_as_group');
  sc.supplementalGroups.forEach((g, i) => checkId(issues, [...sp, 'supplementalGroups', i], g, 'supplemental group'));
  checkProfile(issues, [...sp, 'seccomp'], sc.seccomp, 'seccomp');
  checkProfile(issues, [...sp, 'apparmor'], sc.apparmor, 'apparmor');
  checkDeprecatedProfile(issues, [...sp, 'seccompProfilePath'], sc.seccompProfilePath, 'seccomp');
  const procPaths = new Set<string>();
  for (const [key, value] of Object.entries(linux.sysctls)) {
    const problem = sysctlProblem(key, value, sc.namespaceOptions);
    if (problem) issues.add([...lp, 'sysctls', key], 'invalid_sysctl', problem);
    else if (procPaths.has(sysctlProcPath(key))) issues.add([...lp, 'sysctls', key], 'duplicate', `sysctl ${JSON.stringify(key)} is given twice (in "." and "/" form)`);
    procPaths.add(sysctlProcPath(key));
  }
  checkResources(issues, [...lp, 'overhead'], linux.overhead, features);
  checkResources(issues, [...lp, 'resources'], linux.resources, features);
  if (c.windows) issues.add([...path, 'windows'], 'unsupported', 'Windows-only field "windows" is not supported on Linux', 'Unimplemented');
}

// ---------------------------------------------------------------------------------------------
// Container config (synchronous part)

function checkCapabilities(issues: Issues, path: Path, list: string[], verb: string): void {
  list.forEach((raw, i) => {
    const upper = raw.toUpperCase();
    const name = upper.startsWith('CAP_') ? upper.slice(4) : upper;
    if (upper === 'CAP_ALL') {
      // ALL is a keyword, not a capability: containerd matches only "ALL" and passes this on as
      // "CAP_CAP_ALL", which runc ignores (or refuses), so it never adds or drops every capability.
      issues.add([...path, i], 'unknown_capability', `unknown capability ${JSON.stringify(raw)} to ${verb}: ALL is a keyword, not a capability; write "ALL" to ${verb} every capability`);
    } else if (upper !== 'ALL' && !CAPABILITIES.has(name)) {
      issues.add([...path, i], 'unknown_capability', `unknown capability ${JSON.stringify(raw)} to ${verb}`);
    }
  });
}

/**
 * An image name must be an image reference (`busybox`, `registry:5000/a/b:tag`, `name@sha256:…`)
 * or an image id (`sha256:<hex>` or hex), which both parse as references. Upper case is allowed in
 * the registry and the tag only (containerd: `failed to resolve image`). Whether the image is in
 * the store is found when the image is resolved (`createContainer`), not here.
 */
function checkImageName(issues: Issues, path: Path, image: string): void {
  if (/\s/.test(image) || CONTROL.test(image)) {
    issues.add(path, 'invalid_image', `image ${JSON.stringify(image)} must not contain whitespace or control characters`);
    return;
  }
  try {
    parseImageReference(image);
  } catch (error) {
    issues.add(path, 'invalid_image', `image ${JSON.stringify(image.slice(0, 300))} is not a valid image reference: ${(error as Error).message}`);
  }
}

/** The container's name (it becomes part of the runtime name) and its image. */
function checkNameAndImage(issues: Issues, c: NormalizedContainerConfig): void {
  const name = c.metadata.name;
  if (name === '') issues.add(['config', 'metadata', 'name'], 'required', 'name is empty');
  else if (!CONTAINER_NAME.test(name)) {
    issues.add(['config', 'metadata', 'name'], 'invalid_name', `container name ${JSON.stringify(name)} is not valid: use letters, digits, '-' and '.', starting and ending with a letter or digit, at most 253 characters (no '_': it separates the parts of the runtime name)`);
  }
  if (c.image.image === '') issues.add(['config', 'image', 'image'], 'required', 'CreateContainerRequest.ContainerConfig.Image.Image is empty');
  else checkImageName(issues, ['config', 'image', 'image'], c.image.image);
}

/** The process: command and args without NUL, an absolute working dir, and the environment. */
function checkProcess(issues: Issues, c: NormalizedContainerConfig): void {
  for (const key of ['command', 'args'] as const) {
    c[key].forEach((arg, i) => {
      if (arg.includes('\0')) issues.add(['config', key, i], 'invalid_argument', `${key} entries must not contain NUL`);
    });
  }
  if (c.workingDir !== '' && (!c.workingDir.startsWith('/') || c.workingDir.includes('\0'))) {
    issues.add(['config', 'workingDir'], 'invalid_path', `working_dir ${JSON.stringify(c.workingDir)} must be an absolute path`);
  }
  c.envs.forEach((env, i) => {
    if (env.key === '') issues.add(['config', 'envs', i, 'key'], 'invalid_env', 'env key is empty');
    else if (env.key.includes('=') || CONTROL.test(env.key)) issues.add(['config', 'envs', i, 'key'], 'invalid_env', `env key ${JSON.stringify(env.key)} must not contain '=' or control characters`);
    if (env.value.includes('\0')) issues.add(['config', 'envs', i, 'value'], 'invalid_env', `env ${env.key} value must not contain NUL`);
    if (env.key === 'HOME' && /[\n\r]/.test(env.value)) issues.add(['config', 'envs', i, 'value'], 'invalid_env', 'invalid HOME environment; newline not allowed');
  });
}

/** The log path: relative to the sandbox's log_directory, without `..`. */
function checkLogPath(issues: Issues, c: NormalizedContainerConfig): void {
  if (c.logPath !== '' && (c.logPath.startsWith('/') || hasDotDot(c.logPath) || c.logPath.includes('\0'))) {
    issues.add(['config', 'logPath'], 'invalid_path', `log_path ${JSON.stringify(c.logPath)} must be relative to the sandbox log_directory, without ".."`);
  }
}

/** Every mount, and that no two mount on the same container path. */
function checkMounts(issues: Issues, mounts: readonly NormalizedMount[], features: ResolvedFeatures): void {
  const seen = new Map<string, number>();
  mounts.forEach((m, i) => {
    const mp = ['config', 'mounts', i];
    checkMountTarget(issues, mp, m, i, seen);
    if (m.image) checkImageMount(issues, mp, m, m.image);
    else checkBindMount(issues, mp, m);
    if (m.recursiveReadOnly) {
      if (!m.readonly) issues.add([...mp, 'recursiveReadOnly'], 'invalid_rro', 'recursive read-only mount conflicts with RW mount');
      if (m.propagation !== 'PROPAGATION_PRIVATE') issues.add([...mp, 'propagation'], 'invalid_rro', `recursive read-only mount needs private propagation, got ${JSON.stringify(m.propagation)}`);
      if (!features.recursiveReadOnlyMounts) issues.add([...mp, 'recursiveReadOnly'], 'unsupported', 'runtime handler does not support recursive read-only mounts', 'Unimplemented');
    }
    if ((m.uidMappings.length > 0) !== (m.gidMappings.length > 0)) {
      issues.add([...mp, m.uidMappings.length > 0 ? 'gidMappings' : 'uidMappings'], 'invalid_mapping', 'uidMappings and gidMappings must be given together');
    }
    checkIdMappings(issues, [...mp, 'uidMappings'], m.uidMappings, 'uid');
    checkIdMappings(issues, [...mp, 'gidMappings'], m.gidMappings, 'gid');
  });
}

/** A mount's container path: absolute, and not one an earlier mount took (`seen`: clean path → index). */
function checkMountTarget(issues: Issues, mp: Path, m: NormalizedMount, index: number, seen: Map<string, number>): void {
  if (m.containerPath === '') issues.add([...mp, 'containerPath'], 'required', 'mount.ContainerPath is empty');
  else if (!m.containerPath.startsWith('/') || m.containerPath.includes('\0')) issues.add([...mp, 'containerPath'], 'invalid_path', `container_path ${JSON.stringify(m.containerPath)} must be an absolute path`);
  else {
    const clean = posix.normalize(m.containerPath).replace(/(.)\/$/, '$1');
    const first = seen.get(clean);
    if (first !== undefined) issues.add([...mp, 'containerPath'], 'duplicate_mount', `duplicate mount point ${JSON.stringify(clean)} (also config.mounts[${first}])`);
    else seen.set(clean, index);
  }
}

/** An image mount: no host path, read-only, an image, and a sub-path inside it. */
function checkImageMount(issues: Issues, mp: Path, m: NormalizedMount, image: NormalizedImageSpec): void {
  if (m.hostPath !== '') issues.add([...mp, 'hostPath'], 'invalid_image_mount', 'hostpath must be empty while mount image');
  if (!m.readonly) issues.add([...mp, 'readonly'], 'invalid_image_mount', 'readonly must be true while mount image');
  if (image.image === '') issues.add([...mp, 'image', 'image'], 'required', 'image mount needs image.image');
  else checkImageName(issues, [...mp, 'image', 'image'], image.image);
  if (m.imageSubPath !== '' && (m.imageSubPath.startsWith('/') || hasDotDot(m.imageSubPath) || m.imageSubPath.includes('\0'))) {
    issues.add([...mp, 'imageSubPath'], 'invalid_path', `image_sub_path ${JSON.stringify(m.imageSubPath)} must be a relative path inside the image, without ".."`);
  }
}

/** A bind mount: an absolute host path, and no image sub-path. */
function checkBindMount(issues: Issues, mp: Path, m: NormalizedMount): void {
  if (m.hostPath === '') issues.add([...mp, 'hostPath'], 'required', 'mount.HostPath is empty');
  else if (!m.hostPath.startsWith('/') || m.hostPath.includes('\0')) issues.add([...mp, 'hostPath'], 'invalid_path', `host_path ${JSON.stringify(m.hostPath)} must be an absolute path`);
  if (m.imageSubPath !== '') issues.add([...mp, 'imageSubPath'], 'invalid_image_mount', 'image_sub_path is only valid for an image mount');
}

/** Device nodes (absolute paths, rwm permissions) and CDI devices (qualified names, and CDI support). */
function checkDevices(issues: Issues, c: NormalizedContainerConfig, features: ResolvedFeatures): void {
  c.devices.forEach((d, i) => {
    const dp = ['config', 'devices', i];
    if (!d.containerPath.startsWith('/')) issues.add([...dp, 'containerPath'], d.containerPath === '' ? 'required' : 'invalid_path', `device container_path ${JSON.stringify(d.containerPath)} must be an absolute path`);
    if (!d.hostPath.startsWith('/')) issues.add([...dp, 'hostPath'], d.hostPath === '' ? 'required' : 'invalid_path', `device host_path ${JSON.stringify(d.hostPath)} must be an absolute path`);
    if (!/^(?!.*(.).*\1)[rwm]{1,3}$/.test(d.permissions)) issues.add([...dp, 'permissions'], 'invalid_permissions', `device permissions ${JSON.stringify(d.permissions)} must be a combination of r, w and m`);
  });
  c.CDIDevices.forEach((d, i) => {
    if (!CDI_NAME.test(d.name)) issues.add(['config', 'CDIDevices', i, 'name'], 'invalid_cdi_name', `CDI device name ${JSON.stringify(d.name)} must be a fully-qualified name like vendor.com/class=name`);
  });
  if (c.CDIDevices.length > 0 && !features.cdi) {
    issues.add(['config', 'CDIDevices'], 'unsupported', `CDI devices (${c.CDIDevices.map((d) => d.name).join(', ')}) requested but CDI support is not available`, 'Unimplemented');
  }
}

/** Privilege: a privileged container only in a privileged sandbox, and known capabilities. */
function checkPrivilege(issues: Issues, sp: Path, sc: NormalizedLinuxContainerSecurityContext, sandboxSc: NormalizedLinuxSandboxSecurityContext): void {
  if (sc.privileged && !sandboxSc.privileged) issues.add([...sp, 'privileged'], 'privileged_not_allowed', 'no privileged container allowed in sandbox');
  checkCapabilities(issues, [...sp, 'capabilities', 'addCapabilities'], sc.capabilities.addCapabilities, 'add');
  checkCapabilities(issues, [...sp, 'capabilities', 'dropCapabilities'], sc.capabilities.dropCapabilities, 'drop');
  checkCapabilities(issues, [...sp, 'capabilities', 'addAmbientCapabilities'], sc.capabilities.addAmbientCapabilities, 'add');
}

/** Namespace modes, and a user namespace that is valid and the sandbox's. */
function checkContainerNamespaces(issues: Issues, sp: Path, sc: NormalizedLinuxContainerSecurityContext, sandboxSc: NormalizedLinuxSandboxSecurityContext, features: ResolvedFeatures): void {
  checkNamespaceModes(issues, [...sp, 'namespaceOptions'], sc.namespaceOptions, false);
  const userns = sc.namespaceOptions.usernsOptions;
  checkUserns(issues, [...sp, 'namespaceOptions', 'usernsOptions'], userns, features);
  if (userns && !sameUserns(userns, sandboxSc.namespaceOptions.usernsOptions)) {
    issues.add(
      [...sp, 'namespaceOptions', 'usernsOptions'],
      'userns_mismatch',
      `user namespace config for sandbox is different from container. Sandbox userns config: ${describeMappings(sandboxSc.namespaceOptions.usernsOptions)} - Container userns config: ${describeMappings(userns)}`,
    );
  }
}

/** The user and groups the process runs as. */
function checkRunAs(issues: Issues, sp: Path, sc: NormalizedLinuxContainerSecurityContext, features: ResolvedFeatures): void {
  if (sc.runAsGroup && !sc.runAsUser && sc.runAsUsername === '') {
    issues.add([...sp, 'runAsGroup'], 'group_without_user', `user group "${sc.runAsGroup.value}" is specified without user`);
  }
  if (sc.runAsUser && sc.runAsUsername !== '') {
    issues.add([...sp, 'runAsUsername'], 'conflict', 'only one of run_as_user and run_as_username can be specified');
  }
  if (sc.runAsUser) checkId(issues, [...sp, 'runAsUser', 'value'], sc.runAsUser.value, 'run_as_user');
  if (sc.runAsGroup) checkId(issues, [...sp, 'runAsGroup', 'value'], sc.runAsGroup.value, 'run_as_group');
  if (sc.runAsUsername !== '') {
    if (NUMERIC.test(sc.runAsUsername)) {
      issues.add([...sp, 'runAsUsername'], 'invalid_username', `run_as_username ${JSON.stringify(sc.runAsUsername)} is numeric; use run_as_user for numeric ids`);
    } else if (/[:\s/]/.test(sc.runAsUsername) || CONTROL.test(sc.runAsUsername) || sc.runAsUsername.length > 256) {
      issues.add([...sp, 'runAsUsername'], 'invalid_username', `run_as_username ${JSON.stringify(sc.runAsUsername)} is not a valid user name`);
    }
  }
  sc.supplementalGroups.forEach((g, i) => checkId(issues, [...sp, 'supplementalGroups', i], g, 'supplemental group'));
  if (sc.supplementalGroupsPolicy === 'Strict' && !features.supplementalGroupsPolicy) {
    issues.add([...sp, 'supplementalGroupsPolicy'], 'unsupported', 'not implemented by this runtime handler: SupplementalGroupsPolicy=Strict', 'Unimplemented');
  }
}

/** Masked and read-only paths: absolute. */
function checkHiddenPaths(issues: Issues, sp: Path, sc: NormalizedLinuxContainerSecurityContext): void {
  for (const key of ['maskedPaths', 'readonlyPaths'] as const) {
    sc[key].forEach((p, i) => {
      if (!isAbsoluteClean(p) || p.includes('\0')) issues.add([...sp, key, i], 'invalid_path', `${key === 'maskedPaths' ? 'masked' : 'readonly'} path ${JSON.stringify(p)} must be an absolute path`);
    });
  }
}

/** The seccomp and AppArmor profiles, in the structured and the deprecated string form. */
function checkProfiles(issues: Issues, sp: Path, sc: NormalizedLinuxContainerSecurityContext): void {
  checkProfile(issues, [...sp, 'seccomp'], sc.seccomp, 'seccomp');
  checkProfile(issues, [...sp, 'apparmor'], sc.apparmor, 'apparmor');
  checkDeprecatedProfile(issues, [...sp, 'seccompProfilePath'], sc.seccompProfilePath, 'seccomp');
  checkDeprecatedProfile(issues, [...sp, 'apparmorProfile'], sc.apparmorProfile, 'apparmor');
}

/**
 * Semantic checks of the container config, one concern after the other; the sandbox's stored
 * config (`sandboxConfig`) decides privilege and the user namespace.
 */
function checkContainer(issues: Issues, req: NormalizedCreateContainerRequest, sandboxConfig: NormalizedPodSandboxConfig, features: ResolvedFeatures): void {
  const c = req.config;
  checkNameAndImage(issues, c);
  checkProcess(issues, c);
  checkLogPath(issues, c);
  checkMap(issues, ['config', 'labels'], c.labels, 'label');
  checkMap(issues, ['config', 'annotations'], c.annotations, 'annotation');
  checkMounts(issues, c.mounts, features);
  checkDevices(issues, c, features);
  if (c.windows) issues.add(['config', 'windows'], 'unsupported', 'Windows-only field "windows" is not supported on Linux', 'Unimplemented');
  checkResources(issues, ['config', 'linux', 'resources'], c.linux.resources, features);
  const sc = c.linux.securityContext;
  const sp = ['config', 'linux', 'securityContext'];
  const sandboxSc = sandboxConfig.linux.securityContext;
  checkPrivilege(issues, sp, sc, sandboxSc);
  checkContainerNamespaces(issues, sp, sc, sandboxSc, features);
  checkSelinux(issues, [...sp, 'selinuxOptions'], sc.selinuxOptions);
  checkRunAs(issues, sp, sc, features);
  checkHiddenPaths(issues, sp, sc);
  checkProfiles(issues, sp, sc);
}

// ---------------------------------------------------------------------------------------------
// Public API

/**
 * Validates a pod sandbox config (crictl's pod-config.json or proto3 JSON): syntax, normalisation
 * and the sandbox-level semantic checks. Pure.
 * @throws CriValidationError with every issue.
 */
export function validatePodSandboxConfig(input: unknown, options: { normalize?: NormalizeOptions; features?: RuntimeHandlerFeatures } = {}): NormalizedPodSandboxConfig {
  const result = tryNormalizePodSandboxConfig(input, options.normalize);
  if (!result.ok) throw new CriValidationError(result.issues);
  const issues = new Issues();
  checkSandboxConfig(issues, [], result.value, resolveFeatures(options.features));
  if (issues.list.length > 0) throw new CriValidationError(issues.list);
  return result.value;
}

const CONTEXT_KEYS = new Set(['sandboxes', 'sandbox', 'containers', 'signal', 'normalize', 'features', 'host']);
const FEATURE_KEYS = new Set(['recursiveReadOnlyMounts', 'userNamespaces', 'supplementalGroupsPolicy', 'hugetlbController', 'cdi', 'minimumMemoryLimitBytes']);

/** Checks the context a caller passes (cheap: runs on every call). */
function assertContext(ctx: ValidateContext): void {
  const problems: { path: string; message: string }[] = [];
  if (typeof ctx !== 'object' || ctx === null) {
    problems.push({ path: '', message: 'the validation context must be an object with sandboxes and containers' });
  } else {
    const storeNeeded = !('sandbox' in ctx) || ctx.sandboxes !== undefined;
    if (storeNeeded && typeof ctx.sandboxes?.get !== 'function') {
      problems.push({ path: 'sandboxes', message: 'sandboxes must be a SandboxStore' });
    }
    if (ctx.sandbox !== undefined && (typeof ctx.sandbox !== 'object' || ctx.sandbox === null || typeof ctx.sandbox.id !== 'string')) problems.push({ path: 'sandbox', message: 'sandbox must be a SandboxRecord' });
    if (typeof ctx.containers?.get !== 'function' || typeof ctx.containers?.findByName !== 'function') problems.push({ path: 'containers', message: 'containers must be a ContainerStore' });
    for (const key of Object.keys(ctx)) if (!CONTEXT_KEYS.has(key)) problems.push({ path: key, message: `unknown option "${key}"` });
    if (ctx.signal !== undefined && !(ctx.signal instanceof AbortSignal)) problems.push({ path: 'signal', message: 'signal must be an AbortSignal' });
    for (const [key, value] of Object.entries(ctx.features ?? {})) {
      if (!FEATURE_KEYS.has(key)) problems.push({ path: `features.${key}`, message: `unknown feature "${key}"` });
      else if (key === 'minimumMemoryLimitBytes' ? !(Number.isSafeInteger(value) && (value as number) >= 0) : typeof value !== 'boolean' && value !== undefined) {
        problems.push({ path: `features.${key}`, message: key === 'minimumMemoryLimitBytes' ? 'must be a non-negative integer' : 'must be a boolean' });
      }
    }
  }
  if (problems.length > 0) {
    throw new InvalidOptionsError(`invalid validation context: ${problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`, { issues: problems });
  }
}

function runtimeName(config: NormalizedCreateContainerRequest): string {
  const c = config.config.metadata;
  const p = config.sandboxConfig.metadata;
  return `${c.name}_${p.name}_${p.namespace}_${p.uid}_${c.attempt}`;
}

/**
 * Looks up the request's sandbox (the caller's record when it is that one, else the store's):
 * it must exist and be ready. Returns the record when found, ready or not.
 */
async function findSandbox(issues: Issues, req: NormalizedCreateContainerRequest, ctx: ValidateContext, options: { signal?: AbortSignal }): Promise<SandboxRecord | undefined> {
  if (req.podSandboxId === '') {
    issues.add(['podSandboxId'], 'required', 'pod_sandbox_id is required');
    return undefined;
  }
  if (!CONTAINER_ID_PATTERN.test(req.podSandboxId)) {
    issues.add(['podSandboxId'], 'sandbox_not_found', `failed to find sandbox id ${JSON.stringify(req.podSandboxId.slice(0, 140))}: not a valid sandbox id`, 'NotFound');
    return undefined;
  }
  const sandbox = ctx.sandbox?.id === req.podSandboxId ? ctx.sandbox : await ctx.sandboxes?.get(req.podSandboxId, options);
  if (!sandbox) {
    issues.add(['podSandboxId'], 'sandbox_not_found', `failed to find sandbox id ${JSON.stringify(req.podSandboxId)}: not found`, 'NotFound');
  } else if (sandbox.state !== 'SANDBOX_READY') {
    issues.add(['podSandboxId'], 'sandbox_not_ready', `sandbox container ${JSON.stringify(req.podSandboxId)} is not running`, 'FailedPrecondition', { state: sandbox.state });
  }
  return sandbox;
}

/** The request's `sandboxConfig.metadata` must be the metadata the sandbox was created with. */
function checkSandboxMetadata(issues: Issues, req: NormalizedCreateContainerRequest, sandbox: SandboxRecord): void {
  const a = req.sandboxConfig.metadata;
  const b = sandbox.config.metadata;
  if (a.name !== b.name || a.uid !== b.uid || a.namespace !== b.namespace || a.attempt !== b.attempt) {
    issues.add(
      ['sandboxConfig', 'metadata'],
      'sandbox_config_mismatch',
      `sandbox_config.metadata ${JSON.stringify(a)} is not the metadata sandbox ${JSON.stringify(req.podSandboxId)} was created with ${JSON.stringify(b)}`,
    );
  }
}

/** The (name, attempt) must be free in the sandbox. */
async function checkNameReservation(issues: Issues, req: NormalizedCreateContainerRequest, containers: ContainerStore, options: { signal?: AbortSignal }): Promise<void> {
  if (!CONTAINER_ID_PATTERN.test(req.podSandboxId) || req.config.metadata.name === '') return;
  const holder = await containers.findByName(req.podSandboxId, req.config.metadata.name, req.config.metadata.attempt, options);
  if (holder) {
    const name = runtimeName(req);
    issues.add(
      ['config', 'metadata', 'name'],
      'name_reserved',
      `failed to reserve container name ${JSON.stringify(name)}: name ${JSON.stringify(name)} is reserved for ${JSON.stringify(holder.id)}`,
      'AlreadyExists',
      { containerId: holder.id },
    );
  }
}

/** pid TARGET: the target container must exist, be in this sandbox, and run. */
async function checkPidTarget(issues: Issues, req: NormalizedCreateContainerRequest, containers: ContainerStore, options: { signal?: AbortSignal }): Promise<void> {
  const ns = req.config.linux.securityContext.namespaceOptions;
  if (ns.pid !== 'TARGET' || ns.targetId === '') return;
  const target: ContainerRecord | undefined = CONTAINER_ID_PATTERN.test(ns.targetId) ? await containers.get(ns.targetId, options) : undefined;
  const tp = ['config', 'linux', 'securityContext', 'namespaceOptions', 'targetId'];
  if (!target) issues.add(tp, 'target_not_found', `invalid target container: container ${JSON.stringify(ns.targetId)} does not exist`, 'NotFound');
  else if (target.sandboxId !== req.podSandboxId) {
    issues.add(tp, 'invalid_target', `invalid target container: container ${JSON.stringify(ns.targetId)} does not belong to sandbox ${JSON.stringify(req.podSandboxId)}`);
  } else if (target.state !== 'CONTAINER_RUNNING') {
    issues.add(tp, 'target_not_running', `invalid target container: container ${JSON.stringify(ns.targetId)} is not running - in state ${target.state}`, 'FailedPrecondition');
  }
}

/**
 * Validates a `CreateContainerRequest` against the CRI rules and the stores: the request must be
 * well-formed, its sandbox must exist and be ready, the (name, attempt) must be free in the
 * sandbox, and every field must make sense (see the module documentation for the rules and for
 * where containerd and CRI-O differ).
 *
 * The sandbox's stored config (from RunPodSandbox) is what privilege and user-namespace checks use;
 * the request's `sandboxConfig` must carry the same metadata.
 *
 * @returns the normalised request (exactly what normalisation returns; {@link validateCreateContainer}
 *   also returns the sandbox record, with its stored config in the request).
 * @throws CriValidationError with every issue found (the gRPC status of the error is the most
 *   specific one: NotFound, AlreadyExists, FailedPrecondition, Unimplemented, then InvalidArgument).
 * @throws AbortedError when `ctx.signal` fires.
 * @throws InvalidOptionsError when `ctx` is not a valid context.
 * @throws StoreError when a store cannot be read (a damaged record is not a request problem).
 * @example
 * ```ts
 * const request = await validateCreateContainerRequest(
 *   { podSandboxId, config: { metadata: { name: 'app' }, image: { image: 'busybox:1.36' } }, sandboxConfig },
 *   { sandboxes, containers }, // e.g. FileSandboxStore / FileContainerStore, or the in-memory stores
 * );
 * const { name } = request.config.metadata; // normalised: camelCase, enum names, defaults filled
 * ```
 */
export async function validateCreateContainerRequest(input: unknown, ctx: ValidateContext): Promise<NormalizedCreateContainerRequest> {
  return (await validateWithSandbox(input, ctx)).req;
}

/** What {@link validateCreateContainer} returns: the request and the sandbox record it was checked against. */
export interface ValidatedCreateContainer {
  /**
   * The normalised request, its `sandboxConfig` being the sandbox's stored config (the truth for
   * everything that follows, as in containerd; the request's copy was checked and its metadata
   * compared).
   */
  request: NormalizedCreateContainerRequest;
  /** The sandbox record the request was validated against (from `ctx.sandbox` or the store). */
  sandbox: SandboxRecord;
}

/**
 * {@link validateCreateContainerRequest}, returning the sandbox record it looked up with the
 * request, so the next step does not read it again.
 * @throws the errors of {@link validateCreateContainerRequest}
 */
export async function validateCreateContainer(input: unknown, ctx: ValidateContext): Promise<ValidatedCreateContainer> {
  const { req, sandbox } = await validateWithSandbox(input, ctx);
  return { request: { ...req, sandboxConfig: sandbox.config }, sandbox };
}

async function validateWithSandbox(input: unknown, ctx: ValidateContext): Promise<{ req: NormalizedCreateContainerRequest; sandbox: SandboxRecord }> {
  assertContext(ctx);
  throwIfAborted(ctx.signal, 'validation');
  const normalized = tryNormalizeCreateContainerRequest(input, ctx.normalize);
  if (!normalized.ok) throw new CriValidationError(normalized.issues);
  const req = normalized.value;
  const features = resolveFeatures(ctx.features);
  const issues = new Issues();
  const signalOption = ctx.signal ? { signal: ctx.signal } : {};

  const sandbox = await findSandbox(issues, req, ctx, signalOption);
  if (sandbox) checkSandboxMetadata(issues, req, sandbox);
  await checkNameReservation(issues, req, ctx.containers, signalOption);
  await checkPidTarget(issues, req, ctx.containers, signalOption);
  checkSandboxConfig(issues, ['sandboxConfig'], req.sandboxConfig, features);
  checkContainer(issues, req, sandbox?.config ?? req.sandboxConfig, features);
  if (ctx.host) await checkHost(issues, req, ctx.host, ctx.signal);
  throwIfAborted(ctx.signal, 'validation');
  if (issues.list.length > 0 || !sandbox) throw new CriValidationError(issues.list);
  return { req, sandbox };
}

/**
 * The host-dependent checks alone (what `ctx.host` adds to {@link validateCreateContainerRequest}),
 * for a request that already passed validation without them: a caller that decides the runtime
 * after validation runs them only when the container will run on this host (not on a Proxmox VE
 * node).
 * @throws CriValidationError with every host issue found
 */
export async function validateOnHost(req: NormalizedCreateContainerRequest, host: HostInspector, signal?: AbortSignal): Promise<void> {
  const issues = new Issues();
  await checkHost(issues, req, host, signal);
  throwIfAborted(signal, 'validation');
  if (issues.list.length > 0) throw new CriValidationError(issues.list);
}

/** The host checks, in order: device nodes, mount propagation, AppArmor, the seccomp profile, pod sysctls. */
async function checkHost(issues: Issues, req: NormalizedCreateContainerRequest, host: HostInspector, signal: AbortSignal | undefined): Promise<void> {
  const c = req.config;
  await checkHostDevices(issues, c.devices, host, signal);
  await checkHostMounts(issues, c.mounts, host, signal);
  const sc = c.linux.securityContext;
  const sp = ['config', 'linux', 'securityContext'];
  await checkHostApparmor(issues, sp, sc, host, signal);
  await checkHostSeccomp(issues, sp, sc, host, signal);
  await checkHostSysctls(issues, req.sandboxConfig.linux, host, signal);
}

/** Each device's host path must be a device node. */
async function checkHostDevices(issues: Issues, devices: readonly NormalizedDevice[], host: HostInspector, signal: AbortSignal | undefined): Promise<void> {
  for (const [i, d] of devices.entries()) {
    if (!d.hostPath.startsWith('/')) continue;
    const kind = await host.pathKind(d.hostPath, signal);
    if (kind === 'missing') {
      issues.add(['config', 'devices', i, 'hostPath'], 'device_not_found', `error gathering device information while adding custom device ${JSON.stringify(d.hostPath)}: no such file or directory`);
    } else if (kind === 'other') {
      issues.add(['config', 'devices', i, 'hostPath'], 'not_a_device', `error gathering device information while adding custom device ${JSON.stringify(d.hostPath)}: not a device node`);
    }
  }
}

/** A bind mount's propagation needs the host mount to propagate (shared, or slave for host-to-container). */
async function checkHostMounts(issues: Issues, mounts: readonly NormalizedMount[], host: HostInspector, signal: AbortSignal | undefined): Promise<void> {
  for (const [i, m] of mounts.entries()) {
    if (m.image || !m.hostPath.startsWith('/') || m.propagation === 'PROPAGATION_PRIVATE') continue;
    const info = await host.mountPropagation(m.hostPath, signal);
    if (!info) continue; // a missing host path is created by the runtime, as containerd and CRI-O do
    if (m.propagation === 'PROPAGATION_BIDIRECTIONAL' && info.propagation !== 'shared') {
      issues.add(['config', 'mounts', i, 'propagation'], 'invalid_propagation', `path ${JSON.stringify(m.hostPath)} is mounted on ${JSON.stringify(info.mountPoint)} but it is not a shared mount`, 'FailedPrecondition');
    }
    if (m.propagation === 'PROPAGATION_HOST_TO_CONTAINER' && info.propagation === 'private') {
      issues.add(['config', 'mounts', i, 'propagation'], 'invalid_propagation', `path ${JSON.stringify(m.hostPath)} is mounted on ${JSON.stringify(info.mountPoint)} but it is not a shared or slave mount`, 'FailedPrecondition');
    }
  }
}

/**
 * AppArmor (containerd's rule): on a host without AppArmor, any profile but Unconfined is
 * refused, privileged or not; a nil profile means "the runtime's default", which is none there.
 */
async function checkHostApparmor(issues: Issues, sp: Path, sc: NormalizedLinuxContainerSecurityContext, host: HostInspector, signal: AbortSignal | undefined): Promise<void> {
  const apparmor = sc.apparmor ?? deprecatedApparmor(sc.apparmorProfile);
  if (!apparmor || apparmor.profileType === 'Unconfined') return;
  const path = [...sp, sc.apparmor ? 'apparmor' : 'apparmorProfile'];
  const enabled = host.apparmorEnabled ? await host.apparmorEnabled(signal) : (await host.apparmorProfileLoaded('', signal)) !== undefined;
  if (!enabled) {
    issues.add(path, 'unsupported', `apparmor is not supported: this host has no AppArmor, so the ${apparmor.profileType} profile cannot be applied (ask for Unconfined or leave the profile unset)`, 'FailedPrecondition');
  } else if (apparmor.profileType === 'Localhost' && apparmor.localhostRef !== '' && !sc.privileged) {
    const loaded = await host.apparmorProfileLoaded(apparmor.localhostRef, signal);
    if (!loaded) issues.add(path, 'apparmor_profile_not_found', `apparmor profile not found ${apparmor.localhostRef}`, 'FailedPrecondition');
  }
}

/** The Localhost seccomp profile file, structured or deprecated, with the path of the field naming it. */
function localhostSeccompRef(sp: Path, sc: NormalizedLinuxContainerSecurityContext): { path: Path; file: string } | undefined {
  if (sc.seccomp?.profileType === 'Localhost') return { path: [...sp, 'seccomp', 'localhostRef'], file: sc.seccomp.localhostRef };
  if (!sc.seccomp && sc.seccompProfilePath.startsWith('localhost/')) return { path: [...sp, 'seccompProfilePath'], file: sc.seccompProfilePath.slice('localhost/'.length) };
  return undefined;
}

/**
 * Localhost seccomp profile: read and parsed as the spec step will (containerd: "cannot load
 * seccomp profile"). Like the spec step, also for privileged containers.
 */
async function checkHostSeccomp(issues: Issues, sp: Path, sc: NormalizedLinuxContainerSecurityContext, host: HostInspector, signal: AbortSignal | undefined): Promise<void> {
  const seccompRef = localhostSeccompRef(sp, sc);
  if (host.readSeccompProfile && seccompRef && isAbsoluteClean(seccompRef.file)) {
    const read = await host.readSeccompProfile(seccompRef.file, signal);
    if (!read.ok) issues.add(seccompRef.path, read.code, read.message, read.grpcStatus);
  }
}

/** Pod sysctls: the kernel must know the name, and take the value. */
async function checkHostSysctls(issues: Issues, pod: NormalizedLinuxPodSandboxConfig, host: HostInspector, signal: AbortSignal | undefined): Promise<void> {
  if (!host.sysctl) return;
  for (const [key, value] of Object.entries(pod.sysctls)) {
    if (sysctlProblem(key, value, pod.securityContext.namespaceOptions)) continue; // already reported
    const procPath = sysctlProcPath(key);
    const found = await host.sysctl(procPath, signal);
    const kp = ['sandboxConfig', 'linux', 'sysctls', key];
    if (!found.exists) {
      issues.add(kp, 'sysctl_not_found', `sysctl ${JSON.stringify(key)} does not exist on this host: there is no /proc/sys/${procPath}`, 'FailedPrecondition');
      continue;
    }
    const problem = found.value === undefined ? undefined : sysctlValueProblem(procPath, value, found.value);
    if (problem) issues.add(kp, 'invalid_sysctl', `sysctl ${JSON.stringify(key)} value is not valid: ${problem}`);
  }
}

/** The deprecated `apparmor_profile` string as a profile (`undefined` for "" or an invalid form, reported elsewhere). */
function deprecatedApparmor(value: string): NormalizedSecurityProfile | undefined {
  if (value === 'runtime/default') return { profileType: 'RuntimeDefault', localhostRef: '' };
  if (value === 'unconfined') return { profileType: 'Unconfined', localhostRef: '' };
  if (value.startsWith('localhost/')) return { profileType: 'Localhost', localhostRef: value.slice('localhost/'.length) };
  return undefined;
}
