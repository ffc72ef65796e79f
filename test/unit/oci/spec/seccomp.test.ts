/**
 * The RuntimeDefault seccomp profile: an allow-list with containerd's semantics, resolved per
 * architecture and bounding capability set; compared with the profile containerd 1.6.20 wrote for
 * a RuntimeDefault container on amd64 (read from OCI_RUNTIME_SPEC_SCHEMA_DIR, never copied).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_SECCOMP_DENIED_SYSCALLS, defaultSeccompProfile, denyListSeccompProfile } from '../../../../src/oci/spec/defaults.js';
import { buildRuntimeSpec } from '../../../../src/oci/spec/build.js';
import { CLONE_NAMESPACE_FLAGS, RUNTIME_DEFAULT_SECCOMP_RULES, SECCOMP_ALLOWED_SYSCALLS, SECCOMP_ARCH_SYSCALLS, SECCOMP_CAPABILITY_SYSCALLS } from '../../../../src/oci/spec/seccomp.js';
import type { OciSeccomp } from '../../../../src/oci/spec/runtime-spec.js';
import { referencePath } from '../../../helpers/requirements.js';
import { BASE_OPTIONS, image, request } from './fixtures.js';

/**
 * What a profile does with each syscall name: `allow`, `errno:<n>`, or the list of its
 * conditional rules (`allow if arg0 != 40`, ...). Names not listed get the default action.
 */
function semantics(profile: OciSeccomp): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const rule of profile.syscalls ?? []) {
    const action = rule.action === 'SCMP_ACT_ALLOW' ? 'allow' : `${rule.action}:${rule.errnoRet ?? 'EPERM'}`;
    const args = (rule.args ?? []).map((a) => `arg${a.index} ${a.op} ${a.value}${a.valueTwo ? `/${a.valueTwo}` : ''}`).sort();
    const text = args.length > 0 ? `${action} if ${args.join(' && ')}` : action;
    for (const name of rule.names) {
      const list = out.get(name) ?? [];
      if (!list.includes(text)) list.push(text);
      out.set(name, list.sort());
    }
  }
  // An unconditional rule makes the conditional ones of the same action moot.
  for (const [name, list] of out) {
    for (const plain of list.filter((t) => !t.includes(' if '))) out.set(name, list.filter((t) => t === plain || !t.startsWith(`${plain} if `)));
  }
  return out;
}

const allowed = (profile: OciSeccomp): Set<string> => new Set([...semantics(profile)].filter(([, v]) => v.includes('allow')).map(([k]) => k));

/**
 * How this profile differs on purpose from containerd 1.6.20's, which is older than today's
 * containerd 2.x profile (docs/runtime-spec.md lists the reasons).
 */
const SINCE_CONTAINERD_1_6_20 = {
  /** Allowed here and not in the 1.6.20 capture. */
  added: [
    // syscalls of kernels 6.5–6.13 that containerd 2.x allows (libc falls back badly on EPERM)
    'cachestat', 'fchmodat2', 'futex_requeue', 'futex_wait', 'futex_wake', 'getxattrat', 'listmount', 'listxattrat',
    'lsm_get_self_attr', 'lsm_list_modules', 'lsm_set_self_attr', 'map_shadow_stack', 'mseal', 'removexattrat', 'setxattrat',
    'statmount', 'uretprobe',
    // containerd 2.x: moved to the allow-list (it only makes a handle; open_by_handle_at stays gated)
    'name_to_handle_at',
    // containerd 2.x: allowed with ptrace on kernels >= 4.8
    'process_vm_readv', 'process_vm_writev',
    // CAP_SYS_CHROOT is in the default set and unlocks chroot in containerd's source; the capture lacks it
    'chroot',
  ],
  /** Allowed in the 1.6.20 capture, refused here (containerd 2.x dropped io_uring from the default profile). */
  removed: ['io_uring_enter', 'io_uring_register', 'io_uring_setup'],
  /** Allowed unconditionally in 1.6.20, only with an argument filter here. */
  filtered: { socket: ['allow if arg0 SCMP_CMP_NE 40'] },
};

const ref = referencePath('OCI_RUNTIME_SPEC_SCHEMA_DIR');

