/**
 * CRI CreateContainer request + image config → OCI runtime-spec `config.json` (pure).
 *
 * @module
 */
import { posix } from 'node:path';
import { CriValidationError, type CriValidationIssue, type GrpcStatus } from '../../errors.js';
import type { OciImageConfig } from '../image/types.js';
import type {
  NamespaceMode,
  NormalizedCreateContainerRequest,
  NormalizedLinuxContainerSecurityContext,
  NormalizedMount,
  NormalizedSecurityProfile,
} from '../../cri/types.js';
import { DEFAULT_CAPABILITIES, defaultMounts, defaultSeccompProfile, denyListSeccompProfile } from './defaults.js';
import { resolveBuildRuntimeSpecOptions, type BuildRuntimeSpecOptions, type ResolvedBuildRuntimeSpecOptions } from './options.js';
import {
  ociRuntimeSpecSchema,
  ociSeccompSchema,
  type OciCapabilities,
  type OciDevice,
  type OciIdMapping,
  type OciLinux,
  type OciMount,
  type OciNamespace,
  type OciProcess,
  type OciResources,
  type OciRuntimeSpec,
  type OciSeccomp,
} from './runtime-spec.js';
import { parseGroup, parsePasswd, type GroupEntry, type PasswdEntry } from './user-db.js';

/** The part of an image config the generator reads (an `OciImageConfig` fits). */
export type SpecImageConfig = Pick<OciImageConfig, 'config'>;

/** The default `PATH` (containerd `WithDefaultPathEnv`). */
export const DEFAULT_PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const MAX_ID = 0x7fff_ffff;
const SC = 'config.linux.securityContext';

/** Annotation keys the generator sets (containerd's `io.kubernetes.cri.*`). */
export const CRI_ANNOTATIONS = {
  containerType: 'io.kubernetes.cri.container-type',
  containerName: 'io.kubernetes.cri.container-name',
  sandboxId: 'io.kubernetes.cri.sandbox-id',
  sandboxName: 'io.kubernetes.cri.sandbox-name',
  sandboxNamespace: 'io.kubernetes.cri.sandbox-namespace',
  sandboxUid: 'io.kubernetes.cri.sandbox-uid',
  imageName: 'io.kubernetes.cri.image-name',
} as const;

class IssueList {
  readonly issues: CriValidationIssue[] = [];
  add(path: string, code: string, message: string, grpcStatus: GrpcStatus = 'InvalidArgument'): void {
    this.issues.push({ path, code, message, grpcStatus });
  }
  throwIfAny(): void {
    if (this.issues.length > 0) throw new CriValidationError(this.issues);
  }
}

