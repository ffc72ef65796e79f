import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CriValidationError, validateCreateContainerRequest } from '../../../src/index.js';
import { createLinuxHostInspector, normalizeCreateContainerRequest, validateCreateContainer, validateOnHost, validatePodSandboxConfig } from '../../../src/exports/cri.js';
import type { GrpcStatus } from '../../../src/index.js';
import type { HostInspector, NormalizedCreateContainerRequest, ValidateContext } from '../../../src/exports/cri.js';
import { baseRequest, fixture, makeWorld, SB, SB_NOT_READY, SB_PRIVILEGED, SB_USERNS, USERNS_POD } from './world.js';

/** Sets (or deletes, with `undefined`) a dotted path in a JSON-like object, creating objects on the way. */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node: Record<string, unknown> = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (typeof next !== 'object' || next === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  const last = parts[parts.length - 1] as string;
  if (value === undefined) delete node[last];
  else node[last] = value;
}

interface ExpectedIssue {
  path: string;
  code: string;
  message?: string | RegExp;
  grpc?: GrpcStatus;
}

interface Case {
  name: string;
  /** The item of cri-and-oci.md §7 the case covers. */
  item?: number;
  input?: () => unknown;
  set?: Record<string, unknown>;
  ctx?: Partial<ValidateContext>;
  ok?: (r: NormalizedCreateContainerRequest) => void;
  issues?: ExpectedIssue[];
  /** Expected gRPC status of the thrown error. */
  status?: GrpcStatus;
  /** Prepares the stores. */
  setup?: (world: ReturnType<typeof makeWorld>) => Promise<void>;
}

function build(c: Case): unknown {
  if (c.input) return c.input();
  const req = baseRequest() as unknown as Record<string, unknown>;
  for (const [path, value] of Object.entries(c.set ?? {})) setPath(req, path, value);
  return req;
}

function crictl(container: string, pod: string, podSandboxId = SB): () => unknown {
  return () => ({ pod_sandbox_id: podSandboxId, config: fixture(container), sandbox_config: fixture(pod) });
}

/** A host double: the paths it knows, everything else missing. */
function fakeHost(facts: { propagation?: 'shared' | 'slave' | 'private'; apparmor?: string[] | undefined }): HostInspector {
  return {
    pathKind: async (path) => (path.startsWith('/dev/') ? 'char-device' : 'other'),
    mountPropagation: async () => ({ propagation: facts.propagation ?? 'private', mountPoint: '/' }),
    apparmorProfileLoaded: async (name) => (facts.apparmor === undefined ? undefined : facts.apparmor.includes(name)),
  };
}

const SC = 'config.linux.securityContext';
const NS = `${SC}.namespaceOptions`;
const RES = 'config.linux.resources';
const mount = (m: Record<string, unknown>) => ({ 'config.mounts': [{ containerPath: '/data', hostPath: '/srv/data', ...m }] });

