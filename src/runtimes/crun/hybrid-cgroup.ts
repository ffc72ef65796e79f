/**
 * The crun workaround for hybrid cgroup v1/v2 hosts (DEVELOPERS.md), and how the container
 * monitor applies it itself to `create`: a private mount namespace without
 * `/sys/fs/cgroup/unified`, made with the `unshare`, `mount` and `umount2` system calls in the
 * monitor's child instead of three more programs (`unshare`, `sh`, `umount`).
 *
 * @internal
 * @module
 */
import { syscallNumbers } from '../../internal/syscalls.js';

/**
 * The workaround as a command prefix: a private mount namespace without `/sys/fs/cgroup/unified`.
 * A driver given exactly this prefix applies it to `create` inside the monitor (same effect).
 */
export const CRUN_HYBRID_CGROUP_PREFIX: readonly string[] = ['unshare', '-m', '--', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"'];

/** What the prefix unmounts in its private mount namespace. */
export const HYBRID_CGROUP_UNMOUNT = '/sys/fs/cgroup/unified';


/**
 * The monitor's argument that makes its child enter a private mount namespace and unmount
 * `unmount` before it runs the runtime (`<unshare>,<mount>,<umount2>,<path>`), or `undefined`
 * when the prefix is not the workaround or the architecture's system call numbers are not known.
 */
export function nativeMountNamespaceSpec(commandPrefix: readonly string[], arch: string = process.arch): string | undefined {
  const calls = syscallNumbers(['unshare', 'mount', 'umount2'], arch);
  const same = commandPrefix.length === CRUN_HYBRID_CGROUP_PREFIX.length && commandPrefix.every((w, i) => w === CRUN_HYBRID_CGROUP_PREFIX[i]);
  return calls && same ? `${calls},${HYBRID_CGROUP_UNMOUNT}` : undefined;
}