/**
 * Builds the runtime-spec `config.json` for a CRI CreateContainer request. Pure and deterministic:
 * the same request, image config and options give the same spec; every host or rootfs fact comes
 * in through `options` (see `collectSpecInputs`).
 *
 * **The request must have passed `validateCreateContainerRequest`** (as `createContainer`,
 * `Lxcri` and `lxcri bundle` do before they call `writeBundle` or this). The CRI rules
 * validation checks — a privileged container only in a privileged pod, capability names, the
 * SELinux level, env keys, absolute working dir, mount and device paths, rro mounts, duplicate
 * mount points, id ranges, user namespace mappings, seccomp/AppArmor profile forms, namespaced
 * sysctls, hugepage sizes, oomScoreAdj — are not checked again: for a request that skipped
 * validation the spec is undefined. What only this step can see is still checked: the image's
 * Entrypoint/Cmd (`no_command`, `empty_executable`), the image's `User` and the user and group
 * names in its passwd/group, what `options` holds (seccomp profiles read, device nodes, the pid
 * namespace of a TARGET container, the hugetlb controller), image volume mounts (unsupported),
 * a sysctl given in both `.` and `/` form or with `=` in its name, and the final spec against
 * the runtime-spec schema.
 *
 * Mapping (containerd's CRI plugin unless noted):
 * - **args**: `command ++ args`; without `command` the image `Entrypoint` (ignored when it is `[""]`)
 *   and, without `args`, the image `Cmd`; nothing at all → `no command specified`.
 * - **env**: `PATH` (default, replaced by the image's), `TERM=xterm` with a tty, `HOSTNAME`, the
 *   image `Env`, then the CRI envs. A key set twice keeps its first position and its last value:
 *   no duplicates (CRI-O's result; containerd can emit a key twice, a known bug).
 * - **cwd**: CRI `workingDir`, else the image `WorkingDir`, else `/`.
 * - **user**: `runAsUsername` (wins over `runAsUser`, as in containerd and CRI-O), `runAsUser`,
 *   `runAsGroup`, else the image `User`; names resolved in the image's passwd/group only; ids
 *   0…2³¹−1. Supplemental groups: `Merge` = primary, CRI groups, then the user's groups from
 *   `/etc/group`; `Strict` = primary and CRI groups only.
 * - **capabilities**: the 14 defaults, `ALL` in add/drop, `CAP_` prefixing and upper-casing
 *   (validation refuses unknown names, as CRI-O; containerd passes typos through). Ambient capabilities
 *   follow the proto comment (also added to inheritable/permitted/effective/bounding).
 * - **privileged**: every capability, no masked/read-only paths, rw `/sys` and cgroupfs, no seccomp,
 *   AppArmor or SELinux label, all devices allowed in the device cgroup, and the host's device
 *   nodes (`hostDevices`) in `linux.devices`.
 * - **mounts**: the defaults (`/proc`, `/dev`, `/dev/pts`, `/dev/shm`, `/dev/mqueue`, `/sys`,
 *   `/sys/fs/cgroup`) minus those a CRI mount replaces (a CRI `/dev` or `/sys` also replaces
 *   everything below it — CRI-O's rule for `/sys`), then CRI binds sorted by depth with
 *   `rbind`, `rprivate|rslave|rshared`, `ro|rw|rro`; the pod's files (`podFiles`: `/etc/hosts`,
 *   `/etc/hostname`, `/etc/resolv.conf`, `/dev/shm`) and a host-IPC pod's `/dev/shm` are bound
 *   as containerd does. `rootfsPropagation` is `slave`/`shared`
 *   (the official schema's enum; containerd writes `rslave`/`rshared`).
 * - **resources**, **oomScoreAdj** (whenever resources are given), **sysctls** (only namespaced
 *   ones, and not for a namespace shared with the host — CRI-O's rule; containerd applies them
 *   to the pause container), **seccomp** (nil → none, RuntimeDefault → the default profile,
 *   Localhost → the given file's content; RuntimeDefault is containerd's allow-list resolved
 *   for the container's arch and bounding capabilities), **AppArmor**, **SELinux** labels, **namespaces**
 *   (the sandbox's network/ipc/uts/pid paths; network and IPC follow the pod's mode, the
 *   container's own network/ipc mode is ignored as in containerd; pid modes; user namespace
 *   only with mappings),
 *   **hostname** (set when the container has its own UTS namespace — CRI-O; containerd relies on
 *   the sandbox's), `io.kubernetes.cri.*` **annotations** (CRI annotations are not copied), and
 *   **cgroupsPath**.
 *
 * @throws CriValidationError listing every problem found that validation cannot see (field paths
 *   in the request, or `image.config.User`)
 * @throws InvalidOptionsError for bad options
 */