describe.skipIf(ref.skip)('RuntimeDefault vs containerd 1.6.20 on amd64 (reference capture)', () => {
  const reference = (): OciSeccomp => JSON.parse(readFileSync(join(ref.path as string, 'containerd-1.6.20-runtime-default-seccomp-amd64.json'), 'utf8')) as OciSeccomp;

  it('same default action, architectures and argument filters; the name lists differ only as documented', () => {
    const theirs = reference();
    const ours = defaultSeccompProfile('x64', DEFAULT_CAPABILITIES);
    expect(ours.defaultAction).toBe(theirs.defaultAction);
    expect(ours.defaultErrnoRet ?? 1).toBe(theirs.defaultErrnoRet ?? 1);
    expect(new Set(ours.architectures)).toEqual(new Set(theirs.architectures));

    const a = semantics(theirs);
    const b = semantics(ours);
    const changed = [...new Set([...a.keys(), ...b.keys()])].filter((n) => JSON.stringify(a.get(n)) !== JSON.stringify(b.get(n))).sort();
    const expected = [...SINCE_CONTAINERD_1_6_20.added, ...SINCE_CONTAINERD_1_6_20.removed, ...Object.keys(SINCE_CONTAINERD_1_6_20.filtered)].sort();
    expect(changed).toEqual(expected);
    for (const n of SINCE_CONTAINERD_1_6_20.added) expect([n, a.get(n), b.get(n)]).toEqual([n, undefined, ['allow']]);
    for (const n of SINCE_CONTAINERD_1_6_20.removed) expect([n, a.get(n), b.get(n)]).toEqual([n, ['allow'], undefined]);
    for (const [n, rules] of Object.entries(SINCE_CONTAINERD_1_6_20.filtered)) expect([n, a.get(n), b.get(n)]).toEqual([n, ['allow'], rules]);

    // the argument filters in particular
    expect(b.get('personality')).toEqual(a.get('personality'));
    expect(b.get('clone')).toEqual([`allow if arg0 SCMP_CMP_MASKED_EQ ${CLONE_NAMESPACE_FLAGS}`]);
    expect(b.get('clone')).toEqual(a.get('clone'));
    expect(b.get('clone3')).toEqual(['SCMP_ACT_ERRNO:38']);
    expect(b.get('clone3')).toEqual(a.get('clone3'));
  });
});

