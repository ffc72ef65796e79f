/**
 * One test per rule of the table "Where this differs from containerd and CRI-O" in docs/cri.md
 * (D1, D2, ...), and a check that the table and these tests name the same rules.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { CriValidationError } from '../../../src/errors.js';
import type { GrpcStatus } from '../../../src/errors.js';
import { createLinuxHostInspector } from '../../../src/cri/host-inspector.js';
import { validateCreateContainerRequest } from '../../../src/cri/validate.js';
import type { ValidateContext } from '../../../src/cri/validate.js';
import { baseRequest, makeWorld, SB_PRIVILEGED, fixture } from './world.js';

const DOCS = fileURLToPath(new URL('../../../docs/cri.md', import.meta.url));
const SC = 'config.linux.securityContext';
const NS = `${SC}.namespaceOptions`;
const POD = 'sandboxConfig';
const tmp = mkdtempSync(join(tmpdir(), 'lxcri-cri-diff-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const noAppArmor = createLinuxHostInspector({ apparmorProfilesPath: join(tmp, 'none') });

function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1] as string] = value;
}

interface Refusal {
  path: string;
  code: string;
  status?: GrpcStatus;
  message?: RegExp;
}

interface Rule {
  /** Requests refused by the rule: the fields to set on the base request, and the issue expected. */
  refused: { set?: Record<string, unknown>; input?: () => unknown; ctx?: Partial<ValidateContext>; issue: Refusal }[];
  /** Requests the rule lets through (the other side of the line), if any. */
  accepted?: { set?: Record<string, unknown>; ctx?: Partial<ValidateContext> }[];
}

const sysctls = (s: Record<string, string>, more: Record<string, unknown> = {}) => ({ [`${POD}.linux`]: { sysctls: s, ...more } });