export function buildRuntimeSpec(
  request: NormalizedCreateContainerRequest,
  imageConfig: SpecImageConfig | undefined,
  options: BuildRuntimeSpecOptions,
): OciRuntimeSpec {
  const opts = resolveBuildRuntimeSpecOptions(options);
  const issues = new IssueList();
  const config = request.config;
  const sc = config.linux.securityContext;
  const image = imageConfig?.config ?? {};
  const privileged = sc.privileged;
  const passwd = opts.userDb.passwd === undefined ? undefined : parsePasswd(opts.userDb.passwd);
  const groups = opts.userDb.group === undefined ? undefined : parseGroup(opts.userDb.group);

  const args = buildArgs(config.command, config.args, image.Entrypoint, image.Cmd, issues);
  const env = buildEnv(request, image.Env ?? [], opts);
  const cwd = buildCwd(config.workingDir, image.WorkingDir);
  const user = buildUser(sc, image.User ?? '', passwd, groups, issues);
  const capabilities = privileged ? allCaps(opts.allCapabilities) : buildCapabilities(sc, opts.allCapabilities);

  const namespaces = buildNamespaces(request, opts, issues);
  const ownUts = namespaces.some((n) => n.type === 'uts' && n.path === undefined);

  const { mounts, rootfsPropagation } = buildMounts(config.mounts, podFileMounts(request, opts), privileged, opts, issues);
  const seccomp = privileged ? undefined : buildSeccomp(sc, capabilities.bounding ?? [], opts, issues);
  const apparmorProfile = privileged ? undefined : buildApparmor(sc, opts);
  const selinux = privileged ? undefined : buildSelinux(request);
  const sysctl = buildSysctls(request.sandboxConfig.linux.sysctls);
  const { devices, deviceRules } = buildDevices(request, privileged, opts, issues);
  const resources = buildResources(request, opts, issues);
  const userns = buildUserMappings(request);

  issues.throwIfAny();

  const process: OciProcess = {
    ...(config.tty ? { terminal: true } : {}),
    user,
    args,
    env,
    cwd,
    capabilities,
    noNewPrivileges: sc.noNewPrivs,
    ...(apparmorProfile === undefined ? {} : { apparmorProfile }),
    ...(config.linux.resources === undefined ? {} : { oomScoreAdj: config.linux.resources.oomScoreAdj }),
    ...(selinux?.processLabel === undefined ? {} : { selinuxLabel: selinux.processLabel }),
  };

  const cgroupsPath = buildCgroupsPath(request.sandboxConfig.linux.cgroupParent, opts);
  const linux: OciLinux = {
    namespaces,
    ...(userns ? { uidMappings: userns.uid, gidMappings: userns.gid } : {}),
    ...(devices.length > 0 ? { devices } : {}),
    resources: { devices: deviceRules, ...resources },
    ...(cgroupsPath === undefined ? {} : { cgroupsPath }),
    ...(rootfsPropagation === undefined ? {} : { rootfsPropagation }),
    ...(seccomp === undefined ? {} : { seccomp }),
    ...(Object.keys(sysctl).length > 0 ? { sysctl } : {}),
    ...(privileged ? {} : { maskedPaths: [...sc.maskedPaths], readonlyPaths: [...sc.readonlyPaths] }),
    ...(selinux?.mountLabel === undefined ? {} : { mountLabel: selinux.mountLabel }),
  };

  const spec: OciRuntimeSpec = {
    ociVersion: opts.ociVersion,
    process,
    root: { path: opts.rootPath, ...(sc.readonlyRootfs ? { readonly: true } : {}) },
    ...(ownUts && request.sandboxConfig.hostname !== '' ? { hostname: request.sandboxConfig.hostname } : {}),
    mounts,
    annotations: buildAnnotations(request, opts),
    linux,
  };
  const checked = ociRuntimeSpecSchema.safeParse(spec);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    throw new CriValidationError([
      {
        path: 'config',
        code: 'invalid_runtime_spec',
        message: `the generated runtime spec is not valid at ${issue?.path.map(String).join('.') ?? '?'}: ${issue?.message ?? 'invalid'}`,
        grpcStatus: 'InvalidArgument',
      },
    ]);
  }
  return checked.data;
}

// ---------------------------------------------------------------------------------------------
// process

function buildArgs(command: string[], args: string[], entrypoint: string[] | undefined, cmd: string[] | undefined, issues: IssueList): string[] {
  let cmdPart = [...command];
  let argPart = [...args];
  if (cmdPart.length === 0) {
    if (argPart.length === 0) argPart = [...(cmd ?? [])];
    const ep = entrypoint ?? [];
    if (!(ep.length === 1 && ep[0] === '')) cmdPart = [...ep];
  }
  const all = [...cmdPart, ...argPart];
  if (all.length === 0) {
    issues.add('config.command', 'no_command', 'no command specified: set command or args, or use an image with an Entrypoint or Cmd');
    return ['/bin/false'];
  }
  if (all[0] === '') {
    issues.add(command.length > 0 ? 'config.command[0]' : 'config.args[0]', 'empty_executable', 'the executable (first word of command ++ args) is empty');
    return ['/bin/false'];
  }
  return all;
}

function envKey(entry: string): string {
  const i = entry.indexOf('=');
  return i < 0 ? entry : entry.slice(0, i);
}

/** Sets `entry` in `list`: replaces the value of an existing key in place, else appends. */
function setEnv(list: string[], entry: string): void {
  const key = envKey(entry);
  const at = list.findIndex((e) => envKey(e) === key);
  if (at >= 0) list[at] = entry;
  else list.push(entry);
}

function buildEnv(request: NormalizedCreateContainerRequest, imageEnv: string[], opts: ResolvedBuildRuntimeSpecOptions): string[] {
  const env: string[] = [DEFAULT_PATH_ENV];
  if (request.config.tty) env.push('TERM=xterm');
  const hostname = request.sandboxConfig.hostname || opts.nodeHostname;
  if (hostname) env.push(`HOSTNAME=${hostname}`);
  for (const entry of imageEnv) {
    if (!entry.includes('=') || entry.startsWith('=')) continue;
    setEnv(env, entry);
  }
  for (const { key, value } of request.config.envs) {
    if (key === '') continue;
    setEnv(env, `${key}=${value}`);
  }
  return env;
}

