import { describe, expect, it } from 'vitest';
import { syscallNumbers } from '../../../src/internal/syscalls.js';
import { nativeMountNamespaceSpec, CRUN_HYBRID_CGROUP_PREFIX } from '../../../src/runtimes/crun/hybrid-cgroup.js';
import { podNamespaceSyscalls } from '../../../src/lxcri/pod-namespaces-script.js';

describe('system call numbers of the Perl helpers', () => {
  it('are the kernel ABI numbers (x86-64 table, and the generic table of arm64/riscv64), in the order asked', () => {
    expect(syscallNumbers(['mount', 'umount2', 'unshare', 'sethostname'], 'x64')).toBe('165,166,272,170');
    expect(syscallNumbers(['mount', 'umount2', 'unshare', 'sethostname'], 'arm64')).toBe('40,39,97,161');
    expect(syscallNumbers(['mount', 'umount2', 'unshare', 'sethostname'], 'riscv64')).toBe('40,39,97,161');
    expect(syscallNumbers(['mknodat'], 'x64')).toBe('259');
    expect(syscallNumbers(['mknodat'], 'arm64')).toBe('33');
    expect(syscallNumbers(['mount'], 'ppc64')).toBeUndefined();
  });

  it('feed the hybrid-cgroup workaround and the pod namespace script (unknown arch: the programs are used)', () => {
    expect(nativeMountNamespaceSpec(CRUN_HYBRID_CGROUP_PREFIX, 'x64')).toBe('272,165,166,/sys/fs/cgroup/unified');
    expect(nativeMountNamespaceSpec(['unshare', '-m'], 'x64')).toBeUndefined();
    expect(nativeMountNamespaceSpec(CRUN_HYBRID_CGROUP_PREFIX, 's390x')).toBeUndefined();
    expect(podNamespaceSyscalls('x64')).toBe('165,272,170');
    expect(podNamespaceSyscalls('arm64')).toBe('40,97,161');
    expect(podNamespaceSyscalls('s390x')).toBeUndefined();
  });
});
