/**
 * Every generated config.json validates against the official runtime-spec JSON schema
 * (read from OCI_RUNTIME_SPEC_SCHEMA_DIR, which .ci/run sets).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import AjvDraft04 from 'ajv-draft-04';
import type { ValidateFunction } from 'ajv';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildRuntimeSpec, defaultSeccompProfile, type BuildRuntimeSpecOptions } from '../../../../src/exports/oci.js';
import { referencePath } from '../../../helpers/requirements.js';
import { BASE_OPTIONS, image, request } from './fixtures.js';

const schemaDir = referencePath('OCI_RUNTIME_SPEC_SCHEMA_DIR');

function loadValidator(dir: string): ValidateFunction {
  // CommonJS module: `.default` is the class both under NodeNext typing and at runtime.
  const ajv = new AjvDraft04.default({ strict: false, allErrors: true });
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    if (file === 'config-schema.json') continue;
    ajv.addSchema(JSON.parse(readFileSync(join(dir, file), 'utf8')) as object, file);
  }
  return ajv.compile(JSON.parse(readFileSync(join(dir, 'config-schema.json'), 'utf8')) as object);
}

const crictlFile = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../../../fixtures/cri/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;

type Case = { name: string; req?: Parameters<typeof request>[0]; img?: ReturnType<typeof image>; opts?: Partial<BuildRuntimeSpecOptions> };
const priv = { linux: { security_context: { privileged: true } } };
const sandbox = { id: 'sb', namespacePaths: { network: '/proc/9/ns/net', ipc: '/proc/9/ns/ipc', uts: '/proc/9/ns/uts', pid: '/proc/9/ns/pid' } };
const userns = { mode: 'POD', uids: [{ host_id: 100000, container_id: 0, length: 65536 }], gids: [{ host_id: 100000, container_id: 0, length: 65536 }] };

const CASES: Case[] = [
  { name: 'minimal with image Cmd' },
  { name: 'command + args', req: { config: { command: ['/bin/sh'], args: ['-c', 'echo hi'] } } },
  { name: 'entrypoint + cmd from the image', img: image({ Entrypoint: ['/docker-entrypoint.sh'], Cmd: ['nginx', '-g', 'daemon off;'] }) },
  { name: 'entrypoint [""]', img: image({ Entrypoint: [''], Cmd: ['sh'] }) },
  { name: 'tty + env', req: { config: { tty: true, stdin: true, envs: [{ key: 'A', value: '1' }, { key: 'B', value: 'x=y' }] } } },
  { name: 'image env and working dir', img: image({ Cmd: ['sh'], Env: ['PATH=/bin', 'LANG=C.UTF-8'], WorkingDir: '/app' }) },
  { name: 'working dir from CRI', req: { config: { working_dir: '/srv' } } },
  { name: 'run as uid', req: { config: { linux: { security_context: { run_as_user: { value: 1000 } } } } } },
  { name: 'run as uid:gid + groups', req: { config: { linux: { security_context: { run_as_user: { value: 1000 }, run_as_group: { value: 3000 }, supplemental_groups: [4000, 5000] } } } } },
  { name: 'run as username', req: { config: { linux: { security_context: { run_as_username: 'alice' } } } } },
  { name: 'Strict groups', req: { config: { linux: { security_context: { run_as_username: 'bob', supplemental_groups: [9], supplemental_groups_policy: 'Strict' } } } } },
  { name: 'image user name:group', img: image({ Cmd: ['sh'], User: 'alice:staff' }) },
  { name: 'add/drop caps', req: { config: { linux: { security_context: { capabilities: { add_capabilities: ['NET_ADMIN', 'SYS_TIME'], drop_capabilities: ['NET_RAW', 'MKNOD'] } } } } } },
  { name: 'add ALL', req: { config: { linux: { security_context: { capabilities: { add_capabilities: ['ALL'] } } } } } },
  { name: 'drop ALL + ambient', req: { config: { linux: { security_context: { capabilities: { drop_capabilities: ['ALL'], add_ambient_capabilities: ['NET_BIND_SERVICE'] } } } } } },
  { name: 'privileged', req: { config: priv, sandbox_config: priv } },
  { name: 'readonly rootfs + no_new_privs', req: { config: { linux: { security_context: { readonly_rootfs: true, no_new_privs: true } } } } },
  {
    name: 'kubelet masked + readonly paths',
    req: {
      config: {
        linux: {
          security_context: {
            masked_paths: ['/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'],
            readonly_paths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
          },
        },
      },
    },
  },
  { name: 'bind mounts ro/rw/rro', req: { config: { mounts: [{ container_path: '/a', host_path: '/tmp' }, { container_path: '/a/b', host_path: '/var', readonly: true }, { container_path: '/c', host_path: '/etc', readonly: true, recursive_read_only: true }] } } },
  { name: 'rslave propagation', req: { config: { mounts: [{ container_path: '/m', host_path: '/mnt', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }] } } },
  { name: 'rshared propagation', req: { config: { mounts: [{ container_path: '/m', host_path: '/mnt', propagation: 'PROPAGATION_BIDIRECTIONAL' }] } } },
  { name: '/dev override', req: { config: { mounts: [{ container_path: '/dev', host_path: '/dev' }] } } },
  {
    name: 'full resources',
    req: {
      config: {
        linux: {
          resources: {
            cpu_period: 100000,
            cpu_quota: 50000,
            cpu_shares: 512,
            cpuset_cpus: '0',
            cpuset_mems: '0',
            memory_limit_in_bytes: 268435456,
            memory_swap_limit_in_bytes: 536870912,
            oom_score_adj: -998,
            hugepage_limits: [{ page_size: '2MB', limit: 0 }, { page_size: '1GB', limit: 1073741824 }],
            unified: { 'memory.high': '200M' },
          },
        },
      },
    },
  },
  { name: 'empty resources', req: { config: { linux: { resources: {} } } } },
  { name: 'seccomp RuntimeDefault', req: { config: { linux: { security_context: { seccomp: {} } } } } },
  { name: 'seccomp RuntimeDefault arm64', req: { config: { linux: { security_context: { seccomp: {} } } } }, opts: { arch: 'arm64' } },
  {
    name: 'seccomp Localhost',
    req: { config: { linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: '/etc/p.json' } } } } },
    opts: { seccompProfiles: { '/etc/p.json': { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 38, architectures: ['SCMP_ARCH_X86_64'], syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 1, op: 'SCMP_CMP_EQ' }] }] } } },
  },
  { name: 'apparmor localhost', req: { config: { linux: { security_context: { apparmor: { profile_type: 'Localhost', localhost_ref: 'k8s-nginx' } } } } } },
  { name: 'selinux labels', req: { config: { linux: { security_context: { selinux_options: { user: 'system_u', role: 'system_r', type: 'container_t', level: 's0:c1,c2' } } } } } },
  { name: 'sandbox namespaces', opts: { sandbox } },
  { name: 'pid CONTAINER', req: { config: { linux: { security_context: { namespace_options: { pid: 'CONTAINER' } } } } }, opts: { sandbox } },
  { name: 'pid TARGET', req: { config: { linux: { security_context: { namespace_options: { pid: 'TARGET', target_id: 't' } } } } }, opts: { sandbox, targetPidNamespacePath: '/proc/77/ns/pid' } },
  { name: 'host network + pid + ipc', req: { config: { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } } } }, sandbox_config: { linux: { security_context: { namespace_options: { network: 'NODE', pid: 'NODE', ipc: 'NODE' } } } } } },
  { name: 'user namespace', req: { config: { linux: { security_context: { namespace_options: { userns_options: userns } } } }, sandbox_config: { linux: { security_context: { namespace_options: { userns_options: userns } } } } } },
  { name: 'cgroup v2 namespace', opts: { cgroupV2: true } },
  { name: 'sysctls', req: { sandbox_config: { linux: { sysctls: { 'net.ipv4.ip_unprivileged_port_start': '0', 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100' } } } } },
  { name: 'cgroupfs parent', req: { sandbox_config: { linux: { cgroup_parent: '/kubepods/besteffort/pod1' } } } },
  { name: 'systemd parent', req: { sandbox_config: { linux: { cgroup_parent: 'kubepods-besteffort-pod1.slice' } } } },
  { name: 'device', req: { config: { devices: [{ container_path: '/dev/net/tun', host_path: '/dev/net/tun', permissions: 'rwm' }] } }, opts: { devices: { '/dev/net/tun': { type: 'c', major: 10, minor: 200, fileMode: 0o666, uid: 0, gid: 0 } } } },
  { name: 'RuntimeDefault allow-list with CAP_SYS_ADMIN, arm64', req: { config: { linux: { security_context: { seccomp: {}, capabilities: { add_capabilities: ['SYS_ADMIN', 'SYS_PTRACE'] } } } } }, opts: { arch: 'arm64' } },
  { name: 'RuntimeDefault deny-list opt-in', req: { config: { linux: { security_context: { seccomp: {} } } } }, opts: { runtimeDefaultSeccomp: 'deny-list' } },
  { name: 'pod files, read-only rootfs', req: { config: { linux: { security_context: { readonly_rootfs: true } } } }, opts: { podFiles: { hostsPath: '/run/p/hosts', hostnamePath: '/run/p/hostname', resolvConfPath: '/run/p/resolv.conf', shmPath: '/run/p/shm' } } },
  { name: 'privileged with host devices', req: { config: priv, sandbox_config: priv }, opts: { hostDevices: [{ path: '/dev/kvm', type: 'c', major: 10, minor: 232, fileMode: 0o660, uid: 0, gid: 108 }, { path: '/dev/loop0', type: 'b', major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }] } },
  { name: 'custom default seccomp + ociVersion', req: { config: { linux: { security_context: { seccomp: {} } } } }, opts: { ociVersion: '1.2.0', defaultSeccompProfile: { ...defaultSeccompProfile('x64'), defaultAction: 'SCMP_ACT_LOG' } } },
  {
    name: "crictl's container-config-full.json in pod-config-hostnet.json",
    req: { config: crictlFile('container-config-full.json'), sandbox_config: crictlFile('pod-config-hostnet.json') },
    opts: { devices: { '/dev/fuse': { type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 } } },
  },
  { name: "crictl's container-config.json in pod-config.json", req: { config: crictlFile('container-config.json'), sandbox_config: crictlFile('pod-config.json') } },
  { name: 'everything together', req: { config: { tty: true, command: ['sh'], working_dir: '/w', envs: [{ key: 'K', value: 'V' }], mounts: [{ container_path: '/data', host_path: '/srv', readonly: true }], linux: { resources: { memory_limit_in_bytes: 1 << 24 }, security_context: { run_as_username: 'alice', readonly_rootfs: true, seccomp: {}, capabilities: { drop_capabilities: ['ALL'] } } } }, sandbox_config: { linux: { cgroup_parent: '/p', sysctls: { 'net.ipv4.ping_group_range': '0 2147483647' } } } }, opts: { sandbox } },
];

describe.skipIf(schemaDir.skip)('generated config.json against the official runtime-spec schema', () => {
  let validate: ValidateFunction;
  beforeAll(() => {
    validate = loadValidator(schemaDir.path as string);
  });

  it('the validator accepts the upstream good fixtures and rejects the bad ones', () => {
    const dir = join(schemaDir.path as string, 'test', 'config');
    const good = readdirSync(join(dir, 'good'));
    const bad = readdirSync(join(dir, 'bad'));
    expect(good.length).toBeGreaterThan(3);
    for (const f of good) expect(validate(JSON.parse(readFileSync(join(dir, 'good', f), 'utf8'))), `good/${f}`).toBe(true);
    for (const f of bad) {
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(join(dir, 'bad', f), 'utf8'));
      } catch {
        continue; // invalid-json.json is not JSON at all
      }
      expect(validate(doc), `bad/${f}`).toBe(false);
    }
  });

  it('the schema really rejects what containerd writes for rootfsPropagation (rslave)', () => {
    const spec = buildRuntimeSpec(request({ config: { mounts: [{ container_path: '/m', host_path: '/mnt', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }] } }), image({ Cmd: ['sh'] }), BASE_OPTIONS);
    expect(validate(spec)).toBe(true);
    expect(validate({ ...spec, linux: { ...spec.linux, rootfsPropagation: 'rslave' } })).toBe(false);
  });

  it(`has at least 30 varied requests (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(30);
    expect(new Set(CASES.map((c) => c.name)).size).toBe(CASES.length);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s validates', (_name, c) => {
    const spec = buildRuntimeSpec(request(c.req ?? {}), c.img ?? image({ Cmd: ['sh'] }), { ...BASE_OPTIONS, ...c.opts });
    const ok = validate(JSON.parse(JSON.stringify(spec)));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    // prose MUSTs the JSON schema does not check
    expect(spec.process.cwd).toMatch(/^\//);
    expect(spec.process.args.length).toBeGreaterThanOrEqual(1);
    expect(Number.isInteger(spec.process.user.uid) && Number.isInteger(spec.process.user.gid)).toBe(true);
    expect(spec.root.path).toBe('rootfs');
  });
});