/** CRI `workingDir` (absolute: validated), else the image's `WorkingDir`, else `/`. */
function buildCwd(workingDir: string, imageWorkingDir: string | undefined): string {
  if (workingDir !== '') return posix.normalize(workingDir);
  if (imageWorkingDir) return posix.resolve('/', imageWorkingDir);
  return '/';
}

/** Parses a numeric uid/gid (0 … 2³¹−1), or `undefined` when `text` is not all digits. Out of range → issue. */
function parseNumericId(text: string, path: string, what: string, issues: IssueList): number | undefined {
  if (!/^\d+$/.test(text)) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n > MAX_ID) {
    issues.add(path, 'out_of_range', `${what} ${text} is out of range (0 … ${MAX_ID})`);
    return -1;
  }
  return n;
}

function buildUser(
  sc: NormalizedLinuxContainerSecurityContext,
  imageUser: string,
  passwd: PasswdEntry[] | undefined,
  groups: GroupEntry[] | undefined,
  issues: IssueList,
): OciProcess['user'] {
  // containerd GenerateUserString: username wins over uid; a group needs a user.
  let spec: string;
  let path: string;
  if (sc.runAsUsername !== '') {
    spec = sc.runAsGroup ? `${sc.runAsUsername}:${sc.runAsGroup.value}` : sc.runAsUsername;
    path = `${SC}.runAsUsername`;
  } else if (sc.runAsUser) {
    spec = sc.runAsGroup ? `${sc.runAsUser.value}:${sc.runAsGroup.value}` : `${sc.runAsUser.value}`;
    path = `${SC}.runAsUser`;
  } else {
    // a runAsGroup without a user is refused by validation
    spec = imageUser;
    path = 'image.config.User';
  }

  let uid = 0;
  let gid = 0;
  let userName: string | undefined;
  const parts = spec === '' ? [] : spec.split(':');
  if (parts.length > 2) {
    issues.add(path, 'invalid_user', `invalid USER value ${JSON.stringify(spec)}`);
  } else if (parts.length > 0) {
    const [userPart = '', groupPart] = parts;
    const numericUid = parseNumericId(userPart, path, 'uid', issues);
    if (numericUid !== undefined) {
      uid = Math.max(numericUid, 0);
      const entry = passwd?.find((p) => p.uid === uid);
      userName = entry?.name;
      gid = entry?.gid ?? 0;
    } else {
      const entry = passwd?.find((p) => p.name === userPart);
      if (!entry) {
        issues.add(path, 'user_not_found', `user ${JSON.stringify(userPart)} is not in the image's /etc/passwd${passwd ? '' : ' (the image has none)'}`, 'InvalidArgument');
      } else {
        uid = entry.uid;
        gid = entry.gid;
        userName = entry.name;
      }
    }
    if (groupPart !== undefined) {
      const numericGid = parseNumericId(groupPart, path, 'gid', issues);
      if (numericGid !== undefined) gid = Math.max(numericGid, 0);
      else {
        const g = groups?.find((e) => e.name === groupPart);
        if (!g) issues.add(path, 'group_not_found', `group ${JSON.stringify(groupPart)} is not in the image's /etc/group${groups ? '' : ' (the image has none)'}`);
        else gid = g.gid;
      }
    }
  } else {
    userName = passwd?.find((p) => p.uid === 0)?.name;
  }

  const additional: number[] = [gid];
  const push = (g: number): void => {
    if (!additional.includes(g)) additional.push(g);
  };
  for (const g of sc.supplementalGroups) push(g);
  if (sc.supplementalGroupsPolicy === 'Merge' && userName !== undefined && groups) {
    for (const g of groups) {
      if (g.name !== userName && g.members.includes(userName)) push(g.gid);
    }
  }
  return { uid, gid, additionalGids: additional };
}

function normalizeCapName(name: string): string {
  const upper = name.trim().toUpperCase();
  return upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
}

function allCaps(all: readonly string[]): OciCapabilities {
  return { bounding: [...all], effective: [...all], permitted: [...all], inheritable: [], ambient: [] };
}

