/**
 * Defaults of the generated runtime spec: capabilities, mounts, and the `RuntimeDefault` seccomp
 * profile (resolved from the data in `seccomp.ts`).
 *
 * @module
 */
import type { OciMount, OciSeccomp } from './runtime-spec.js';
import { RUNTIME_DEFAULT_SECCOMP_RULES, type SeccompProfileRule } from './seccomp.js';

/**
 * containerd's default capability set (`defaultUnixCaps`): granted to a non-privileged container
 * when the request does not change capabilities. (CRI-O grants 9; containerd's 14 are kept so
 * images that expect `ping` or `chroot` keep working.)
 */
export const DEFAULT_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
]);

/** Every Linux capability (0 … 40, kernel 5.9+), in number order: what `ALL` and privileged grant. */
export const ALL_CAPABILITIES: readonly string[] = Object.freeze([
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
]);

/**
 * containerd's default mounts (`pkg/oci/mounts.go`, without `/run`, plus the CRI's
 * `/sys/fs/cgroup`). `/sys` and `/sys/fs/cgroup` are read-only unless the container is privileged.
 */
export function defaultMounts(privileged: boolean): OciMount[] {
  const sysMode = privileged ? 'rw' : 'ro';
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', sysMode] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', sysMode] },
  ];
}

/**
 * Syscalls the opt-in deny-list profile (`denyListSeccompProfile`) refuses with EPERM: those
 * that change the kernel, the clock, keyrings, mounts and namespaces, or read other processes'
 * memory. Not what `RuntimeDefault` means (that is the allow-list of {@link defaultSeccompProfile}).
 */
export const DEFAULT_SECCOMP_DENIED_SYSCALLS: readonly string[] = Object.freeze([
  'acct',
  'add_key',
  'bpf',
  'clock_adjtime',
  'clock_settime',
  'create_module',
  'delete_module',
  'fanotify_init',
  'finit_module',
  'fsconfig',
  'fsmount',
  'fsopen',
  'fspick',
  'get_kernel_syms',
  'get_mempolicy',
  'init_module',
  'ioperm',
  'iopl',
  'kcmp',
  'kexec_file_load',
  'kexec_load',
  'keyctl',
  'lookup_dcookie',
  'mbind',
  'mount',
  'mount_setattr',
  'move_mount',
  'move_pages',
  'name_to_handle_at',
  'nfsservctl',
  'open_by_handle_at',
  'open_tree',
  'perf_event_open',
  'pivot_root',
  'process_vm_readv',
  'process_vm_writev',
  'query_module',
  'quotactl',
  'reboot',
  'request_key',
  'set_mempolicy',
  'setns',
  'settimeofday',
  'swapoff',
  'swapon',
  'syslog',
  'umount2',
  'unshare',
  'uselib',
  'userfaultfd',
  'ustat',
  'vm86',
  'vm86old',
]);

/** Seccomp architectures for a Node `process.arch`: the native one plus its compat modes (containerd's lists). */
export function seccompArchitectures(arch: string): string[] {
  switch (arch) {
    case 'x64':
      return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
    case 'ia32':
      return ['SCMP_ARCH_X86'];
    case 'arm64':
      return ['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64'];
    case 'arm':
      return ['SCMP_ARCH_ARM'];
    case 'ppc64':
      return ['SCMP_ARCH_PPC64LE'];
    case 's390x':
      return ['SCMP_ARCH_S390', 'SCMP_ARCH_S390X'];
    case 'riscv64':
      return ['SCMP_ARCH_RISCV64'];
    case 'loong64':
      return ['SCMP_ARCH_LOONGARCH64'];
    default:
      return [];
  }
}

function ruleApplies(rule: SeccompProfileRule, arch: string, bounding: ReadonlySet<string>): boolean {
  if (rule.arches && !rule.arches.includes(arch)) return false;
  if (rule.notArches?.includes(arch)) return false;
  if (rule.capability !== undefined && !bounding.has(rule.capability)) return false;
  if (rule.withoutCapability !== undefined && bounding.has(rule.withoutCapability)) return false;
  return true;
}

/**
 * This project's `RuntimeDefault` seccomp profile, with the semantics of containerd's and CRI-O's:
 * an allow-list (`RUNTIME_DEFAULT_SECCOMP_RULES`) resolved for one container — the rules of
 * its architecture, the syscalls its bounding capabilities unlock (`CAP_SYS_ADMIN`: `mount`,
 * `unshare`, `setns`, ...; `CAP_SYS_PTRACE`: `kcmp`, ...), and, without `CAP_SYS_ADMIN`, `clone`
 * only without namespace flags and `clone3` answering ENOSYS. Everything else answers EPERM
 * (`SCMP_ACT_ERRNO` without `errnoRet`). Privileged containers run without seccomp.
 *
 * @param arch - Node `process.arch` of the host (`x64`, `arm64`, ...)
 * @param bounding - the container's bounding capabilities; default {@link DEFAULT_CAPABILITIES}
 */
export function defaultSeccompProfile(arch: string, bounding: readonly string[] = DEFAULT_CAPABILITIES): OciSeccomp {
  const caps = new Set(bounding);
  const architectures = seccompArchitectures(arch);
  return {
    defaultAction: 'SCMP_ACT_ERRNO',
    ...(architectures.length > 0 ? { architectures } : {}),
    syscalls: RUNTIME_DEFAULT_SECCOMP_RULES.filter((rule) => ruleApplies(rule, arch, caps)).map((rule) => ({
      names: [...rule.names],
      action: rule.errno === undefined ? ('SCMP_ACT_ALLOW' as const) : ('SCMP_ACT_ERRNO' as const),
      ...(rule.errno === undefined ? {} : { errnoRet: rule.errno }),
      ...(rule.args ? { args: rule.args.map((a) => ({ ...a })) } : {}),
    })),
  };
}

/**
 * The opt-in deny-list profile (`buildRuntimeSpec` option `runtimeDefaultSeccomp: 'deny-list'`):
 * allow by default, EPERM for `DEFAULT_SECCOMP_DENIED_SYSCALLS`, whatever the capabilities.
 * Shorter to audit and it cannot break a program that uses a syscall newer than the allow-list,
 * but it is looser than `RuntimeDefault` for every syscall it does not name.
 */
export function denyListSeccompProfile(arch: string): OciSeccomp {
  const architectures = seccompArchitectures(arch);
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    ...(architectures.length > 0 ? { architectures } : {}),
    syscalls: [{ names: [...DEFAULT_SECCOMP_DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
}