const RULES: Record<string, Rule> = {
  D1: { refused: [{ set: { 'config.metadata': { name: '' } }, issue: { path: 'config.metadata.name', code: 'required', message: /^name is empty$/ } }] },
  D2: {
    refused: ['-app', 'app-', '.app', 'app.', 'web_1', 'a/b', 'a b'].map((name) => ({ set: { 'config.metadata': { name } }, issue: { path: 'config.metadata.name', code: 'invalid_name' } })),
    accepted: [{ set: { 'config.metadata': { name: 'Web-1.v2' } } }],
  },
  D3: { refused: [{ set: { 'config.metadata': { name: 'taken', attempt: 0 } }, issue: { path: 'config.metadata.name', code: 'name_reserved', status: 'AlreadyExists' } }] },
  D4: { refused: [{ set: { [`${SC}.runAsUser`]: { value: 1 }, [`${SC}.runAsUsername`]: 'daemon' }, issue: { path: `${SC}.runAsUsername`, code: 'conflict' } }] },
  D5: {
    refused: ['4294967296', 'root:0', 'a/b'].map((u) => ({ set: { [`${SC}.runAsUsername`]: u }, issue: { path: `${SC}.runAsUsername`, code: 'invalid_username' } })),
  },
  D6: {
    refused: [{ set: { [`${SC}.capabilities`]: { addCapabilities: ['NET_FLY'] } }, issue: { path: `${SC}.capabilities.addCapabilities[0]`, code: 'unknown_capability', message: /^unknown capability "NET_FLY" to add$/ } }],
    accepted: [{ set: { [`${SC}.capabilities`]: { addCapabilities: ['cap_net_admin', 'SYS_TIME'], dropCapabilities: ['ALL'] } } }, { set: { [`${SC}.capabilities`]: { addCapabilities: ['all'] } } }],
  },
  D7: {
    refused: [
      { set: { [`${SC}.capabilities`]: { addCapabilities: ['CAP_ALL'] } }, issue: { path: `${SC}.capabilities.addCapabilities[0]`, code: 'unknown_capability', message: /ALL is a keyword, not a capability; write "ALL" to add every capability/ } },
      { set: { [`${SC}.capabilities`]: { dropCapabilities: ['cap_all'] } }, issue: { path: `${SC}.capabilities.dropCapabilities[0]`, code: 'unknown_capability', message: /write "ALL" to drop/ } },
    ],
  },
  D8: {
    refused: [
      { set: { 'config.mounts': [{ containerPath: '/d', hostPath: '/srv', propagation: 3 }] }, issue: { path: 'config.mounts[0].propagation', code: 'invalid_enum', message: /unknown MountPropagation value 3/ } },
      { set: { [NS]: { pid: 7 } }, issue: { path: `${NS}.pid`, code: 'invalid_enum', message: /unknown NamespaceMode value 7/ } },
      { set: { [`${SC}.supplementalGroupsPolicy`]: 9 }, issue: { path: `${SC}.supplementalGroupsPolicy`, code: 'invalid_enum', message: /unknown SupplementalGroupsPolicy value 9/ } },
      { set: { 'config.stopSignal': 99 }, issue: { path: 'config.stopSignal', code: 'invalid_enum' } },
    ],
    accepted: [{ set: { 'config.mounts': [{ containerPath: '/d', hostPath: '/srv', propagation: 2 }], [NS]: { pid: 1 }, [`${SC}.supplementalGroupsPolicy`]: 1 } }],
  },
  D9: {
    refused: [
      { set: { 'config.mounts': [{ containerPath: 'data', hostPath: '/srv' }] }, issue: { path: 'config.mounts[0].containerPath', code: 'invalid_path' } },
      { set: { 'config.mounts': [{ containerPath: '/data', hostPath: 'srv' }] }, issue: { path: 'config.mounts[0].hostPath', code: 'invalid_path' } },
      { set: { 'config.mounts': [{ containerPath: '/d', hostPath: '/a' }, { containerPath: '/d/', hostPath: '/b' }] }, issue: { path: 'config.mounts[1].containerPath', code: 'duplicate_mount' } },
    ],
  },
  D10: {
    refused: [
      { set: { [`${SC}.maskedPaths`]: ['proc/kcore'] }, issue: { path: `${SC}.maskedPaths[0]`, code: 'invalid_path' } },
      { set: { [`${SC}.readonlyPaths`]: ['/proc/../etc'] }, issue: { path: `${SC}.readonlyPaths[0]`, code: 'invalid_path' } },
    ],
    accepted: [{ set: { [`${SC}.maskedPaths`]: ['/proc/kcore'], [`${SC}.readonlyPaths`]: ['/proc/sys'] } }],
  },
  D11: { refused: [{ set: { 'config.workingDir': 'srv' }, issue: { path: 'config.workingDir', code: 'invalid_path' } }] },
  D12: {
    refused: [
      { set: { 'config.logPath': '/var/log/x.log' }, issue: { path: 'config.logPath', code: 'invalid_path' } },
      { set: { 'config.logPath': 'a/../../x.log' }, issue: { path: 'config.logPath', code: 'invalid_path' } },
      { set: { [`${POD}.logDirectory`]: 'var/log/pods' }, issue: { path: `${POD}.logDirectory`, code: 'invalid_path' } },
    ],
    accepted: [{ set: { 'config.logPath': 'app/0.log' } }],
  },
  D13: {
    refused: [
      { set: { 'config.envs': [{ key: 'A\nB', value: 'x' }] }, issue: { path: 'config.envs[0].key', code: 'invalid_env' } },
      { set: { 'config.envs': [{ key: 'A=B', value: 'x' }] }, issue: { path: 'config.envs[0].key', code: 'invalid_env' } },
      { set: { 'config.envs': [{ key: '', value: 'x' }] }, issue: { path: 'config.envs[0].key', code: 'invalid_env' } },
    ],
  },
  D14: { refused: [{ set: { 'config.envs': [{ key: 'HOME', value: '/root\nx:x:0:0::/:/bin/sh' }] }, issue: { path: 'config.envs[0].value', code: 'invalid_env', message: /^invalid HOME environment; newline not allowed$/ } }] },
  D15: { refused: [{ set: { [`${SC}.selinuxOptions`]: { type: 'container_t:s0' } }, issue: { path: `${SC}.selinuxOptions.type`, code: 'invalid_selinux' } }] },
  D16: {
    refused: [
      { set: { 'config.image': { image: 'Busybox' } }, issue: { path: 'config.image.image', code: 'invalid_image', message: /path component 'Busybox' is not valid/ } },
      { set: { 'config.image': { image: 'docker.io/Library/busybox:1.36' } }, issue: { path: 'config.image.image', code: 'invalid_image' } },
      { set: { 'config.image': { image: 'busybox:-1' } }, issue: { path: 'config.image.image', code: 'invalid_image' } },
      { set: { 'config.image': { image: 'busy box' } }, issue: { path: 'config.image.image', code: 'invalid_image' } },
      { set: { 'config.mounts': [{ containerPath: '/m', image: { image: 'example.com/Models:v1' }, readonly: true }] }, issue: { path: 'config.mounts[0].image.image', code: 'invalid_image' } },
    ],
    accepted: [
      { set: { 'config.image': { image: 'Registry.Example.com:5000/team/app:V1.2' } } },
      { set: { 'config.image': { image: `sha256:${'a'.repeat(64)}` } } },
      { set: { 'config.image': { image: 'a'.repeat(64) } } },
      { set: { 'config.image': { image: `quay.io/org/app@sha256:${'b'.repeat(64)}` } } },
    ],
  },
  D17: { refused: [{ set: { [NS]: { pid: 'POD', targetId: 'c-running' } }, issue: { path: `${NS}.targetId`, code: 'invalid_namespace' } }] },
  D18: {
    refused: [
      { set: { [NS]: { network: 'TARGET' } }, issue: { path: `${NS}.network`, code: 'unsupported_namespace_mode' } },
      { set: { [NS]: { ipc: 3 } }, issue: { path: `${NS}.ipc`, code: 'unsupported_namespace_mode' } },
    ],
    accepted: [{ set: { [NS]: { network: 'CONTAINER', ipc: 'CONTAINER' } } }],
  },
  D19: { refused: [{ set: { [`${POD}.metadata.name`]: '' }, issue: { path: `${POD}.metadata.name`, code: 'required', message: /^pod sandbox name is empty$/ } }] },
  D20: {
    refused: ['my_host', 'MyHost', 'h'.repeat(65)].map((hostname) => ({ set: { [`${POD}.hostname`]: hostname }, issue: { path: `${POD}.hostname`, code: 'invalid_hostname' } })),
    accepted: [{ set: { [`${POD}.hostname`]: 'web-0.example' } }],
  },
  D21: {
    refused: [
      { set: { [`${POD}.linux`]: { cgroupParent: 'kubepods/pod1' } }, issue: { path: `${POD}.linux.cgroupParent`, code: 'invalid_path' } },
      { set: { [`${POD}.linux`]: { cgroupParent: '/kubepods/../../x' } }, issue: { path: `${POD}.linux.cgroupParent`, code: 'invalid_path' } },
    ],
    accepted: [{ set: { [`${POD}.linux`]: { cgroupParent: '/kubepods/burstable/pod1' } } }, { set: { [`${POD}.linux`]: { cgroupParent: 'kubepods-burstable.slice' } } }],
  },
  D22: {
    refused: [
      { set: { [`${POD}.dnsConfig`]: { servers: ['dns.example.com'] } }, issue: { path: `${POD}.dnsConfig.servers[0]`, code: 'invalid_ip' } },
      { set: { [`${POD}.dnsConfig`]: { searches: ['a b'] } }, issue: { path: `${POD}.dnsConfig.searches[0]`, code: 'invalid_dns' } },
    ],
    accepted: [{ set: { [`${POD}.dnsConfig`]: { servers: ['10.96.0.10', 'fd00::a'], searches: ['svc.cluster.local'], options: ['ndots:5'] } } }],
  },
  D23: {
    refused: [
      { set: { [`${POD}.portMappings`]: [{ containerPort: 0, hostPort: 80 }] }, issue: { path: `${POD}.portMappings[0].containerPort`, code: 'out_of_range' } },
      { set: { [`${POD}.portMappings`]: [{ containerPort: 80, hostPort: 70000 }] }, issue: { path: `${POD}.portMappings[0].hostPort`, code: 'out_of_range' } },
      { set: { [`${POD}.portMappings`]: [{ containerPort: 80, hostIp: 'localhost' }] }, issue: { path: `${POD}.portMappings[0].hostIp`, code: 'invalid_ip' } },
    ],
  },
  D24: {
    refused: [
      { set: { [`${POD}.linux`]: { securityContext: { namespaceOptions: { pid: 'TARGET' } } } }, issue: { path: `${POD}.linux.securityContext.namespaceOptions.pid`, code: 'unsupported_namespace_mode' } },
      { set: { [`${POD}.linux`]: { securityContext: { namespaceOptions: { network: 'CONTAINER' } } } }, issue: { path: `${POD}.linux.securityContext.namespaceOptions.network`, code: 'unsupported_namespace_mode' } },
    ],
  },
  D25: {
    refused: [
      { set: sysctls({ 'kernel.domainname': 'example.com' }), issue: { path: `${POD}.linux.sysctls["kernel.domainname"]`, code: 'invalid_sysctl', message: /not allowed: only sysctls on CRI-O's and the kubelet's list of namespaced sysctls/ } },
      { set: sysctls({ 'vm.swappiness': '10' }), issue: { path: `${POD}.linux.sysctls["vm.swappiness"]`, code: 'invalid_sysctl' } },
      { set: sysctls({ 'kernel.shmmax': '1' }, { securityContext: { namespaceOptions: { ipc: 'NODE' } } }), issue: { path: `${POD}.linux.sysctls["kernel.shmmax"]`, code: 'invalid_sysctl', message: /host IPC/ } },
    ],
    accepted: [{ set: sysctls({ 'kernel.shm_rmid_forced': '1', 'kernel.sem': '250 32000 100 128', 'fs.mqueue.msg_max': '100', 'net.ipv4.ip_forward': '1' }) }],
  },
  D26: {
    refused: [
      { set: sysctls({ 'kernel.shm_rmid_forced': '1+kernel.core_pattern=|/x' }), issue: { path: `${POD}.linux.sysctls["kernel.shm_rmid_forced"]`, code: 'invalid_sysctl', message: /must not contain/ } },
      { set: sysctls({ 'net/../kernel/core_pattern': '1' }), issue: { path: `${POD}.linux.sysctls["net/../kernel/core_pattern"]`, code: 'invalid_sysctl', message: /sysctl name .* is not valid/ } },
    ],
  },
  D27: {
    refused: [
      { set: sysctls({ 'net.ipv4.no_such_sysctl': '1' }), ctx: { host: noAppArmor }, issue: { path: `${POD}.linux.sysctls["net.ipv4.no_such_sysctl"]`, code: 'sysctl_not_found', status: 'FailedPrecondition' } },
      { set: sysctls({ 'kernel.msgmax': 'abc' }), ctx: { host: noAppArmor }, issue: { path: `${POD}.linux.sysctls["kernel.msgmax"]`, code: 'invalid_sysctl', status: 'InvalidArgument' } },
    ],
    accepted: [{ set: sysctls({ 'kernel.msgmax': '16384' }), ctx: { host: noAppArmor } }, { set: sysctls({ 'net.ipv4.no_such_sysctl': '1' }) }],
  },
  D28: {
    refused: [
      { set: { [`${SC}.apparmor`]: {} }, ctx: { host: noAppArmor }, issue: { path: `${SC}.apparmor`, code: 'unsupported', status: 'FailedPrecondition', message: /^apparmor is not supported/ } },
      { set: { [`${SC}.apparmorProfile`]: 'localhost/k8s-nginx' }, ctx: { host: noAppArmor }, issue: { path: `${SC}.apparmorProfile`, code: 'unsupported', status: 'FailedPrecondition' } },
      {
        input: () => ({ pod_sandbox_id: SB_PRIVILEGED, sandbox_config: fixture('pod-config-hostnet.json'), config: { ...fixture('container-config.json'), linux: { security_context: { privileged: true, apparmor: { profile_type: 'Localhost', localhost_ref: 'x' } } } } }),
        ctx: { host: noAppArmor },
        issue: { path: `${SC}.apparmor`, code: 'unsupported', status: 'FailedPrecondition' },
      },
    ],
    accepted: [{ set: { [`${SC}.apparmor`]: { profileType: 'Unconfined' } }, ctx: { host: noAppArmor } }, { set: { [`${SC}.apparmor`]: {} } }],
  },
  D29: {
    refused: [
      { set: { [`${SC}.seccomp`]: { profileType: 'Localhost', localhostRef: join(tmp, 'missing.json') } }, ctx: { host: noAppArmor }, issue: { path: `${SC}.seccomp.localhostRef`, code: 'profile_not_found', status: 'NotFound', message: /^cannot read seccomp profile .*: ENOENT$/ } },
    ],
    accepted: [{ set: { [`${SC}.seccomp`]: { profileType: 'Localhost', localhostRef: join(tmp, 'missing.json') } } }],
  },
  D30: {
    refused: [
      { set: { 'config.labels': { 'bad key!': 'v' } }, issue: { path: 'config.labels["bad key!"]', code: 'invalid_label_key' } },
      { set: { 'config.annotations': { '-x': 'v' } }, issue: { path: 'config.annotations["-x"]', code: 'invalid_annotation_key' } },
      { set: { 'config.labels': { big: 'x'.repeat(4096) } }, issue: { path: 'config.labels.big', code: 'too_large' } },
      { set: { [`${POD}.annotations`]: { 'a.example.com/x': 'x'.repeat(262144) } }, issue: { path: `${POD}.annotations`, code: 'too_large' } },
    ],
  },
  D31: {
    refused: [
      { set: { 'config.linux.resources': { cpuPeriod: 100 } }, issue: { path: 'config.linux.resources.cpuPeriod', code: 'out_of_range' } },
      { set: { 'config.linux.resources': { memoryLimitInBytes: 1048576 } }, issue: { path: 'config.linux.resources.memoryLimitInBytes', code: 'out_of_range' } },
      { set: { 'config.linux.resources': { cpusetCpus: '3-1' } }, issue: { path: 'config.linux.resources.cpusetCpus', code: 'invalid_cpuset' } },
      { set: { 'config.linux.resources': { unified: { '../memory.max': '1' } } }, issue: { path: 'config.linux.resources.unified["../memory.max"]', code: 'invalid_unified' } },
    ],
  },
  D32: { refused: [{ set: { [`${POD}.metadata`]: { name: 'impostor', namespace: 'default', attempt: 1, uid: 'hdishd83djaidwnduwk28bcsb' } }, issue: { path: `${POD}.metadata`, code: 'sandbox_config_mismatch' } }] },
  D33: {
    refused: [{ set: { 'config.mounts': [{ containerPath: '/d', hostPath: '/srv', readonly: true, recursiveReadOnly: true }] }, issue: { path: 'config.mounts[0].recursiveReadOnly', code: 'unsupported', status: 'Unimplemented' } }],
    accepted: [{ set: { 'config.mounts': [{ containerPath: '/d', hostPath: '/srv', readonly: true, recursiveReadOnly: true }] }, ctx: { features: { recursiveReadOnlyMounts: true } } }],
  },
  D34: {
    refused: [
      { set: { 'config.CDIDevices': [{ name: 'vendor.com/gpu=gpu0' }] }, issue: { path: 'config.CDIDevices', code: 'unsupported', status: 'Unimplemented' } },
      { set: { 'config.windows': { resources: { cpuCount: 2 } } }, issue: { path: 'config.windows', code: 'unsupported', status: 'Unimplemented' } },
    ],
    accepted: [{ set: { 'config.CDIDevices': [{ name: 'vendor.com/gpu=gpu0' }] }, ctx: { features: { cdi: true } } }],
  },
};