/** The capability sets; names are known ones (validated), `ALL` is the keyword, `CAP_` optional. */
function buildCapabilities(sc: NormalizedLinuxContainerSecurityContext, all: readonly string[]): OciCapabilities {
  const caps = sc.capabilities;
  const names = (list: string[]): string[] => list.filter((name) => name.toUpperCase() !== 'ALL').map(normalizeCapName);
  const add = names(caps.addCapabilities);
  const drop = names(caps.dropCapabilities);
  const ambientAdd = names(caps.addAmbientCapabilities);
  const addAll = caps.addCapabilities.some((c) => c.toUpperCase() === 'ALL');
  const dropAll = caps.dropCapabilities.some((c) => c.toUpperCase() === 'ALL');

  let base: string[] = [...DEFAULT_CAPABILITIES];
  if (addAll) base = [...all];
  if (dropAll) base = [];
  const set = (list: string[], extra: string[], remove: string[]): string[] => {
    const out = [...list];
    for (const c of extra) if (!out.includes(c)) out.push(c);
    return out.filter((c) => !remove.includes(c));
  };
  const main = set(base, [...add, ...ambientAdd], drop);
  const ambient = set([], ambientAdd, drop);
  return { bounding: main, effective: [...main], permitted: [...main], inheritable: [...ambient], ambient };
}

// ---------------------------------------------------------------------------------------------
// security profiles

/**
 * Reads the deprecated string form (`runtime/default`, `unconfined`, `localhost/<ref>`) into a
 * profile; `undefined` for "" (validation refuses every other form).
 */
function deprecatedProfile(value: string): NormalizedSecurityProfile | undefined {
  if (value === 'runtime/default' || value === 'docker/default') return { profileType: 'RuntimeDefault', localhostRef: '' };
  if (value === 'unconfined') return { profileType: 'Unconfined', localhostRef: '' };
  if (value.startsWith('localhost/')) return { profileType: 'Localhost', localhostRef: value.slice('localhost/'.length) };
  return undefined;
}

function buildSeccomp(sc: NormalizedLinuxContainerSecurityContext, bounding: readonly string[], opts: ResolvedBuildRuntimeSpecOptions, issues: IssueList): OciSeccomp | undefined {
  const path = sc.seccomp ? `${SC}.seccomp` : `${SC}.seccompProfilePath`;
  const profile = sc.seccomp ?? deprecatedProfile(sc.seccompProfilePath);
  if (!profile || profile.profileType === 'Unconfined') return undefined;
  if (profile.profileType === 'RuntimeDefault') {
    if (opts.defaultSeccompProfile) return opts.defaultSeccompProfile;
    return opts.runtimeDefaultSeccomp === 'deny-list' ? denyListSeccompProfile(opts.arch) : defaultSeccompProfile(opts.arch, bounding);
  }
  const content = opts.seccompProfiles[profile.localhostRef];
  if (content === undefined) {
    issues.add(sc.seccomp ? `${path}.localhostRef` : path, 'profile_not_found', `seccomp profile ${JSON.stringify(profile.localhostRef)} was not loaded`, 'NotFound');
    return undefined;
  }
  const parsed = ociSeccompSchema.safeParse(content);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    issues.add(sc.seccomp ? `${path}.localhostRef` : path, 'invalid_profile', `seccomp profile ${JSON.stringify(profile.localhostRef)} is not a valid OCI seccomp config: ${issue?.path.map(String).join('.') ?? ''} ${issue?.message ?? ''}`.trim());
    return undefined;
  }
  return parsed.data;
}

/** Localhost → its name; RuntimeDefault (also when unset) → the configured default; Unconfined → none. */
function buildApparmor(sc: NormalizedLinuxContainerSecurityContext, opts: ResolvedBuildRuntimeSpecOptions): string | undefined {
  const profile = sc.apparmor ?? deprecatedProfile(sc.apparmorProfile) ?? { profileType: 'RuntimeDefault' as const, localhostRef: '' };
  if (profile.profileType === 'Unconfined') return undefined;
  if (profile.profileType === 'RuntimeDefault') return opts.apparmorDefaultProfile;
  return profile.localhostRef;
}

/** Process and mount labels from the container's SELinux options, else the pod's (level format validated). */
function buildSelinux(request: NormalizedCreateContainerRequest): { processLabel?: string; mountLabel?: string } | undefined {
  const own = request.config.linux.securityContext.selinuxOptions;
  const pod = request.sandboxConfig.linux.securityContext.selinuxOptions;
  const pick = (k: 'user' | 'role' | 'type' | 'level'): string => own[k] || pod[k];
  const user = pick('user');
  const role = pick('role');
  const type = pick('type');
  const level = pick('level');
  if (!user && !role && !type && !level) return undefined;
  const lvl = level || 's0';
  return {
    processLabel: `${user || 'system_u'}:${role || 'system_r'}:${type || 'container_t'}:${lvl}`,
    mountLabel: `${user || 'system_u'}:object_r:container_file_t:${lvl}`,
  };
}

