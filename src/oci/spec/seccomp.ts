/**
 * The `RuntimeDefault` seccomp profile as data: an allow-list with the semantics of containerd's
 * and CRI-O's default profiles (`defaultAction: SCMP_ACT_ERRNO`, i.e. EPERM, for everything not
 * listed), resolved for one architecture and one bounding capability set by
 * `defaultSeccompProfile(arch, bounding)`.
 *
 * The rules are facts about the kernel ABI and containerd 2.x's profile: which syscalls every
 * container may call, which only on some architectures, which a capability unlocks, and the
 * argument filters on `clone`, `personality` and `socket`. Syscall names unknown to the libseccomp
 * of the OCI runtime (newer than it) are skipped by runc and crun, so one list serves every host.
 *
 * @module
 */

/** One argument condition of a rule (`linux.seccomp.syscalls[].args[]`). */
export interface SeccompArgCondition {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: 'SCMP_CMP_NE' | 'SCMP_CMP_LT' | 'SCMP_CMP_LE' | 'SCMP_CMP_EQ' | 'SCMP_CMP_GE' | 'SCMP_CMP_GT' | 'SCMP_CMP_MASKED_EQ';
}

/** One rule of the profile, with the conditions under which it is part of the resolved profile. */
export interface SeccompProfileRule {
  /** Syscall names (libseccomp spelling). */
  readonly names: readonly string[];
  /** `allow` (default) or an errno the syscall returns. */
  readonly errno?: number;
  /** Argument conditions, all of which must hold (one condition per argument index). */
  readonly args?: readonly SeccompArgCondition[];
  /** Only on these architectures (Node `process.arch` names). */
  readonly arches?: readonly string[];
  /** Not on these architectures. */
  readonly notArches?: readonly string[];
  /** Only when the bounding set has this capability (`CAP_...`). */
  readonly capability?: string;
  /** Only when the bounding set lacks this capability. */
  readonly withoutCapability?: string;
  /** Why the rule exists (documentation only). */
  readonly reason?: string;
}

const words = (text: string): readonly string[] => Object.freeze(text.trim().split(/\s+/));

/** `EPERM`: what a syscall outside the allow-list returns. */
export const SECCOMP_EPERM = 1;
/** `ENOSYS`: what `clone3` returns without `CAP_SYS_ADMIN`, so glibc falls back to `clone`. */
export const SECCOMP_ENOSYS = 38;

/** `CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET`. */
export const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000;

/** `AF_VSOCK`: sockets of this family reach the host past the network namespace. */
export const AF_VSOCK = 40;

/**
 * Syscalls every container may call, on every architecture (names absent from an architecture's
 * table, such as `chown32` on x86-64, are ignored there by libseccomp). Alphabetical.
 */
export const SECCOMP_ALLOWED_SYSCALLS: readonly string[] = words(`
  accept accept4 access adjtimex alarm
  bind brk
  cachestat capget capset chdir chmod chown chown32 clock_adjtime clock_adjtime64 clock_getres
  clock_getres_time64 clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close
  close_range connect copy_file_range creat
  dup dup2 dup3
  epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
  eventfd eventfd2 execve execveat exit exit_group
  faccessat faccessat2 fadvise64 fadvise64_64 fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2
  fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr
  fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue
  futex_time64 futex_wait futex_waitv futex_wake futimesat
  get_robust_list get_thread_area getcpu getcwd getdents getdents64 getegid getegid32 geteuid
  geteuid32 getgid getgid32 getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid
  getppid getpriority getrandom getresgid getresgid32 getresuid getresuid32 getrlimit getrusage
  getsid getsockname getsockopt gettid gettimeofday getuid getuid32 getxattr getxattrat
  inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel io_destroy io_getevents
  io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl ioprio_get ioprio_set ipc
  kill
  landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
  linkat listen listmount listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr
  lsm_get_self_attr lsm_list_modules lsm_set_self_attr lstat lstat64
  madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat
  mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive
  mq_timedreceive_time64 mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv
  msgsnd msync munlock munlockall munmap
  name_to_handle_at nanosleep newfstatat _newselect
  open openat openat2
  pause pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll
  ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64
  pwrite64 pwritev pwritev2
  read readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg
  remap_file_pages removexattr removexattrat rename renameat renameat2 restart_syscall rmdir rseq
  rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
  rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo
  sched_get_priority_max sched_get_priority_min sched_getaffinity sched_getattr sched_getparam
  sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity
  sched_setattr sched_setparam sched_setscheduler sched_yield seccomp select semctl semget semop
  semtimedop semtimedop_time64 send sendfile sendfile64 sendmmsg sendmsg sendto set_robust_list
  set_thread_area set_tid_address setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups
  setgroups32 setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid
  setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid setuid32 setxattr setxattrat
  shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn socketcall
  socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync
  sync_file_range syncfs sysinfo
  tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
  timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64 timerfd_settime
  timerfd_settime64 times tkill truncate truncate64
  ugetrlimit umask uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes
  vfork vmsplice
  wait4 waitid waitpid write writev
`);

