/**
 * Options of {@link buildRuntimeSpec}: a zod strict schema (single source of truth) and its types.
 *
 * Everything the generator would otherwise have to read from the host or the rootfs is an option,
 * so the generator stays pure: {@link collectSpecInputs} reads those facts (passwd/group of the
 * rootfs, Localhost seccomp profiles, resolved host paths, device numbers) beforehand.
 *
 * @module
 */
import { parseOptions } from '../../options.js';
import { z } from 'zod';
import { ALL_CAPABILITIES } from './defaults.js';
import { ociSeccompSchema } from './runtime-spec.js';
import { containerIdSchema } from '../../internal/schemas.js';

/** A host device node, as {@link collectSpecInputs} found it. */
export const hostDeviceInfoSchema = z.strictObject({
  /** `c` (character) or `b` (block). */
  type: z.enum(['c', 'b']),
  major: z.number().int().nonnegative(),
  minor: z.number().int().nonnegative(),
  /** Permission bits of the node. */
  fileMode: z.number().int().nonnegative(),
  uid: z.number().int().nonnegative(),
  gid: z.number().int().nonnegative(),
});
/** A host device node. */
export type HostDeviceInfo = z.output<typeof hostDeviceInfoSchema>;

/** A device node of the host as a privileged container gets it (`linux.devices[]`), see `listHostDevices()`. */
export const hostDeviceNodeSchema = z.strictObject({
  /** Absolute path, the same inside the container (`/dev/kvm`, `/dev/net/tun`). */
  path: z.string().regex(/^\/dev\//, 'must be below /dev/'),
  ...hostDeviceInfoSchema.shape,
});
/** A host device node for a privileged container. */
export type HostDeviceNode = z.output<typeof hostDeviceNodeSchema>;

/** zod schema of {@link BuildRuntimeSpecOptions}. */
export const buildRuntimeSpecOptionsSchema = z.strictObject({
  /**
   * The container id (used in `cgroupsPath`). 1-128 of `[A-Za-z0-9_.-]`.
   */
  containerId: containerIdSchema,
  /**
   * The sandbox the container joins: namespace paths of the pod (e.g. `/proc/<pid>/ns/net`).
   * A namespace without a path is created new for the container; the pod's `NODE` modes still
   * mean the host's. A whole `SandboxRecord` can be passed (other keys are ignored).
   * @defaultValue no sandbox namespaces
   */
  sandbox: z
    .looseObject({
      id: z.string().optional(),
      namespacePaths: z
        .strictObject({
          network: z.string().optional(),
          ipc: z.string().optional(),
          uts: z.string().optional(),
          pid: z.string().optional(),
          user: z.string().optional(),
        })
        .default({}),
    })
    .optional(),
  /**
   * Contents of the image's `/etc/passwd` and `/etc/group` (see `readImageUserDb`). A missing file
   * makes user names unresolvable; numeric ids still work.
   * @defaultValue `{}` (no files)
   */
  userDb: z.strictObject({ passwd: z.string().optional(), group: z.string().optional() }).default({}),
  /**
   * Parsed Localhost seccomp profiles by `localhostRef` (the JSON file contents).
   * @defaultValue `{}`
   */
  seccompProfiles: z.record(z.string(), z.unknown()).default({}),
  /**
   * Resolved (symlink-free) host paths of the CRI mounts by `hostPath`; a mount missing here uses its `hostPath` as given.
   * @defaultValue `{}`
   */
  hostPaths: z.record(z.string(), z.string()).default({}),
  /**
   * Host device nodes by `hostPath` (required for every CRI device).
   * @defaultValue `{}`
   */
  devices: z.record(z.string(), hostDeviceInfoSchema).default({}),
  /**
   * The host's device nodes (`listHostDevices()`; `collectSpecInputs` lists them for a privileged
   * request): a privileged container gets every one in `linux.devices`, as containerd's
   * `WithHostDevices` — `/dev/kvm`, `/dev/fuse`, `/dev/net/tun`, GPUs. A CRI device on the same
   * path wins.
   * @defaultValue `[]`
   */
  hostDevices: z.array(hostDeviceNodeSchema).default([]),
  /**
   * containerd's `privileged_without_host_devices`: privileged containers get no host devices
   * (the device cgroup still allows all).
   * @defaultValue `false`
   */
  privilegedWithoutHostDevices: z.boolean().default(false),
  /**
   * pid namespace path of the target container, required when `namespaceOptions.pid` is `TARGET`.
   * @defaultValue none
   */
  targetPidNamespacePath: z.string().optional(),
  /**
   * The node's hostname: `HOSTNAME` when the sandbox has none (host network).
   * @defaultValue none (no `HOSTNAME` then)
   */
  nodeHostname: z.string().optional(),
  /**
   * `ociVersion` written to `config.json` (runc 1.1 and crun 1.8 accept 1.0.x).
   * @defaultValue `'1.0.2'`
   */
  ociVersion: z.string().default('1.0.2'),
  /**
   * `root.path`, relative to the bundle.
   * @defaultValue `'rootfs'`
   */
  rootPath: z.string().min(1).default('rootfs'),
  /**
   * The cgroup parent when the sandbox has none (`cgroupsPath` is `<parent>/<id>`); `''` leaves `cgroupsPath` unset.
   * @defaultValue `''`
   */
  defaultCgroupParent: z.string().default(''),
  /**
   * Write systemd-style `cgroupsPath` (`<slice>:<prefix>:<id>`), as when the runtime uses the systemd cgroup manager.
   * A sandbox parent ending in `.slice` selects it too.
   * @defaultValue `false`
   */
  systemdCgroup: z.boolean().default(false),
  /**
   * The middle part of a systemd `cgroupsPath`.
   * @defaultValue `'lxcri'`
   */
  systemdCgroupPrefix: z.string().min(1).default('lxcri'),
  /**
   * The host uses cgroup v2: non-privileged containers get a cgroup namespace (containerd).
   * @defaultValue `false`
   */
  cgroupV2: z.boolean().default(false),
  /**
   * The host has a swap controller: a memory limit without a swap limit sets swap = limit (containerd).
   * @defaultValue `true`
   */
  swapController: z.boolean().default(true),
  /**
   * The host has the hugetlb controller; without it hugepage limits are an error.
   * @defaultValue `true`
   */
  hugetlbController: z.boolean().default(true),
  /**
   * Node `process.arch` of the host: picks the seccomp architectures of the default profile.
   * @defaultValue `process.arch`
   */
  arch: z.string().default(process.arch),
  /**
   * What `RuntimeDefault` seccomp means: `'allow-list'` is containerd's and CRI-O's semantics
   * (`defaultSeccompProfile(arch, bounding)`: EPERM for every syscall not listed, more unlocked by
   * capabilities); `'deny-list'` is the opt-in looser profile (`denyListSeccompProfile(arch)`:
   * allow all but a list of dangerous syscalls).
   * @defaultValue `'allow-list'`
   */
  runtimeDefaultSeccomp: z.enum(['allow-list', 'deny-list']).default('allow-list'),
  /**
   * Overrides the RuntimeDefault seccomp profile altogether (wins over `runtimeDefaultSeccomp`).
   * @defaultValue `defaultSeccompProfile(arch, <the container's bounding capabilities>)`
   */
  defaultSeccompProfile: ociSeccompSchema.optional(),
  /**
   * The AppArmor profile for RuntimeDefault (e.g. a loaded `lxcri-default`); unset leaves AppArmor
   * off, which is right on hosts without AppArmor.
   * @defaultValue none
   */
  apparmorDefaultProfile: z.string().optional(),
  /**
   * What `ALL` and privileged grant (`writeBundle` passes the bounding set of the running process,
   * as containerd's `cap.Current()`, from `detectHostSpecDefaults()`). Capability names in the
   * request are checked against every capability the kernel knows, not against this list.
   * @defaultValue every capability up to `CAP_CHECKPOINT_RESTORE`
   */
  allCapabilities: z.array(z.string().regex(/^CAP_[A-Z_]+$/)).default([...ALL_CAPABILITIES]),
  /**
   * Files the pod shares between its containers, made by whoever runs the sandbox (absolute host
   * paths), bound as containerd does unless a CRI mount already targets the path:
   * `hostsPath` → `/etc/hosts`, `hostnamePath` → `/etc/hostname`, `resolvConfPath` →
   * `/etc/resolv.conf` (`rbind`, `rprivate`, `rw` — `ro` when the container's rootfs is read-only),
   * and `shmPath` → `/dev/shm` (`rbind`, `rprivate`, `rw`) when the pod's IPC namespace is the
   * pod's own. A host-IPC pod always gets the host's `/dev/shm`; without `shmPath` a pod-IPC
   * container keeps its private 64 MiB tmpfs.
   * @defaultValue none (no pod files)
   */
  podFiles: z
    .strictObject({
      hostsPath: z.string().regex(/^\//, 'must be an absolute path').optional(),
      hostnamePath: z.string().regex(/^\//, 'must be an absolute path').optional(),
      resolvConfPath: z.string().regex(/^\//, 'must be an absolute path').optional(),
      shmPath: z.string().regex(/^\//, 'must be an absolute path').optional(),
    })
    .optional(),
  /**
   * The value of the `io.kubernetes.cri.image-name` annotation.
   * @defaultValue `config.image.userSpecifiedImage`, else `config.image.image`
   */
  imageName: z.string().optional(),
});

/** What callers pass to {@link buildRuntimeSpec}. */
export type BuildRuntimeSpecOptions = z.input<typeof buildRuntimeSpecOptionsSchema>;
/** The options after defaults. */
export type ResolvedBuildRuntimeSpecOptions = z.output<typeof buildRuntimeSpecOptionsSchema>;

/** Parses {@link BuildRuntimeSpecOptions}; throws {@link InvalidOptionsError} naming the bad fields. */
export function resolveBuildRuntimeSpecOptions(options: unknown): ResolvedBuildRuntimeSpecOptions {
  return parseOptions(buildRuntimeSpecOptionsSchema, options, 'buildRuntimeSpec options');
}