// ---------------------------------------------------------------------------------------------
// namespaces, sysctls

/**
 * Network and IPC are the pod's: a container always joins the sandbox's namespaces (containerd
 * `WithPodNamespaces`, CRI-O likewise), so the container's own mode is ignored. Taking the
 * container's `NODE` would give one container of a non-host-network pod the host's network.
 */
function podMode(pod: NamespaceMode): 'NODE' | 'POD' {
  return pod === 'NODE' ? 'NODE' : 'POD';
}

function buildNamespaces(request: NormalizedCreateContainerRequest, opts: ResolvedBuildRuntimeSpecOptions, issues: IssueList): OciNamespace[] {
  const own = request.config.linux.securityContext.namespaceOptions;
  const pod = request.sandboxConfig.linux.securityContext.namespaceOptions;
  const paths = opts.sandbox?.namespacePaths ?? {};
  const ns: OciNamespace[] = [];
  const add = (type: OciNamespace['type'], path: string | undefined): void => {
    ns.push(path ? { type, path } : { type });
  };

  const pid = own.pid;
  if (pid === 'CONTAINER') add('pid', undefined);
  else if (pid === 'POD') add('pid', paths.pid);
  else if (pid === 'TARGET') {
    if (!opts.targetPidNamespacePath) {
      issues.add(`${SC}.namespaceOptions.targetId`, 'target_not_found', `the pid namespace of target container ${JSON.stringify(own.targetId)} is not known`, 'NotFound');
    }
    add('pid', opts.targetPidNamespacePath);
  }

  const network = podMode(pod.network);
  if (network !== 'NODE') add('network', paths.network);
  const ipc = podMode(pod.ipc);
  if (ipc !== 'NODE') add('ipc', paths.ipc);
  // containerd: with host network the pod shares the host's UTS namespace too.
  if (network !== 'NODE') add('uts', paths.uts);
  add('mount', undefined);

  const userns = own.usernsOptions ?? pod.usernsOptions;
  if (userns && userns.mode === 'POD') add('user', paths.user);
  if (opts.cgroupV2 && !request.config.linux.securityContext.privileged) add('cgroup', undefined);
  return ns;
}

/**
 * The ID mappings of a user namespace with mode POD (the container's options, else the pod's);
 * validation has checked them (one line each, lengths, the same as the pod's, no NODE with mappings).
 */
function buildUserMappings(request: NormalizedCreateContainerRequest): { uid: OciIdMapping[]; gid: OciIdMapping[] } | undefined {
  const own = request.config.linux.securityContext.namespaceOptions.usernsOptions;
  const pod = request.sandboxConfig.linux.securityContext.namespaceOptions.usernsOptions;
  const userns = own ?? pod;
  if (!userns || userns.mode !== 'POD') return undefined;
  const map = (m: { hostId: number; containerId: number; length: number }): OciIdMapping => ({
    containerID: m.containerId,
    hostID: m.hostId,
    size: m.length,
  });
  return { uid: userns.uids.map(map), gid: userns.gids.map(map) };
}

/**
 * A sysctl name in `/` form (`net/ipv4/ip_forward`, which the CRI validation accepts) turned into
 * the `.` form the runtime expects, swapping `.` and `/` as the kubelet does
 * (`net/ipv4/conf/eth0.100/forwarding` → `net.ipv4.conf.eth0/100.forwarding`).
 */
function dottedSysctlName(name: string): string {
  const first = name.search(/[./]/);
  if (first < 0 || name[first] === '.') return name;
  return name.replace(/[./]/g, (c) => (c === '.' ? '/' : '.'));
}

/**
 * The pod's sysctls in `.` form. Validation has checked each name (namespaced, allowed with the
 * pod's namespaces, no `=`, not given in both forms) and value.
 */
function buildSysctls(sysctls: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const original of Object.keys(sysctls).sort()) out[dottedSysctlName(original)] = sysctls[original] ?? '';
  return out;
}

// ---------------------------------------------------------------------------------------------
// mounts, devices, resources

const PROPAGATION_OPTION = { PROPAGATION_PRIVATE: 'rprivate', PROPAGATION_HOST_TO_CONTAINER: 'rslave', PROPAGATION_BIDIRECTIONAL: 'rshared' } as const;

function depth(path: string): number {
  return posix.normalize(path).split('/').filter(Boolean).length;
}

function isUnder(path: string, parent: string): boolean {
  return path === parent || path.startsWith(parent.endsWith('/') ? parent : `${parent}/`);
}