describe('defaultSeccompProfile (RuntimeDefault = allow-list)', () => {
  it('EPERM for whatever is not listed; the dangerous syscalls are not listed without their capability', () => {
    const p = defaultSeccompProfile('x64');
    expect(p.defaultAction).toBe('SCMP_ACT_ERRNO');
    expect(p.defaultErrnoRet).toBeUndefined();
    const ok = allowed(p);
    for (const n of ['unshare', 'mount', 'umount2', 'setns', 'keyctl', 'add_key', 'request_key', 'bpf', 'kexec_load', 'init_module', 'perf_event_open', 'kcmp', 'open_by_handle_at', 'reboot', 'swapon', 'io_uring_setup', 'userfaultfd', 'clock_settime']) {
      expect([n, ok.has(n)]).toEqual([n, false]);
    }
    for (const n of ['read', 'write', 'execve', 'openat', 'mmap', 'futex', 'clock_gettime', 'rseq', 'getrandom', 'ptrace', 'arch_prctl', 'chroot']) expect([n, ok.has(n)]).toEqual([n, true]);
  });

  it('amd64 and arm64 each get their own architecture names and syscalls', () => {
    const amd64 = defaultSeccompProfile('x64');
    const arm64 = defaultSeccompProfile('arm64');
    expect(amd64.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
    expect(arm64.architectures).toEqual(['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64']);
    const a = allowed(amd64);
    const r = allowed(arm64);
    for (const n of ['arch_prctl', 'modify_ldt']) expect([n, a.has(n), r.has(n)]).toEqual([n, true, false]);
    for (const n of ['arm_fadvise64_64', 'arm_sync_file_range', 'sync_file_range2', 'breakpoint', 'cacheflush', 'set_tls']) expect([n, a.has(n), r.has(n)]).toEqual([n, false, true]);
    // the shared list holds the names of both (arm64 has no open/stat, amd64 has no *_time64: libseccomp skips absent ones)
    for (const n of ['openat', 'newfstatat', 'open', 'stat', 'fstatat64', 'clock_gettime64', 'mmap2']) expect([n, a.has(n), r.has(n)]).toEqual([n, true, true]);
    // s390x takes clone's flags as argument 1
    expect(semantics(defaultSeccompProfile('s390x')).get('clone')).toEqual([`allow if arg1 SCMP_CMP_MASKED_EQ ${CLONE_NAMESPACE_FLAGS}`]);
    expect(defaultSeccompProfile('mips')).not.toHaveProperty('architectures');
  });

  it('capabilities unlock their syscalls; CAP_SYS_ADMIN lifts the clone filter and the clone3 ENOSYS', () => {
    const base = semantics(defaultSeccompProfile('x64', []));
    expect(base.get('chroot')).toBeUndefined();
    for (const [cap, names] of Object.entries(SECCOMP_CAPABILITY_SYSCALLS)) {
      const unlocked = semantics(defaultSeccompProfile('x64', [cap]));
      for (const n of names) expect([cap, n, unlocked.get(n)?.includes('allow')]).toEqual([cap, n, true]);
    }
    const admin = semantics(defaultSeccompProfile('x64', ['CAP_SYS_ADMIN']));
    expect(admin.get('clone')).toEqual(['allow']);
    expect(admin.get('clone3')).toEqual(['allow']);
    expect(admin.get('keyctl')).toBeUndefined();
    const ptrace = allowed(defaultSeccompProfile('x64', ['CAP_SYS_PTRACE']));
    expect(['kcmp', 'pidfd_getfd', 'process_madvise'].every((n) => ptrace.has(n))).toBe(true);
    // every capability together still leaves keyrings, kexec and userfaultfd refused
    const all = allowed(defaultSeccompProfile('x64', ALL_CAPABILITIES));
    for (const n of ['keyctl', 'add_key', 'request_key', 'kexec_load', 'kexec_file_load', 'userfaultfd', 'swapon', 'nfsservctl']) expect([n, all.has(n)]).toEqual([n, false]);
  });

  it('the data is consistent: no name twice in the allow-list, no unlocked or arch name already allowed for all', () => {
    expect(new Set(SECCOMP_ALLOWED_SYSCALLS).size).toBe(SECCOMP_ALLOWED_SYSCALLS.length);
    const all = new Set(SECCOMP_ALLOWED_SYSCALLS);
    for (const names of [...Object.values(SECCOMP_CAPABILITY_SYSCALLS), ...Object.values(SECCOMP_ARCH_SYSCALLS)]) for (const n of names) expect([n, all.has(n)]).toEqual([n, false]);
    for (const rule of RUNTIME_DEFAULT_SECCOMP_RULES) for (const n of rule.names) expect(n).toMatch(/^[a-z_][a-z0-9_]*$/);
  });

  it('buildRuntimeSpec resolves it for the container’s bounding set; the deny-list is an opt-in; privileged has none', () => {
    const spec = (caps: Record<string, unknown>, opts: Record<string, unknown> = {}): OciSeccomp | undefined =>
      buildRuntimeSpec(request({ config: { linux: { security_context: { seccomp: {}, ...caps } } } }), image({ Cmd: ['sh'] }), { ...BASE_OPTIONS, ...opts }).linux.seccomp;
    expect(spec({})).toEqual(defaultSeccompProfile('x64', DEFAULT_CAPABILITIES));
    expect(allowed(spec({ capabilities: { add_capabilities: ['SYS_ADMIN'] } }) as OciSeccomp).has('mount')).toBe(true);
    expect(allowed(spec({ capabilities: { drop_capabilities: ['ALL'] } }) as OciSeccomp).has('chroot')).toBe(false);
    expect(spec({}, { runtimeDefaultSeccomp: 'deny-list' })).toEqual(denyListSeccompProfile('x64'));
    expect(denyListSeccompProfile('x64')).toMatchObject({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: [...DEFAULT_SECCOMP_DENIED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }] });
    expect(spec({}, { arch: 'arm64' })).toEqual(defaultSeccompProfile('arm64'));
    expect(
      buildRuntimeSpec(request({ config: { linux: { security_context: { privileged: true, seccomp: {} } } }, sandbox_config: { linux: { security_context: { privileged: true } } } }), image({ Cmd: ['sh'] }), BASE_OPTIONS).linux
        .seccomp,
    ).toBeUndefined();
  });
});
