/**
 * The crun workaround for hybrid cgroup v1/v2 hosts (DEVELOPERS.md), and how the container
 * monitor applies it itself to `create`: a private mount namespace without
 * `/sys/fs/cgroup/unified`, made with the `unshare`, `mount` and `umount2` system calls in the
 * monitor's child instead of three more programs (`unshare`, `sh`, `umount`).
 *
 * @internal
 * @module
 */

/**
 * The workaround as a command prefix: a private mount namespace without `/sys/fs/cgroup/unified`.
 * A driver given exactly this prefix applies it to `create` inside the monitor (same effect).
 */
export const CRUN_HYBRID_CGROUP_PREFIX: readonly string[] = ['unshare', '-m', '--', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"'];

/** What the prefix unmounts in its private mount namespace. */
export const HYBRID_CGROUP_UNMOUNT = '/sys/fs/cgroup/unified';

/** `unshare`, `mount` and `umount2` system call numbers by Node `process.arch`. */
const MOUNT_NS_SYSCALLS: Readonly<Record<string, readonly [number, number, number]>> = { x64: [272, 165, 166], arm64: [97, 40, 39], riscv64: [97, 40, 39] };

/**
 * The monitor's argument that makes its child enter a private mount namespace and unmount
 * `unmount` before it runs the runtime (`<unshare>,<mount>,<umount2>,<path>`), or `undefined`
 * when the prefix is not the workaround or the architecture's system call numbers are not known.
 */
export function nativeMountNamespaceSpec(commandPrefix: readonly string[], arch: string = process.arch): string | undefined {
  const calls = MOUNT_NS_SYSCALLS[arch];
  const same = commandPrefix.length === CRUN_HYBRID_CGROUP_PREFIX.length && commandPrefix.every((w, i) => w === CRUN_HYBRID_CGROUP_PREFIX[i]);
  return calls && same ? [...calls, HYBRID_CGROUP_UNMOUNT].join(',') : undefined;
}