/** A bind the pod provides (pod files, the pod's `/dev/shm`). */
interface PodBind {
  destination: string;
  source: string;
  readonly: boolean;
}

/**
 * containerd's extra mounts (`containerMounts`): the pod's `/etc/hostname`, `/etc/hosts` and
 * `/etc/resolv.conf`, read-only when the rootfs is, and `/dev/shm` — the host's for a host-IPC
 * pod, else the pod's when it provides one. A CRI mount on the same path wins.
 */
function podFileMounts(request: NormalizedCreateContainerRequest, opts: ResolvedBuildRuntimeSpecOptions): PodBind[] {
  const files = opts.podFiles ?? {};
  const readonly = request.config.linux.securityContext.readonlyRootfs;
  const taken = new Set(request.config.mounts.map((m) => posix.normalize(m.containerPath).replace(/(.)\/$/, '$1')));
  const out: PodBind[] = [];
  const add = (destination: string, source: string | undefined, ro: boolean): void => {
    if (source !== undefined && !taken.has(destination)) out.push({ destination, source, readonly: ro });
  };
  add('/etc/hostname', files.hostnamePath, readonly);
  add('/etc/hosts', files.hostsPath, readonly);
  add('/etc/resolv.conf', files.resolvConfPath, readonly);
  const hostIpc = podMode(request.sandboxConfig.linux.securityContext.namespaceOptions.ipc) === 'NODE';
  add('/dev/shm', hostIpc ? '/dev/shm' : files.shmPath, false);
  return out;
}

function buildMounts(
  criMounts: NormalizedMount[],
  podBinds: PodBind[],
  privileged: boolean,
  opts: ResolvedBuildRuntimeSpecOptions,
  issues: IssueList,
): { mounts: OciMount[]; rootfsPropagation?: 'slave' | 'shared' } {
  let rootfsPropagation: 'slave' | 'shared' | undefined;
  const binds: { mount: OciMount; index: number }[] = [];
  // validated: absolute container paths without duplicates, a host path, rro only read-only and private
  for (const [i, m] of criMounts.entries()) {
    if (m.image) {
      issues.add(`config.mounts[${i}].image`, 'unsupported', 'image volume mounts are not supported by this runtime', 'Unimplemented');
      continue;
    }
    const destination = posix.normalize(m.containerPath).replace(/(.)\/$/, '$1');
    const propagation = PROPAGATION_OPTION[m.propagation];
    const access = m.recursiveReadOnly ? 'rro' : m.readonly ? 'ro' : 'rw';
    if (m.propagation === 'PROPAGATION_BIDIRECTIONAL') rootfsPropagation = 'shared';
    else if (m.propagation === 'PROPAGATION_HOST_TO_CONTAINER' && rootfsPropagation === undefined) rootfsPropagation = 'slave';
    const mount: OciMount = {
      destination,
      type: 'bind',
      source: opts.hostPaths[m.hostPath] ?? m.hostPath,
      options: ['rbind', propagation, access],
    };
    if (m.uidMappings.length > 0) mount.uidMappings = m.uidMappings.map((x) => ({ containerID: x.containerId, hostID: x.hostId, size: x.length }));
    if (m.gidMappings.length > 0) mount.gidMappings = m.gidMappings.map((x) => ({ containerID: x.containerId, hostID: x.hostId, size: x.length }));
    binds.push({ mount, index: i });
  }
  // containerd puts its extra mounts before the CRI ones; the sort below is stable
  for (const [i, b] of podBinds.entries()) {
    binds.push({ mount: { destination: b.destination, type: 'bind', source: b.source, options: ['rbind', 'rprivate', b.readonly ? 'ro' : 'rw'] }, index: i - podBinds.length });
  }
  binds.sort((a, b) => depth(a.mount.destination) - depth(b.mount.destination) || a.index - b.index);
  const replaced = (dest: string): boolean =>
    binds.some(({ mount }) => mount.destination === dest || ((mount.destination === '/dev' || mount.destination === '/sys') && isUnder(dest, mount.destination)));
  const defaults = defaultMounts(privileged).filter((m) => !replaced(m.destination));
  return { mounts: [...defaults, ...binds.map((b) => b.mount)], ...(rootfsPropagation ? { rootfsPropagation } : {}) };
}