/** `personality(2)` personas allowed: `PER_LINUX`, `PER_LINUX32`, `UNAME26`, `UNAME26|PER_LINUX32`, and the query `0xffffffff`. */
export const SECCOMP_ALLOWED_PERSONALITIES: readonly number[] = Object.freeze([0x0, 0x0008, 0x20000, 0x20008, 0xffff_ffff]);

/** Syscalls each capability unlocks (when the capability is in the bounding set). */
export const SECCOMP_CAPABILITY_SYSCALLS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  CAP_DAC_READ_SEARCH: words('open_by_handle_at'),
  CAP_SYS_ADMIN: words(`
    bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie mount mount_setattr
    move_mount open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns syslog
    umount umount2 unshare
  `),
  CAP_SYS_BOOT: words('reboot'),
  CAP_SYS_CHROOT: words('chroot'),
  CAP_SYS_MODULE: words('delete_module init_module finit_module'),
  CAP_SYS_PACCT: words('acct'),
  CAP_SYS_PTRACE: words('kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace'),
  CAP_SYS_RAWIO: words('iopl ioperm'),
  CAP_SYS_TIME: words('settimeofday stime clock_settime clock_settime64'),
  CAP_SYS_TTY_CONFIG: words('vhangup'),
  CAP_SYS_NICE: words('get_mempolicy mbind set_mempolicy set_mempolicy_home_node'),
  CAP_SYSLOG: words('syslog'),
  CAP_BPF: words('bpf'),
  CAP_PERFMON: words('perf_event_open'),
});

/** Architecture-specific syscalls, by Node `process.arch`. */
export const SECCOMP_ARCH_SYSCALLS: Readonly<Record<string, readonly string[]>> = Object.freeze({
  x64: words('arch_prctl modify_ldt'),
  ia32: words('modify_ldt'),
  arm64: words('arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls'),
  arm: words('arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls'),
  ppc64: words('sync_file_range2 swapcontext'),
  s390x: words('s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr'),
  riscv64: words('riscv_flush_icache riscv_hwprobe'),
});

/**
 * The rules of the `RuntimeDefault` profile, in the order they are emitted. Resolve them for a
 * container with `defaultSeccompProfile(arch, bounding)`.
 */
export const RUNTIME_DEFAULT_SECCOMP_RULES: readonly SeccompProfileRule[] = Object.freeze([
  { names: SECCOMP_ALLOWED_SYSCALLS, reason: 'the allow-list' },
  {
    names: ['socket'],
    args: [{ index: 0, value: AF_VSOCK, op: 'SCMP_CMP_NE' }],
    reason: 'every address family but AF_VSOCK, which reaches the host past the network namespace (containerd 2.x)',
  },
  ...SECCOMP_ALLOWED_PERSONALITIES.map(
    (value): SeccompProfileRule => ({ names: ['personality'], args: [{ index: 0, value, op: 'SCMP_CMP_EQ' }], reason: 'only the Linux personas, not e.g. ADDR_NO_RANDOMIZE' }),
  ),
  { names: words('process_vm_readv process_vm_writev ptrace'), reason: 'kernel >= 4.8: ptrace cannot bypass seccomp any more' },
  ...Object.entries(SECCOMP_ARCH_SYSCALLS).map(([arch, names]): SeccompProfileRule => ({ names, arches: [arch], reason: `${arch} only` })),
  ...Object.entries(SECCOMP_CAPABILITY_SYSCALLS).map(([capability, names]): SeccompProfileRule => ({ names, capability, reason: `unlocked by ${capability}` })),
  {
    names: ['clone'],
    args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    withoutCapability: 'CAP_SYS_ADMIN',
    notArches: ['s390x'],
    reason: 'clone without namespace flags (flags are argument 0)',
  },
  {
    names: ['clone'],
    args: [{ index: 1, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }],
    withoutCapability: 'CAP_SYS_ADMIN',
    arches: ['s390x'],
    reason: 'clone without namespace flags (flags are argument 1 on s390)',
  },
  {
    names: ['clone3'],
    errno: SECCOMP_ENOSYS,
    withoutCapability: 'CAP_SYS_ADMIN',
    reason: 'its flags sit in memory a filter cannot read: ENOSYS makes libc fall back to clone',
  },
]);