const tmp = mkdtempSync(join(tmpdir(), 'lxcri-cri-'));
const regularFile = join(tmp, 'not-a-device');
writeFileSync(regularFile, 'x');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const cases: Case[] = [
  // ---- valid requests, including crictl's own files
  {
    name: 'crictl container-config.json + pod-config.json (snake_case)',
    input: crictl('container-config.json', 'pod-config.json'),
    ok: (r) => {
      expect(r.podSandboxId).toBe(SB);
      expect(r.config.metadata).toEqual({ name: 'busybox', attempt: 0 });
      expect(r.config.logPath).toBe('busybox.0.log');
      expect(r.config.linux.securityContext.namespaceOptions).toEqual({ network: 'POD', pid: 'POD', ipc: 'POD', targetId: '' });
      expect(r.config.linux.resources).toBeUndefined();
      expect(r.sandboxConfig.logDirectory).toBe('/tmp');
    },
  },
  {
    name: 'crictl full container config in a privileged host-network sandbox',
    input: crictl('container-config-full.json', 'pod-config-hostnet.json', SB_PRIVILEGED),
    ok: (r) => {
      const c = r.config;
      expect(c.mounts[0]).toMatchObject({ containerPath: '/data', propagation: 'PROPAGATION_HOST_TO_CONTAINER', readonly: true, selinuxRelabel: true });
      expect(c.mounts[1]?.propagation).toBe('PROPAGATION_PRIVATE');
      expect(c.linux.securityContext.runAsUser).toEqual({ value: 1000 });
      expect(c.linux.securityContext.seccomp).toEqual({ profileType: 'RuntimeDefault', localhostRef: '' });
      expect(c.linux.securityContext.apparmor).toEqual({ profileType: 'Unconfined', localhostRef: '' });
      expect(c.linux.resources?.hugepageLimits).toEqual([{ pageSize: '2MB', limit: 0 }]);
      expect(c.stopSignal).toBe('SIGTERM');
      expect(c.envs).toEqual([{ key: 'GREETING', value: 'hello world' }, { key: 'EMPTY', value: '' }]);
      expect(r.sandboxConfig.linux.securityContext.namespaceOptions.network).toBe('NODE');
      expect(r.sandboxConfig.portMappings[1]).toEqual({ protocol: 'UDP', containerPort: 53, hostPort: 0, hostIp: '' });
    },
  },
  {
    name: 'proto3 JSON request: enum names, int64 strings, SIGNAL_ prefixed stop signal',
    input: () => fixture('create-container-request.json'),
    setup: async (world) => {
      // A sandbox with the id and config of the file.
      const request = normalizeCreateContainerRequest(fixture('create-container-request.json'));
      const sandbox = await world.sandboxes.get(SB);
      if (!sandbox) throw new Error('world has no sandbox');
      await world.sandboxes.create({ ...sandbox, id: request.podSandboxId, metadata: request.sandboxConfig.metadata, config: request.sandboxConfig });
    },
    ok: (r) => {
      expect(r.config.linux.resources).toMatchObject({ cpuShares: 1024, memoryLimitInBytes: 134217728, oomScoreAdj: -997, cpuPeriod: 0 });
      expect(r.config.linux.securityContext.runAsUser).toEqual({ value: 65534 });
      expect(r.config.stopSignal).toBe('SIGQUIT');
      expect(r.config.linux.securityContext.namespaceOptions.pid).toBe('CONTAINER');
    },
  },
  {
    name: 'null fields mean absent',
    set: { 'config.linux': null, 'config.args': null, 'config.labels': null, 'sandboxConfig.linux': null },
    ok: (r) => {
      expect(r.config.args).toEqual([]);
      expect(r.config.labels).toEqual({});
      expect(r.config.linux.securityContext.privileged).toBe(false);
    },
  },
  { name: 'same name with another attempt', set: { 'config.metadata': { name: 'taken', attempt: 1 } }, ok: (r) => expect(r.config.metadata.attempt).toBe(1) },
  { name: 'same name in another sandbox', set: { 'config.metadata': { name: 'other' } }, ok: (r) => expect(r.config.metadata.name).toBe('other') },
  {
    name: 'privileged container in a privileged sandbox',
    input: () => ({ pod_sandbox_id: SB_PRIVILEGED, sandbox_config: fixture('pod-config-hostnet.json'), config: { ...fixture('container-config.json'), linux: { security_context: { privileged: true } } } }),
    ok: (r) => expect(r.config.linux.securityContext.privileged).toBe(true),
  },
  { name: 'run_as_username alone', set: { [`${SC}.runAsUsername`]: 'nobody' }, ok: (r) => expect(r.config.linux.securityContext.runAsUsername).toBe('nobody') },
  { name: 'run_as_group with run_as_username', set: { [`${SC}.runAsUsername`]: 'nobody', [`${SC}.runAsGroup`]: { value: 65534 } }, ok: (r) => expect(r.config.linux.securityContext.runAsGroup).toEqual({ value: 65534 }) },
  { name: 'run_as_group with run_as_user (critest RunAsGroup)', set: { [`${SC}.runAsUser`]: { value: 1001 }, [`${SC}.runAsGroup`]: { value: '1002' } }, ok: (r) => expect(r.config.linux.securityContext.runAsGroup?.value).toBe(1002) },
  { name: 'pid TARGET naming a running container of the sandbox', item: 11, set: { [NS]: { pid: 'TARGET', targetId: 'c-running' } }, ok: (r) => expect(r.config.linux.securityContext.namespaceOptions.targetId).toBe('c-running') },
  {
    name: 'recursive read-only mount when the handler supports it',
    item: 8,
    set: mount({ readonly: true, recursiveReadOnly: true }),
    ctx: { features: { recursiveReadOnlyMounts: true } },
    ok: (r) => expect(r.config.mounts[0]?.recursiveReadOnly).toBe(true),
  },
  { name: 'image volume mount', item: 10, set: { 'config.mounts': [{ containerPath: '/models', image: { image: 'example.com/models:v1' }, readonly: true, imageSubPath: 'data/v1' }] }, ok: (r) => expect(r.config.mounts[0]?.image?.image).toBe('example.com/models:v1') },
  {
    name: 'user namespace POD equal to the sandbox one',
    item: 12,
    set: { podSandboxId: SB_USERNS, sandboxConfig: { metadata: { name: 'userns-pod', namespace: 'default', uid: 'u-1' } }, [NS]: { usernsOptions: USERNS_POD } },
    ok: (r) => expect(r.config.linux.securityContext.namespaceOptions.usernsOptions?.uids).toEqual([{ hostId: 100000, containerId: 0, length: 65536 }]),
  },
  {
    name: 'env value as bytes (Uint8Array, cri-api ≥ v0.36.2)',
    set: { 'config.envs': [{ key: 'BIN', value: new TextEncoder().encode('caf\u00e9') }] },
    ok: (r) => expect(r.config.envs).toEqual([{ key: 'BIN', value: 'caf\u00e9' }]),
  },
  {
    name: 'env value as base64 with envValueEncoding "base64"',
    set: { 'config.envs': [{ key: 'B64', value: Buffer.from('a=b\nc').toString('base64') }] },
    ctx: { normalize: { envValueEncoding: 'base64' } },
    ok: (r) => expect(r.config.envs[0]?.value).toBe('a=b\nc'),
  },
  { name: 'seccomp Localhost with an absolute path', set: { [`${SC}.seccomp`]: { profileType: 'Localhost', localhostRef: '/var/lib/kubelet/seccomp/profile.json' } }, ok: (r) => expect(r.config.linux.securityContext.seccomp?.profileType).toBe('Localhost') },
  { name: 'deprecated seccomp_profile_path forms', set: { [`${SC}.seccompProfilePath`]: 'localhost//etc/seccomp.json', [`${SC}.apparmorProfile`]: 'runtime/default' }, ok: (r) => expect(r.config.linux.securityContext.seccompProfilePath).toBe('localhost//etc/seccomp.json') },
  { name: 'stop signal by number (36 = SIGRTMINPLUS1)', set: { 'config.stopSignal': 36 }, ok: (r) => expect(r.config.stopSignal).toBe('SIGRTMINPLUS1') },
  { name: 'capabilities in lower case with CAP_ prefix, and ALL', set: { [`${SC}.capabilities`]: { addCapabilities: ['cap_sys_admin'], dropCapabilities: ['ALL'] } }, ok: (r) => expect(r.config.linux.securityContext.capabilities.dropCapabilities).toEqual(['ALL']) },
  {
    name: 'device that is a real character device (/dev/null) with the Linux host inspector',
    item: 17,
    set: { 'config.devices': [{ containerPath: '/dev/xnull', hostPath: '/dev/null', permissions: 'rw' }] },
    ctx: { host: createLinuxHostInspector() },
    ok: (r) => expect(r.config.devices[0]?.hostPath).toBe('/dev/null'),
  },
  { name: 'BIDIRECTIONAL on a shared host mount', item: 9, set: mount({ propagation: 'PROPAGATION_BIDIRECTIONAL' }), ctx: { host: fakeHost({ propagation: 'shared' }) }, ok: (r) => expect(r.config.mounts[0]?.propagation).toBe('PROPAGATION_BIDIRECTIONAL') },
  { name: 'AppArmor Localhost profile that is loaded', item: 13, set: { [`${SC}.apparmor`]: { profileType: 2, localhostRef: 'k8s-nginx' } }, ctx: { host: fakeHost({ apparmor: ['k8s-nginx'] }) }, ok: (r) => expect(r.config.linux.securityContext.apparmor?.localhostRef).toBe('k8s-nginx') },

  // ---- §7 items (expect errors)
  { name: 'config.metadata missing', item: 1, set: { 'config.metadata': undefined }, issues: [{ path: 'config.metadata', code: 'required', message: 'container config must include metadata' }] },
  { name: 'sandbox_config.metadata missing', item: 1, set: { 'sandboxConfig.metadata': undefined }, issues: [{ path: 'sandboxConfig.metadata', code: 'required', message: 'pod sandbox config must include metadata' }] },
  { name: 'container name empty (CRI-O rule chosen)', item: 1, set: { 'config.metadata': { name: '' } }, issues: [{ path: 'config.metadata.name', code: 'required', message: 'name is empty' }] },
  { name: 'container name with an underscore', set: { 'config.metadata': { name: 'web_1' } }, issues: [{ path: 'config.metadata.name', code: 'invalid_name' }] },
  { name: 'container name with a slash', set: { 'config.metadata': { name: 'a/b' } }, issues: [{ path: 'config.metadata.name', code: 'invalid_name' }] },
  {
    name: 'long critest-style container name with upper case',
    set: { 'config.metadata': { name: 'Container-for-volume-with-symlink-test-6f1c2a4e-9b7d-4e52-8a31-0c5d2e7f9a10' } },
    ok: (r) => expect(r.config.metadata.name).toHaveLength(75),
  },
  { name: 'unknown sandbox id', item: 2, set: { podSandboxId: 'nope' }, status: 'NotFound', issues: [{ path: 'podSandboxId', code: 'sandbox_not_found', grpc: 'NotFound', message: 'failed to find sandbox id "nope": not found' }] },
  { name: 'sandbox not ready', item: 2, set: { podSandboxId: SB_NOT_READY }, status: 'FailedPrecondition', issues: [{ path: 'podSandboxId', code: 'sandbox_not_ready', grpc: 'FailedPrecondition', message: 'sandbox container "sb-notready" is not running' }] },
  { name: 'pod_sandbox_id that cannot be an id', item: 2, set: { podSandboxId: '../../etc' }, status: 'NotFound', issues: [{ path: 'podSandboxId', code: 'sandbox_not_found', message: /not a valid sandbox id/ }] },
  { name: 'empty pod_sandbox_id', item: 2, set: { podSandboxId: '' }, issues: [{ path: 'podSandboxId', code: 'required' }] },
  {
    name: 'duplicate (name, attempt) in the sandbox (containerd rule chosen)',
    item: 3,
    set: { 'config.metadata': { name: 'taken', attempt: 0 } },
    status: 'AlreadyExists',
    issues: [{ path: 'config.metadata.name', code: 'name_reserved', grpc: 'AlreadyExists', message: /name "taken_nginx-sandbox_default_hdishd83djaidwnduwk28bcsb_0" is reserved for "c-running"/ }],
  },
  { name: 'privileged container in a non-privileged sandbox', item: 4, set: { [`${SC}.privileged`]: true }, issues: [{ path: `${SC}.privileged`, code: 'privileged_not_allowed', message: 'no privileged container allowed in sandbox' }] },
  { name: 'run_as_group without a user', item: 5, set: { [`${SC}.runAsGroup`]: { value: 1000 } }, issues: [{ path: `${SC}.runAsGroup`, code: 'group_without_user', message: 'user group "1000" is specified without user' }] },
  { name: 'run_as_user together with run_as_username', set: { [`${SC}.runAsUser`]: { value: 1 }, [`${SC}.runAsUsername`]: 'daemon' }, issues: [{ path: `${SC}.runAsUsername`, code: 'conflict' }] },
  { name: 'numeric-looking run_as_username (CVE-2026-46680 class)', item: 6, set: { [`${SC}.runAsUsername`]: '4294967296' }, issues: [{ path: `${SC}.runAsUsername`, code: 'invalid_username' }] },
  { name: 'run_as_username with a colon', item: 6, set: { [`${SC}.runAsUsername`]: 'root:0' }, issues: [{ path: `${SC}.runAsUsername`, code: 'invalid_username' }] },
  { name: 'uid above 2147483647', item: 7, set: { [`${SC}.runAsUser`]: { value: 2147483648 } }, issues: [{ path: `${SC}.runAsUser.value`, code: 'out_of_range', message: 'run_as_user 2147483648 is out of range (0 to 2147483647)' }] },
  { name: 'negative gid', item: 7, set: { [`${SC}.runAsUser`]: { value: 0 }, [`${SC}.runAsGroup`]: { value: -1 } }, issues: [{ path: `${SC}.runAsGroup.value`, code: 'out_of_range' }] },
  { name: 'supplemental group above 2147483647', item: 7, set: { [`${SC}.supplementalGroups`]: [1, '3000000000'] }, issues: [{ path: `${SC}.supplementalGroups[1]`, code: 'out_of_range' }] },
  { name: 'uid beyond the safe integers as a decimal string', item: 7, set: { [`${SC}.runAsUser`]: { value: '99999999999999999999' } }, issues: [{ path: `${SC}.runAsUser.value`, code: 'out_of_range' }] },
  { name: 'sandbox run_as_group without run_as_user', item: 5, set: { 'sandboxConfig.linux': { securityContext: { runAsGroup: { value: 5 } } } }, issues: [{ path: 'sandboxConfig.linux.securityContext.runAsGroup', code: 'group_without_user' }] },
  { name: 'rro with readonly false', item: 8, set: mount({ recursiveReadOnly: true }), ctx: { features: { recursiveReadOnlyMounts: true } }, issues: [{ path: 'config.mounts[0].recursiveReadOnly', code: 'invalid_rro', message: 'recursive read-only mount conflicts with RW mount' }] },
  { name: 'rro with HOST_TO_CONTAINER (critest)', item: 8, set: mount({ readonly: true, recursiveReadOnly: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }), ctx: { features: { recursiveReadOnlyMounts: true } }, issues: [{ path: 'config.mounts[0].propagation', code: 'invalid_rro', message: 'recursive read-only mount needs private propagation, got "PROPAGATION_HOST_TO_CONTAINER"' }] },
  { name: 'rro with BIDIRECTIONAL (critest)', item: 8, set: mount({ readonly: true, recursiveReadOnly: true, propagation: 2 }), ctx: { features: { recursiveReadOnlyMounts: true } }, issues: [{ path: 'config.mounts[0].propagation', code: 'invalid_rro' }] },
  { name: 'rro when the handler lacks it (default)', item: 8, set: mount({ readonly: true, recursiveReadOnly: true }), status: 'Unimplemented', issues: [{ path: 'config.mounts[0].recursiveReadOnly', code: 'unsupported', grpc: 'Unimplemented' }] },
  { name: 'BIDIRECTIONAL on a private host mount', status: 'FailedPrecondition', item: 9, set: mount({ propagation: 'PROPAGATION_BIDIRECTIONAL' }), ctx: { host: fakeHost({ propagation: 'slave' }) }, issues: [{ path: 'config.mounts[0].propagation', code: 'invalid_propagation', message: 'path "/srv/data" is mounted on "/" but it is not a shared mount' }] },
  { name: 'HOST_TO_CONTAINER on a private host mount', status: 'FailedPrecondition', item: 9, set: mount({ propagation: 'PROPAGATION_HOST_TO_CONTAINER' }), ctx: { host: fakeHost({ propagation: 'private' }) }, issues: [{ path: 'config.mounts[0].propagation', code: 'invalid_propagation', message: /not a shared or slave mount/ }] },
  { name: 'image mount with host_path', item: 10, set: { 'config.mounts': [{ containerPath: '/m', hostPath: '/x', image: { image: 'img' }, readonly: true }] }, issues: [{ path: 'config.mounts[0].hostPath', code: 'invalid_image_mount', message: 'hostpath must be empty while mount image' }] },
  { name: 'image mount not read-only', item: 10, set: { 'config.mounts': [{ containerPath: '/m', image: { image: 'img' } }] }, issues: [{ path: 'config.mounts[0].readonly', code: 'invalid_image_mount', message: 'readonly must be true while mount image' }] },
  { name: 'image mount sub path escaping the image', item: 10, set: { 'config.mounts': [{ containerPath: '/m', image: { image: 'img' }, readonly: true, imageSubPath: '../etc' }] }, issues: [{ path: 'config.mounts[0].imageSubPath', code: 'invalid_path' }] },
  { name: 'image_sub_path without an image', item: 10, set: mount({ imageSubPath: 'x' }), issues: [{ path: 'config.mounts[0].imageSubPath', code: 'invalid_image_mount' }] },
  { name: 'relative container_path', set: mount({ containerPath: 'data' }), issues: [{ path: 'config.mounts[0].containerPath', code: 'invalid_path' }] },
  { name: 'empty container_path', set: mount({ containerPath: '' }), issues: [{ path: 'config.mounts[0].containerPath', code: 'required', message: 'mount.ContainerPath is empty' }] },
  { name: 'empty host_path', set: mount({ hostPath: '' }), issues: [{ path: 'config.mounts[0].hostPath', code: 'required', message: 'mount.HostPath is empty' }] },
  { name: 'duplicate mount points', set: { 'config.mounts': [{ containerPath: '/d', hostPath: '/a' }, { containerPath: '/d/', hostPath: '/b' }] }, issues: [{ path: 'config.mounts[1].containerPath', code: 'duplicate_mount' }] },
  { name: 'uidMappings without gidMappings', item: 12, set: mount({ uidMappings: [{ hostId: 1000, containerId: 0, length: 1 }] }), issues: [{ path: 'config.mounts[0].gidMappings', code: 'invalid_mapping' }] },
  { name: 'mount mapping of length 0', item: 12, set: mount({ uidMappings: [{ hostId: 1000, containerId: 0, length: 0 }], gidMappings: [{ hostId: 1000, containerId: 0, length: 1 }] }), issues: [{ path: 'config.mounts[0].uidMappings[0].length', code: 'invalid_mapping' }] },
  { name: 'pid TARGET without target_id', item: 11, set: { [NS]: { pid: 'TARGET' } }, issues: [{ path: `${NS}.targetId`, code: 'required' }] },
  { name: 'pid TARGET naming a missing container', item: 11, set: { [NS]: { pid: 3, targetId: 'ghost' } }, status: 'NotFound', issues: [{ path: `${NS}.targetId`, code: 'target_not_found', grpc: 'NotFound', message: 'invalid target container: container "ghost" does not exist' }] },
  { name: 'pid TARGET naming a container of another sandbox', item: 11, set: { [NS]: { pid: 'TARGET', targetId: 'c-other' } }, issues: [{ path: `${NS}.targetId`, code: 'invalid_target', message: /does not belong to sandbox "sb1"/ }] },
  { name: 'pid TARGET naming a container that is not running', status: 'FailedPrecondition', item: 11, set: { [NS]: { pid: 'TARGET', targetId: 'c-created' } }, issues: [{ path: `${NS}.targetId`, code: 'target_not_running', grpc: 'FailedPrecondition', message: 'invalid target container: container "c-created" is not running - in state CONTAINER_CREATED' }] },
  { name: 'target_id without pid TARGET', item: 11, set: { [NS]: { pid: 'CONTAINER', targetId: 'c-running' } }, issues: [{ path: `${NS}.targetId`, code: 'invalid_namespace' }] },
  { name: 'network namespace TARGET', set: { [NS]: { network: 'TARGET' } }, issues: [{ path: `${NS}.network`, code: 'unsupported_namespace_mode' }] },
  {
    name: 'userns with two mapping lines',
    item: 12,
    set: { [NS]: { usernsOptions: { mode: 'POD', uids: [{ hostId: 1, containerId: 0, length: 1 }, { hostId: 5, containerId: 1, length: 1 }], gids: [{ hostId: 1, containerId: 0, length: 1 }] } } },
    issues: [{ path: `${NS}.usernsOptions.uids`, code: 'invalid_userns', message: 'only one mapping line supported, got 2 mapping lines' }],
  },
  { name: 'userns mapping of length 0', item: 12, set: { [NS]: { usernsOptions: { mode: 'POD', uids: [{ hostId: 1, containerId: 0 }], gids: [{ hostId: 1, containerId: 0, length: 1 }] } } }, issues: [{ path: `${NS}.usernsOptions.uids[0].length`, code: 'invalid_mapping' }] },
  { name: 'userns NODE with mappings', item: 12, set: { [NS]: { usernsOptions: { mode: 'NODE', uids: [{ hostId: 1, containerId: 0, length: 1 }] } } }, issues: [{ path: `${NS}.usernsOptions`, code: 'invalid_userns', message: /can't use user namespace mode "NODE" with mappings/ }] },
  { name: 'userns POD without gids', item: 12, set: { [NS]: { usernsOptions: { mode: 'POD', uids: [{ hostId: 1, containerId: 0, length: 1 }] } } }, issues: [{ path: `${NS}.usernsOptions`, code: 'invalid_userns', message: `can't use user namespace mode "POD" without UID and GID mappings` }] },
  { name: 'userns CONTAINER mode', item: 12, set: { [NS]: { usernsOptions: { mode: 'CONTAINER' } } }, issues: [{ path: `${NS}.usernsOptions.mode`, code: 'invalid_userns', message: /unsupported user namespace mode/ }] },
  { name: 'container userns differs from the sandbox', item: 12, set: { [NS]: { usernsOptions: USERNS_POD } }, issues: [{ path: `${NS}.usernsOptions`, code: 'userns_mismatch', message: /user namespace config for sandbox is different from container/ }] },
  { name: 'seccomp localhost_ref with RuntimeDefault', item: 13, set: { [`${SC}.seccomp`]: { localhostRef: '/x.json' } }, issues: [{ path: `${SC}.seccomp.localhostRef`, code: 'invalid_profile', message: 'seccomp config invalid LocalhostRef must only be set if ProfileType is Localhost' }] },
  { name: 'apparmor localhost_ref with Unconfined', item: 13, set: { [`${SC}.apparmor`]: { profileType: 'Unconfined', localhostRef: 'p' } }, issues: [{ path: `${SC}.apparmor.localhostRef`, code: 'invalid_profile', message: /^apparmor config invalid LocalhostRef/ }] },
  { name: 'deprecated seccomp path without localhost/ prefix', item: 13, set: { [`${SC}.seccompProfilePath`]: '/etc/profile.json' }, issues: [{ path: `${SC}.seccompProfilePath`, code: 'invalid_profile', message: 'invalid profile "/etc/profile.json"' }] },
  { name: 'deprecated apparmor profile that is not a known form', item: 13, set: { [`${SC}.apparmorProfile`]: 'bogus' }, issues: [{ path: `${SC}.apparmorProfile`, code: 'invalid_profile' }] },
  { name: 'AppArmor Localhost profile not loaded', status: 'FailedPrecondition', item: 13, set: { [`${SC}.apparmor`]: { profileType: 'Localhost', localhostRef: 'missing-profile' } }, ctx: { host: fakeHost({ apparmor: ['other'] }) }, issues: [{ path: `${SC}.apparmor`, code: 'apparmor_profile_not_found', message: 'apparmor profile not found missing-profile' }] },
  { name: 'seccomp Localhost with a relative path', item: 13, set: { [`${SC}.seccomp`]: { profileType: 'Localhost', localhostRef: 'profile.json' } }, issues: [{ path: `${SC}.seccomp.localhostRef`, code: 'invalid_profile' }] },
  { name: 'SELinux level s0,c4,c5', item: 14, set: { [`${SC}.selinuxOptions`]: { level: 's0,c4,c5' } }, issues: [{ path: `${SC}.selinuxOptions.level`, code: 'invalid_selinux_level', message: `the format of 'level' "s0,c4,c5" is not correct` }] },
  { name: 'unknown stop signal number', item: 16, set: { 'config.stopSignal': 99 }, issues: [{ path: 'config.stopSignal', code: 'invalid_enum', message: /^unknown CRI stop signal 99/ }] },
  { name: 'unknown stop signal name with a hint', item: 16, set: { 'config.stopSignal': 'SIGTREM' }, issues: [{ path: 'config.stopSignal', code: 'invalid_enum', message: /did you mean SIGTERM\?/ }] },
  {
    name: 'device that is a regular file (Linux host inspector)',
    item: 17,
    set: { 'config.devices': [{ containerPath: '/dev/x', hostPath: regularFile, permissions: 'rwm' }] },
    ctx: { host: createLinuxHostInspector() },
    issues: [{ path: 'config.devices[0].hostPath', code: 'not_a_device', message: /not a device node/ }],
  },
  { name: 'device host path that does not exist (Linux host inspector)', item: 17, set: { 'config.devices': [{ containerPath: '/dev/x', hostPath: join(tmp, 'absent'), permissions: 'r' }] }, ctx: { host: createLinuxHostInspector() }, issues: [{ path: 'config.devices[0].hostPath', code: 'device_not_found' }] },
  { name: 'device permissions with x', item: 17, set: { 'config.devices': [{ containerPath: '/dev/x', hostPath: '/dev/null', permissions: 'rwx' }] }, issues: [{ path: 'config.devices[0].permissions', code: 'invalid_permissions' }] },
  { name: 'hugepage limits without the hugetlb controller', status: 'FailedPrecondition', item: 18, set: { [RES]: { hugepageLimits: [{ pageSize: '2MB', limit: 1048576 }] } }, ctx: { features: { hugetlbController: false } }, issues: [{ path: `${RES}.hugepageLimits`, code: 'unsupported', grpc: 'FailedPrecondition' }] },
  { name: 'hugepage size 64kB', item: 18, set: { [RES]: { hugepageLimits: [{ pageSize: '64kB', limit: 1 }] } }, issues: [{ path: `${RES}.hugepageLimits[0].pageSize`, code: 'invalid_hugepage_size' }] },

  // ---- resources
  { name: 'cpu shares 1', set: { [RES]: { cpuShares: 1 } }, issues: [{ path: `${RES}.cpuShares`, code: 'out_of_range' }] },
  { name: 'cpu quota 500', set: { [RES]: { cpuQuota: 500 } }, issues: [{ path: `${RES}.cpuQuota`, code: 'out_of_range' }] },
  { name: 'cpu period 100', set: { [RES]: { cpuPeriod: '100' } }, issues: [{ path: `${RES}.cpuPeriod`, code: 'out_of_range' }] },
  { name: 'memory limit below 12 MiB', set: { [RES]: { memoryLimitInBytes: 1048576 } }, issues: [{ path: `${RES}.memoryLimitInBytes`, code: 'out_of_range', message: 'set memory limit 1048576 too low; should be at least 12582912 bytes' }] },
  { name: 'swap limit below memory limit', set: { [RES]: { memoryLimitInBytes: 268435456, memorySwapLimitInBytes: 134217728 } }, issues: [{ path: `${RES}.memorySwapLimitInBytes`, code: 'out_of_range' }] },
  { name: 'oom_score_adj 1001', set: { [RES]: { oomScoreAdj: 1001 } }, issues: [{ path: `${RES}.oomScoreAdj`, code: 'out_of_range' }] },
  { name: 'descending cpuset range', set: { [RES]: { cpusetCpus: '3-1' } }, issues: [{ path: `${RES}.cpusetCpus`, code: 'invalid_cpuset' }] },
  { name: 'unified key with a path', set: { [RES]: { unified: { '../memory.max': '1' } } }, issues: [{ path: `${RES}.unified["../memory.max"]`, code: 'invalid_unified' }] },
  { name: 'sandbox overhead with negative memory', set: { 'sandboxConfig.linux': { overhead: { memoryLimitInBytes: -5 } } }, issues: [{ path: 'sandboxConfig.linux.overhead.memoryLimitInBytes', code: 'out_of_range' }] },

  // ---- sysctls, env, labels, paths
  { name: 'sysctl that is not namespaced', set: { 'sandboxConfig.linux': { sysctls: { 'kernel.core_pattern': '|/tmp/x' } } }, issues: [{ path: 'sandboxConfig.linux.sysctls["kernel.core_pattern"]', code: 'invalid_sysctl', message: /not allowed/ }] },
  { name: 'sysctl value injecting another sysctl (CVE-2022-0811)', set: { 'sandboxConfig.linux': { sysctls: { 'kernel.shm_rmid_forced': '1+kernel.core_pattern=|/x' } } }, issues: [{ path: 'sandboxConfig.linux.sysctls["kernel.shm_rmid_forced"]', code: 'invalid_sysctl', message: /must not contain/ }] },
  { name: 'net sysctl with host network', set: { 'sandboxConfig.linux': { securityContext: { namespaceOptions: { network: 'NODE' } }, sysctls: { 'net.ipv4.ip_forward': '1' } } }, issues: [{ path: 'sandboxConfig.linux.sysctls["net.ipv4.ip_forward"]', code: 'invalid_sysctl' }] },
  { name: 'env with an empty key', set: { 'config.envs': [{ key: '', value: 'x' }] }, issues: [{ path: 'config.envs[0].key', code: 'invalid_env', message: 'env key is empty' }] },
  { name: 'HOME with a newline (CVE-2022-4318)', set: { 'config.envs': [{ key: 'HOME', value: '/root\nevil:x:0:0::/:/bin/sh' }] }, issues: [{ path: 'config.envs[0].value', code: 'invalid_env', message: 'invalid HOME environment; newline not allowed' }] },
  { name: 'label key with spaces', set: { 'config.labels': { 'bad key!': 'v' } }, issues: [{ path: 'config.labels["bad key!"]', code: 'invalid_label_key' }] },
  { name: 'label larger than 4096 bytes (CRI-O limit)', set: { 'config.labels': { big: 'x'.repeat(4096) } }, issues: [{ path: 'config.labels.big', code: 'too_large', message: 'label key and value greater than maximum size (4096 bytes)' }] },
  { name: 'annotations larger than 256 KiB', set: { 'sandboxConfig.annotations': { 'a.example.com/x': 'x'.repeat(262144) } }, issues: [{ path: 'sandboxConfig.annotations', code: 'too_large' }] },
  { name: 'empty image', set: { 'config.image': { image: '' } }, issues: [{ path: 'config.image.image', code: 'required' }] },
  { name: 'image with a space', set: { 'config.image': { image: 'busy box' } }, issues: [{ path: 'config.image.image', code: 'invalid_image' }] },
  { name: 'relative working_dir', set: { 'config.workingDir': 'srv' }, issues: [{ path: 'config.workingDir', code: 'invalid_path' }] },
  { name: 'log_path escaping the log directory', set: { 'config.logPath': '../../etc/passwd' }, issues: [{ path: 'config.logPath', code: 'invalid_path' }] },
  { name: 'relative masked path', set: { [`${SC}.maskedPaths`]: ['proc/kcore'] }, issues: [{ path: `${SC}.maskedPaths[0]`, code: 'invalid_path' }] },
  { name: 'unknown capability (CRI-O rule chosen)', set: { [`${SC}.capabilities`]: { addCapabilities: ['FLY'] } }, issues: [{ path: `${SC}.capabilities.addCapabilities[0]`, code: 'unknown_capability', message: 'unknown capability "FLY" to add' }] },
  { name: 'CDI devices without CDI support', set: { 'config.CDIDevices': [{ name: 'vendor.com/gpu=gpu0' }] }, status: 'Unimplemented', issues: [{ path: 'config.CDIDevices', code: 'unsupported', grpc: 'Unimplemented' }] },
  { name: 'sandbox metadata differs from the stored sandbox', set: { 'sandboxConfig.metadata': { name: 'impostor', namespace: 'default', attempt: 1, uid: 'hdishd83djaidwnduwk28bcsb' } }, issues: [{ path: 'sandboxConfig.metadata', code: 'sandbox_config_mismatch' }] },
  { name: 'sandbox hostname with upper case and underscore', set: { 'sandboxConfig.hostname': 'My_Host' }, issues: [{ path: 'sandboxConfig.hostname', code: 'invalid_hostname' }] },
  { name: 'DNS server that is not an IP', set: { 'sandboxConfig.dnsConfig': { servers: ['dns.example.com'] } }, issues: [{ path: 'sandboxConfig.dnsConfig.servers[0]', code: 'invalid_ip' }] },
  { name: 'port mapping with container port 0', set: { 'sandboxConfig.portMappings': [{ hostPort: 80 }] }, issues: [{ path: 'sandboxConfig.portMappings[0].containerPort', code: 'out_of_range' }] },

  // ---- syntax
  {
    name: 'crictl file with typos: did-you-mean hints',
    input: () => ({ pod_sandbox_id: SB, config: fixture('container-config-typo.json'), sandbox_config: fixture('pod-config.json') }),
    issues: [
      { path: 'config.comand', code: 'unknown_field', message: 'unknown field "comand"; did you mean "command"?' },
      { path: `${SC}.run_as_usr`, code: 'unknown_field', message: /did you mean "runAsUser"\?/ },
    ],
  },
  { name: 'the same field in both spellings', set: { 'config.logPath': 'a.log', 'config.log_path': 'b.log' }, issues: [{ path: 'config.logPath', code: 'duplicate_field' }] },
  { name: 'enum name without its prefix', set: mount({ propagation: 'PRIVATE' }), issues: [{ path: 'config.mounts[0].propagation', code: 'invalid_enum', message: /did you mean PROPAGATION_PRIVATE\?/ }] },
  { name: 'int64 string that is not decimal', set: { [RES]: { cpuShares: '12x' } }, issues: [{ path: `${RES}.cpuShares`, code: 'invalid_type' }] },
  { name: 'int64 that is not an integer', set: { [RES]: { cpuShares: 1.5 } }, issues: [{ path: `${RES}.cpuShares`, code: 'invalid_type' }] },
  { name: 'negative uint32 attempt', set: { 'config.metadata': { name: 'app', attempt: -1 } }, issues: [{ path: 'config.metadata.attempt', code: 'out_of_range' }] },
  { name: 'string where a list is expected', set: { 'config.command': 'top' }, issues: [{ path: 'config.command', code: 'invalid_type', message: 'expected array, got string' }] },
  { name: 'map key __proto__', input: () => ({ ...baseRequest(), config: { ...baseRequest().config, labels: JSON.parse('{"__proto__": "x"}') as unknown } }), issues: [{ path: 'config.labels.__proto__', code: 'invalid_key' }] },
  { name: 'env bytes that are not UTF-8', set: { 'config.envs': [{ key: 'X', value: new Uint8Array([0xff, 0xfe]) }] }, issues: [{ path: 'config.envs[0].value', code: 'invalid_encoding' }] },
  { name: 'request that is not an object', input: () => 'hello', issues: [{ path: '', code: 'invalid_type' }] },
  { name: 'Windows container config is rejected', set: { 'config.windows': { resources: { cpuCount: 2 } } }, status: 'Unimplemented', issues: [{ path: 'config.windows', code: 'unsupported', grpc: 'Unimplemented' }] },
  { name: 'Windows sandbox config is rejected', status: 'Unimplemented', set: { 'sandboxConfig.windows': { securityContext: { hostProcess: true } } }, issues: [{ path: 'sandboxConfig.windows', code: 'unsupported' }] },
  {
    name: 'all issues are collected, the most specific status wins',
    set: { podSandboxId: 'missing', 'config.metadata': { name: 'Bad Name' }, 'config.envs': [{ key: '', value: '' }], [`${SC}.runAsGroup`]: { value: 3 } },
    status: 'NotFound',
    issues: [
      { path: 'podSandboxId', code: 'sandbox_not_found' },
      { path: 'config.metadata.name', code: 'invalid_name' },
      { path: 'config.envs[0].key', code: 'invalid_env' },
      { path: `${SC}.runAsGroup`, code: 'group_without_user' },
    ],
  },
];

describe('validateCreateContainerRequest (table)', () => {
  it('has at least 60 cases and covers §7 items 1-18 except the image-dependent ones', () => {
    expect(cases.length).toBeGreaterThanOrEqual(60);
    const items = new Set(cases.map((c) => c.item).filter((i) => i !== undefined));
    // 15 (no command with an empty image Entrypoint/Cmd) needs the image config: buildRuntimeSpec checks it.
    for (const item of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16, 17, 18]) expect(items, `§7 item ${item}`).toContain(item);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const world = makeWorld();
    await c.setup?.(world);
    const ctx: ValidateContext = { ...world, ...c.ctx, sandboxes: world.sandboxes };
    const input = build(c);
    if (c.ok) {
      const result = await validateCreateContainerRequest(input, ctx);
      c.ok(result);
      // What validation returns is exactly what normalisation returns.
      expect(result).toEqual(normalizeCreateContainerRequest(input, c.ctx?.normalize));
      return;
    }
    const error = await validateCreateContainerRequest(input, ctx).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error, 'expected a CriValidationError').toBeInstanceOf(CriValidationError);
    const issues = (error as CriValidationError).issues;
    for (const want of c.issues ?? []) {
      const found = issues.find((i) => i.path === want.path && i.code === want.code);
      expect(found, `issue ${want.code} at ${want.path}; got ${JSON.stringify(issues)}`).toBeDefined();
      if (want.grpc) expect(found?.grpcStatus).toBe(want.grpc);
      if (typeof want.message === 'string') expect(found?.message).toBe(want.message);
      else if (want.message) expect(found?.message).toMatch(want.message);
    }
    expect((error as CriValidationError).grpcStatus).toBe(c.status ?? 'InvalidArgument');
    expect((error as CriValidationError).code).toBe('ERR_CRI_VALIDATION');
  });
});

describe('duplicate (name, attempt) (§7 #3)', () => {
  it('carries the holder\'s id in meta.containerId, and only the same attempt in the same sandbox collides', async () => {
    const world = makeWorld();
    const request = baseRequest();
    request.config.metadata = { name: 'taken', attempt: 0 };
    const error = (await validateCreateContainerRequest(request, world).catch((e: unknown) => e)) as CriValidationError;
    expect(error).toBeInstanceOf(CriValidationError);
    expect(error.grpcStatus).toBe('AlreadyExists');
    expect(error.issues).toEqual([
      expect.objectContaining({ path: 'config.metadata.name', code: 'name_reserved', grpcStatus: 'AlreadyExists', meta: { containerId: 'c-running' } }),
    ]);
    // attempt 1 of the same name is free
    request.config.metadata = { name: 'taken', attempt: 1 };
    await expect(validateCreateContainerRequest(request, world)).resolves.toMatchObject({ config: { metadata: { name: 'taken', attempt: 1 } } });
  });
});

describe('validatePodSandboxConfig', () => {
  it('accepts crictl pod-config files', () => {
    expect(validatePodSandboxConfig(fixture('pod-config.json')).metadata.name).toBe('nginx-sandbox');
    const hostnet = validatePodSandboxConfig(fixture('pod-config-hostnet.json'));
    expect(hostnet.dnsConfig?.options).toEqual(['ndots:5']);
    expect(hostnet.linux.sysctls).toEqual({ 'kernel.shm_rmid_forced': '1', 'fs.mqueue.msg_max': '100' });
  });

  it('reports sandbox issues relative to the config', () => {
    try {
      validatePodSandboxConfig({ metadata: { name: '' }, linux: { security_context: { namespace_options: { pid: 'TARGET' } } } });
      expect.unreachable();
    } catch (error) {
      const issues = (error as CriValidationError).issues.map((i) => `${i.path}:${i.code}`);
      expect(issues).toEqual(['metadata.name:required', 'linux.securityContext.namespaceOptions.pid:unsupported_namespace_mode']);
    }
  });
});

describe('validation context', () => {
  it('rejects a context without stores, with unknown keys or wrong feature types, naming the field', async () => {
    await expect(validateCreateContainerRequest(baseRequest(), {} as never)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTIONS', message: /sandboxes: sandboxes must be a SandboxStore/ });
    await expect(validateCreateContainerRequest(baseRequest(), { ...makeWorld(), sandboxRecord: 1 } as never)).rejects.toMatchObject({ message: /sandboxRecord: unknown option "sandboxRecord"/ });
    await expect(validateCreateContainerRequest(baseRequest(), { ...makeWorld(), sandbox: 1 } as never)).rejects.toMatchObject({ message: /sandbox: sandbox must be a SandboxRecord/ });
    await expect(validateCreateContainerRequest(baseRequest(), { ...makeWorld(), features: { rro: true } } as never)).rejects.toMatchObject({ message: /features.rro: unknown feature/ });
    await expect(validateCreateContainerRequest(baseRequest(), { ...makeWorld(), features: { cdi: 'yes' } } as never)).rejects.toMatchObject({ message: /features.cdi: must be a boolean/ });
  });
});

describe('validation with the sandbox record the caller holds', () => {
  it('uses the record instead of a store lookup, and reports a missing pod when there is none', async () => {
    const world = makeWorld();
    const record = await world.sandboxes.get(SB);
    const request = await validateCreateContainerRequest(baseRequest(), { sandbox: record, containers: world.containers });
    expect(request.podSandboxId).toBe(SB);
    await expect(validateCreateContainerRequest(baseRequest(), { sandbox: undefined, containers: world.containers })).rejects.toMatchObject({
      code: 'ERR_CRI_VALIDATION',
      issues: expect.arrayContaining([expect.objectContaining({ path: 'podSandboxId', code: 'sandbox_not_found' })]),
    });
  });
});

describe('validateCreateContainer: the request with the sandbox it was checked against', () => {
  it('returns the sandbox record read once, and the stored pod config in the request (not the request copy)', async () => {
    const world = makeWorld();
    let reads = 0;
    const sandboxes = { get: async (id: string) => (reads++, world.sandboxes.get(id)) } as unknown as ValidateContext['sandboxes'];
    const input = baseRequest();
    (input.sandboxConfig as { hostname?: string }).hostname = 'copy-in-the-request';
    const { request, sandbox } = await validateCreateContainer(input, { sandboxes, containers: world.containers });
    expect(reads).toBe(1);
    expect(sandbox).toEqual(await world.sandboxes.get(SB));
    expect(request.sandboxConfig).toBe(sandbox.config);
    expect(request.config).toEqual((await validateCreateContainerRequest(input, world)).config);
  });

  it('validateOnHost runs only the host checks: a request valid without them is refused by them', async () => {
    const world = makeWorld();
    const input = baseRequest();
    input.config['devices'] = [{ containerPath: '/dev/x', hostPath: '/no/such/device', permissions: 'rw' }];
    const { request } = await validateCreateContainer(input, world);
    const host = createLinuxHostInspector();
    await expect(validateOnHost(request, host)).rejects.toMatchObject({ code: 'ERR_CRI_VALIDATION', issues: [expect.objectContaining({ path: 'config.devices[0].hostPath' })] });
  });
});

describe('validation and the abort signal', () => {
  it('throws AbortedError when the signal has fired', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(validateCreateContainerRequest(baseRequest(), { ...makeWorld(), signal: controller.signal })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});