function buildDevices(
  request: NormalizedCreateContainerRequest,
  privileged: boolean,
  opts: ResolvedBuildRuntimeSpecOptions,
  issues: IssueList,
): { devices: OciDevice[]; deviceRules: NonNullable<OciResources['devices']> } {
  const deviceRules: NonNullable<OciResources['devices']> = privileged ? [{ allow: true, access: 'rwm' }] : [{ allow: false, access: 'rwm' }];
  const devices: OciDevice[] = [];
  if (privileged && !opts.privilegedWithoutHostDevices) {
    // containerd WithHostDevices: every device node of the host's /dev; the CRI devices follow
    const criPaths = new Set(request.config.devices.map((d) => posix.normalize(d.containerPath)));
    for (const d of opts.hostDevices) if (!criPaths.has(d.path)) devices.push({ ...d });
  }
  // validated: absolute container paths, permissions a combination of r, w and m
  for (const [i, d] of request.config.devices.entries()) {
    const info = opts.devices[d.hostPath];
    if (!info) {
      issues.add(`config.devices[${i}].hostPath`, 'not_a_device', `${JSON.stringify(d.hostPath)} is not a known device node`, 'NotFound');
      continue;
    }
    const permissions = d.permissions || 'rwm';
    devices.push({ type: info.type, path: posix.normalize(d.containerPath), major: info.major, minor: info.minor, fileMode: info.fileMode, uid: info.uid, gid: info.gid });
    if (!privileged) deviceRules.push({ allow: true, type: info.type, major: info.major, minor: info.minor, access: permissions });
  }
  return { devices, deviceRules };
}

function buildResources(request: NormalizedCreateContainerRequest, opts: ResolvedBuildRuntimeSpecOptions, issues: IssueList): Omit<OciResources, 'devices'> {
  const r = request.config.linux.resources;
  if (!r) return {};
  const path = 'config.linux.resources';
  const out: Omit<OciResources, 'devices'> = {};
  const cpu: NonNullable<OciResources['cpu']> = {};
  if (r.cpuShares !== 0) cpu.shares = r.cpuShares;
  if (r.cpuQuota !== 0) cpu.quota = r.cpuQuota;
  if (r.cpuPeriod !== 0) cpu.period = r.cpuPeriod;
  if (r.cpusetCpus !== '') cpu.cpus = r.cpusetCpus;
  if (r.cpusetMems !== '') cpu.mems = r.cpusetMems;
  if (Object.keys(cpu).length > 0) out.cpu = cpu;
  const memory: NonNullable<OciResources['memory']> = {};
  if (r.memoryLimitInBytes !== 0) {
    memory.limit = r.memoryLimitInBytes;
    if (r.memorySwapLimitInBytes === 0 && opts.swapController) memory.swap = r.memoryLimitInBytes;
  }
  if (r.memorySwapLimitInBytes !== 0 && opts.swapController) memory.swap = r.memorySwapLimitInBytes;
  if (Object.keys(memory).length > 0) out.memory = memory;
  if (r.hugepageLimits.length > 0) {
    // page sizes are validated; whether this host can apply them is the spec options' fact
    if (!opts.hugetlbController) issues.add(`${path}.hugepageLimits`, 'unsupported', 'hugepage limits need the hugetlb cgroup controller', 'FailedPrecondition');
    out.hugepageLimits = r.hugepageLimits.map((h) => ({ pageSize: h.pageSize, limit: h.limit }));
  }
  if (Object.keys(r.unified).length > 0) out.unified = Object.fromEntries(Object.keys(r.unified).sort().map((k) => [k, r.unified[k] ?? '']));
  return out;
}

function buildCgroupsPath(sandboxParent: string, opts: ResolvedBuildRuntimeSpecOptions): string | undefined {
  const parent = sandboxParent || opts.defaultCgroupParent;
  if (parent === '') return undefined;
  if (opts.systemdCgroup || parent.endsWith('.slice')) return `${posix.basename(parent)}:${opts.systemdCgroupPrefix}:${opts.containerId}`;
  return posix.join(parent, opts.containerId);
}

function buildAnnotations(request: NormalizedCreateContainerRequest, opts: ResolvedBuildRuntimeSpecOptions): Record<string, string> {
  const meta = request.sandboxConfig.metadata;
  const image = request.config.image;
  return {
    [CRI_ANNOTATIONS.containerName]: request.config.metadata.name,
    [CRI_ANNOTATIONS.containerType]: 'container',
    [CRI_ANNOTATIONS.imageName]: opts.imageName ?? (image.userSpecifiedImage || image.image),
    [CRI_ANNOTATIONS.sandboxId]: request.podSandboxId || opts.sandbox?.id || '',
    [CRI_ANNOTATIONS.sandboxName]: meta.name,
    [CRI_ANNOTATIONS.sandboxNamespace]: meta.namespace,
    [CRI_ANNOTATIONS.sandboxUid]: meta.uid,
  };
}