function request(c: { set?: Record<string, unknown>; input?: () => unknown }): unknown {
  if (c.input) return c.input();
  const r = baseRequest() as unknown as Record<string, unknown>;
  for (const [path, value] of Object.entries(c.set ?? {})) setPath(r, path, value);
  return r;
}

async function run(c: { set?: Record<string, unknown>; input?: () => unknown; ctx?: Partial<ValidateContext> }): Promise<CriValidationError | undefined> {
  const world = makeWorld();
  const ctx: ValidateContext = { ...world, ...c.ctx, sandboxes: world.sandboxes };
  const input = request(c);
  return validateCreateContainerRequest(input, ctx).then(
    () => undefined,
    (error: unknown) => {
      if (error instanceof CriValidationError) return error;
      throw error;
    },
  );
}

describe('differences from containerd and CRI-O (docs/cri.md)', () => {
  it('the docs table and these tests name the same rules', () => {
    const documented = [...readFileSync(DOCS, 'utf8').matchAll(/^\| (D\d+) \|/gm)].map((m) => m[1]);
    expect(documented).toEqual(Object.keys(RULES));
  });

  for (const [id, rule] of Object.entries(RULES)) {
    it(`${id}: refuses what the rule refuses, with the documented code and status`, async () => {
      for (const c of rule.refused) {
        const error = await run(c);
        expect(error, `${id}: ${JSON.stringify(c.set ?? 'input')} should be refused`).toBeInstanceOf(CriValidationError);
        const issue = error?.issues.find((i) => i.path === c.issue.path && i.code === c.issue.code);
        expect(issue, `${id}: ${c.issue.code} at ${c.issue.path}; got ${JSON.stringify(error?.issues)}`).toBeDefined();
        expect(issue?.grpcStatus).toBe(c.issue.status ?? 'InvalidArgument');
        if (c.issue.message) expect(issue?.message).toMatch(c.issue.message);
      }
      for (const c of rule.accepted ?? []) {
        const error = await run(c);
        expect(error?.issues, `${id}: ${JSON.stringify(c.set)} should pass`).toBeUndefined();
      }
    });
  }
});
