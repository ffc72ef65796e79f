/**
 * Linux system call numbers that the short Perl helpers (the container monitor, the pod
 * namespace maker, the device nodes of layers) call through `syscall()`, by Node `process.arch`. Only the architectures where
 * they were checked (x86-64 and the generic table of arm64/riscv64); elsewhere callers fall back
 * to the util-linux programs.
 *
 * @internal
 * @module
 */

/** The system calls the helpers use. */
export type SyscallName = 'mount' | 'umount2' | 'unshare' | 'sethostname' | 'mknodat';

const GENERIC: Readonly<Record<SyscallName, number>> = { mount: 40, umount2: 39, unshare: 97, sethostname: 161, mknodat: 33 };
const TABLES: Readonly<Record<string, Readonly<Record<SyscallName, number>>>> = {
  x64: { mount: 165, umount2: 166, unshare: 272, sethostname: 170, mknodat: 259 },
  arm64: GENERIC,
  riscv64: GENERIC,
};

/** The numbers of `names` on `arch`, comma-separated in that order, or `undefined` when not known there. */
export function syscallNumbers(names: readonly SyscallName[], arch: string = process.arch): string | undefined {
  const table = TABLES[arch];
  return table && names.map((n) => table[n]).join(',');
}
