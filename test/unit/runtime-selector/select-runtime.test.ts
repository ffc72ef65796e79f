import { resolve } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { normalizeCreateContainerRequest } from '../../../src/cri/normalize.js';
import type { NormalizedCreateContainerRequest } from '../../../src/cri/types.js';
import { InvalidOptionsError, RuntimeSelectionError, selectRuntime, type RuntimePolicy, type RuntimeSelection } from '../../../src/index.js';
import { loadRuntimePolicy, parseRuntimePolicy, type RuntimeProbeResults, type RuntimeSelectionContext, type RuntimeSelectionTraceEntry } from '../../../src/exports/runtime-selector.js';
import { type ResolvedRuntimePolicy } from '../../../src/runtime-selector/policy.js';

interface RequestShape {
  name?: string;
  image?: string;
  userSpecifiedImage?: string;
  handler?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  podName?: string;
  podNamespace?: string;
  podAnnotations?: Record<string, string>;
  podLabels?: Record<string, string>;
  privileged?: boolean;
  namespaces?: { network?: string; pid?: string; ipc?: string; target_id?: string };
  podNamespaces?: { network?: string; pid?: string; ipc?: string };
  devices?: { container_path: string; host_path: string; permissions: string }[];
  cdi?: string[];
  mounts?: { container_path: string; host_path?: string; propagation?: string; image?: { image: string }; readonly?: boolean }[];
}

/** Builds a request the way a caller would: crictl-style snake_case JSON through the real normaliser. */
function request(shape: RequestShape = {}): NormalizedCreateContainerRequest {
  return normalizeCreateContainerRequest({
    pod_sandbox_id: 'a'.repeat(64),
    config: {
      metadata: { name: shape.name ?? 'app' },
      image: {
        image: shape.image ?? 'docker.io/library/busybox:1.36',
        ...(shape.userSpecifiedImage ? { user_specified_image: shape.userSpecifiedImage } : {}),
        ...(shape.handler !== undefined ? { runtime_handler: shape.handler } : {}),
      },
      annotations: shape.annotations ?? {},
      labels: shape.labels ?? {},
      devices: shape.devices ?? [],
      CDI_devices: (shape.cdi ?? []).map((name) => ({ name })),
      mounts: shape.mounts ?? [],
      linux: {
        security_context: {
          privileged: shape.privileged ?? false,
          namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', ...shape.namespaces },
        },
      },
    },
    sandbox_config: {
      metadata: { name: shape.podName ?? 'web-0', namespace: shape.podNamespace ?? 'default', uid: 'uid-1' },
      annotations: shape.podAnnotations ?? {},
      labels: shape.podLabels ?? {},
      linux: { security_context: { privileged: shape.privileged ?? false, namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD', ...shape.podNamespaces } } },
    },
  });
}

const both: RuntimeProbeResults = {
  crun: { available: true, path: 'crun', name: 'crun', version: '1.8.1', detail: 'crun --version answered "crun version 1.8.1"' },
  'proxmox-lxc': { available: true, rootPam: false, authId: 'lxcri@pve!ci', version: '9.1.3', detail: 'GET /version answered: Proxmox VE 9.1.3' },
};
const crunDown: RuntimeProbeResults = { ...both, crun: { available: false, path: '/usr/bin/crun', detail: 'cannot run /usr/bin/crun --version: not found' } };
const pveDown: RuntimeProbeResults = { ...both, 'proxmox-lxc': { available: false, rootPam: false, detail: 'no Proxmox client configured' } };
const bothDown: RuntimeProbeResults = { crun: crunDown.crun as NonNullable<RuntimeProbeResults['crun']>, 'proxmox-lxc': pveDown['proxmox-lxc'] as NonNullable<RuntimeProbeResults['proxmox-lxc']> };

const step = (selection: { trace: readonly RuntimeSelectionTraceEntry[] }, name: string): RuntimeSelectionTraceEntry => {
  const entry = selection.trace.find((e) => e.step === name);
  if (!entry) throw new Error(`no ${name} step in the trace: ${JSON.stringify(selection.trace)}`);
  return entry;
};

function selectionError(fn: () => unknown): RuntimeSelectionError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RuntimeSelectionError);
    return error as RuntimeSelectionError;
  }
  throw new Error('expected a RuntimeSelectionError');
}

const traceOf = (error: RuntimeSelectionError): RuntimeSelectionTraceEntry[] => error.details['trace'] as RuntimeSelectionTraceEntry[];

let upstream: ResolvedRuntimePolicy;
beforeAll(async () => {
  upstream = await loadRuntimePolicy(resolve('examples/policies/upstream-defaults.json'));
});

describe('selectRuntime: precedence level 1, the runtime handler', () => {
  it('maps the image spec handler through the policy', () => {
    const selection = selectRuntime(request({ handler: 'lxc' }), {}, both);
    expect(selection.runtime).toBe('proxmox-lxc');
    expect(selection.source).toBe('handler');
    expect(selection.reason).toBe('runtime handler "lxc" (config.image.runtimeHandler) maps to proxmox-lxc');
    expect(step(selection, 'handler')).toMatchObject({ outcome: 'selected', runtime: 'proxmox-lxc' });
    expect(selection.trace.map((e) => `${e.step}:${e.outcome}`)).toEqual([
      'handler:selected',
      'annotation:skipped',
      'rules:skipped',
      'default:skipped',
      'privileged:skipped',
      'compatibility:passed',
      'availability:passed',
    ]);
  });

  it("uses the sandbox's handler when the image spec has none, and the image spec's when both are set", () => {
    const fromSandbox = selectRuntime(request(), {}, undefined, { sandbox: { runtimeHandler: 'proxmox' } });
    expect(fromSandbox.runtime).toBe('proxmox-lxc');
    expect(step(fromSandbox, 'handler').detail).toBe(`runtime handler "proxmox" (the sandbox's runtimeHandler) maps to proxmox-lxc`);
    const fromImage = selectRuntime(request({ handler: 'runc' }), {}, undefined, { sandbox: { runtimeHandler: 'proxmox' } });
    expect(fromImage.runtime).toBe('crun');
    expect(step(fromImage, 'handler').detail).toContain(`the sandbox's handler "proxmox" is not used`);
  });

  it('conflict: the handler says crun, the annotation says proxmox-lxc → the handler wins and the trace says so', () => {
    const selection = selectRuntime(request({ handler: 'crun', annotations: { 'lxcri.io/runtime': 'proxmox-lxc' } }), {}, both);
    expect(selection.runtime).toBe('crun');
    expect(selection.source).toBe('handler');
    expect(step(selection, 'annotation')).toEqual({
      step: 'annotation',
      outcome: 'overridden',
      runtime: 'proxmox-lxc',
      detail: 'annotation lxcri.io/runtime="proxmox-lxc" on the container asks for proxmox-lxc; but the runtime handler already chose crun and takes precedence',
    });
  });

  it('conflict: the handler beats a matching rule, and a rule that agrees is recorded as such', () => {
    const overridden = selectRuntime(request({ handler: 'runc', name: 'db-main' }), upstream, both);
    expect(overridden.runtime).toBe('crun');
    expect(step(overridden, 'rules')).toMatchObject({ outcome: 'overridden', runtime: 'proxmox-lxc' });
    expect(step(overridden, 'rules').detail).toContain('rule "db-and-vm-containers" matched (container name "db-main" matches "db-*")');
    const agrees = selectRuntime(request({ handler: 'lxc', name: 'db-main' }), upstream, both);
    expect(step(agrees, 'rules').outcome).toBe('agrees');
  });

  it('an unknown handler is an error, never a silent default', () => {
    const error = selectionError(() => selectRuntime(request({ handler: 'kata' }), upstream, both));
    expect(error.code).toBe('ERR_RUNTIME_SELECTION');
    expect(error.grpcStatus).toBe('InvalidArgument');
    expect(error.message).toBe('unknown runtime handler "kata" (config.image.runtimeHandler); the policy knows "crun", "runc", "proxmox", "lxc"');
    expect(error.details['reason']).toBe('unknown-handler');
    expect(traceOf(error)).toEqual([{ step: 'handler', outcome: 'failed', detail: expect.stringContaining('"kata"') as unknown }]);
    // also from the sandbox
    const fromSandbox = selectionError(() => selectRuntime(request(), {}, undefined, { sandbox: { runtimeHandler: 'gvisor' } }));
    expect(fromSandbox.message).toContain(`"gvisor" (the sandbox's runtimeHandler)`);
  });

  it('an empty handler means the default handler and skips the level', () => {
    const selection = selectRuntime(request({ handler: '' }), {}, undefined, { sandbox: { runtimeHandler: '' } });
    expect(step(selection, 'handler')).toMatchObject({ outcome: 'skipped' });
    expect(selection.source).toBe('default');
  });
});

describe('selectRuntime: precedence level 2, the annotation', () => {
  it('reads the container annotation before the pod annotation', () => {
    const selection = selectRuntime(
      request({ annotations: { 'lxcri.io/runtime': 'crun' }, podAnnotations: { 'lxcri.io/runtime': 'proxmox-lxc' } }),
      {},
      both,
    );
    expect(selection.runtime).toBe('crun');
    expect(selection.source).toBe('annotation');
    expect(step(selection, 'annotation').detail).toBe(
      `annotation lxcri.io/runtime="crun" on the container asks for crun; the pod's lxcri.io/runtime="proxmox-lxc" is not used (the container's annotation comes first)`,
    );
    const pod = selectRuntime(request({ podAnnotations: { 'lxcri.io/runtime': 'proxmox-lxc' } }), {}, both);
    expect(pod.runtime).toBe('proxmox-lxc');
    expect(pod.reason).toBe('annotation lxcri.io/runtime="proxmox-lxc" on the pod asks for proxmox-lxc');
  });

  it('accepts handler names as values and a custom key, and can be turned off', () => {
    expect(selectRuntime(request({ annotations: { 'lxcri.io/runtime': 'lxc' } }), {}).runtime).toBe('proxmox-lxc');
    const custom: RuntimePolicy = { annotationKey: 'example.com/runtime' };
    expect(selectRuntime(request({ annotations: { 'example.com/runtime': 'proxmox-lxc' } }), custom).runtime).toBe('proxmox-lxc');
    expect(selectRuntime(request({ annotations: { 'lxcri.io/runtime': 'proxmox-lxc' } }), custom).runtime).toBe('crun');
    const off = selectRuntime(request({ annotations: { 'lxcri.io/runtime': 'proxmox-lxc' } }), { annotationKey: null });
    expect(off.runtime).toBe('crun');
    expect(step(off, 'annotation')).toMatchObject({ outcome: 'skipped', detail: 'the policy turns the annotation off (annotationKey: null)' });
  });

  it('an annotation that names no runtime is an error, even when the handler decided', () => {
    const error = selectionError(() => selectRuntime(request({ handler: 'crun', podAnnotations: { 'lxcri.io/runtime': 'kvm' } }), {}));
    expect(error.grpcStatus).toBe('InvalidArgument');
    expect(error.details['reason']).toBe('invalid-annotation');
    expect(error.message).toContain('annotation lxcri.io/runtime="kvm" on the pod names no runtime');
    expect(traceOf(error).map((e) => `${e.step}:${e.outcome}`)).toEqual(['handler:selected', 'annotation:failed']);
  });

  it('the annotation beats a matching rule', () => {
    const selection = selectRuntime(request({ image: 'lxc/alpine:3.19', annotations: { 'lxcri.io/runtime': 'crun' } }), upstream, both);
    expect(selection.runtime).toBe('crun');
    expect(step(selection, 'rules').outcome).toBe('overridden');
    expect(step(selection, 'rules').detail).toContain('but the annotation already chose crun and takes precedence');
  });
});

describe('selectRuntime: precedence level 3, the rules', () => {
  it('applies the upstream defaults from the example policy', () => {
    const cases: [RequestShape, string, string][] = [
      [{ image: 'lxc/alpine:3.19' }, 'proxmox-lxc', 'images-under-lxc'],
      [{ image: 'registry.example.com:5000/lxc/debian' }, 'proxmox-lxc', 'images-under-lxc'],
      [{ image: 'sha256:' + 'b'.repeat(64), userSpecifiedImage: 'lxc/ubuntu:24.04' }, 'proxmox-lxc', 'images-under-lxc'],
      [{ name: 'db-postgres' }, 'proxmox-lxc', 'db-and-vm-containers'],
      [{ name: 'vm-ubuntu' }, 'proxmox-lxc', 'db-and-vm-containers'],
      [{ name: 'lxc-123' }, 'crun', ''],
      [{ name: 'app-123', image: 'docker.io/library/nginx:1' }, 'crun', ''],
      [{ name: 'test-container', image: 'docker.io/library/lxc' }, 'crun', ''],
    ];
    for (const [shape, runtime, rule] of cases) {
      const selection = selectRuntime(request(shape), upstream, both);
      expect(selection.runtime, JSON.stringify(shape)).toBe(runtime);
      if (rule) {
        expect(selection.source).toBe('rule');
        expect(selection.reason).toContain(`rule "${rule}" matched`);
      } else {
        expect(selection.source).toBe('default');
        expect(step(selection, 'rules')).toMatchObject({ outcome: 'no-match', detail: 'none of the 2 rules matched' });
      }
    }
  });

  it('the first matching rule wins', () => {
    const policy: RuntimePolicy = {
      rules: [
        { name: 'infra', match: { podNamespace: 'kube-system' }, runtime: 'crun' },
        { name: 'databases', match: { containerName: 'db-*' }, runtime: 'proxmox-lxc' },
      ],
    };
    expect(selectRuntime(request({ name: 'db-etcd', podNamespace: 'kube-system' }), policy).reason).toBe(
      'rule "infra" matched (pod namespace "kube-system" matches "kube-system") and selects crun',
    );
    expect(selectRuntime(request({ name: 'db-etcd', podNamespace: 'apps' }), policy).runtime).toBe('proxmox-lxc');
  });

  it('every criterion of a rule must match; a list of globs matches when any does', () => {
    const policy: RuntimePolicy = {
      rules: [{ name: 'lxc-dbs', match: { image: 'lxc/**', containerName: ['db-*', 'pg-*'], podName: 'data-*' }, runtime: 'proxmox-lxc' }],
    };
    expect(selectRuntime(request({ image: 'lxc/pg', name: 'pg-1', podName: 'data-0' }), policy).runtime).toBe('proxmox-lxc');
    expect(selectRuntime(request({ image: 'lxc/pg', name: 'pg-1', podName: 'web-0' }), policy).runtime).toBe('crun');
    expect(selectRuntime(request({ image: 'docker.io/pg', name: 'pg-1', podName: 'data-0' }), policy).runtime).toBe('crun');
  });

  it('matches labels and annotations, container values over pod values, and requires the key', () => {
    const policy: RuntimePolicy = {
      annotationKey: null,
      rules: [
        { name: 'tier', match: { labels: { tier: ['db', 'cache'] } }, runtime: 'proxmox-lxc' },
        { name: 'annotated', match: { annotations: { 'example.com/isolation': 'vm*' } }, runtime: 'proxmox-lxc' },
      ],
    };
    expect(selectRuntime(request({ podLabels: { tier: 'db' } }), policy).reason).toBe('rule "tier" matched (label tier="db" matches "db") and selects proxmox-lxc');
    // the container's label shadows the pod's
    expect(selectRuntime(request({ podLabels: { tier: 'db' }, labels: { tier: 'web' } }), policy).runtime).toBe('crun');
    expect(selectRuntime(request({ labels: { other: 'db' } }), policy).runtime).toBe('crun');
    expect(selectRuntime(request({ podAnnotations: { 'example.com/isolation': 'vm-strict' } }), policy).reason).toContain('rule "annotated" matched');
  });

  it('names unnamed rules by index', () => {
    const selection = selectRuntime(request({ name: 'db-1' }), { rules: [{ match: { containerName: 'db-*' }, runtime: 'proxmox-lxc' }] });
    expect(selection.reason).toBe('rule "rules[0]" matched (container name "db-1" matches "db-*") and selects proxmox-lxc');
  });
});

describe('selectRuntime: precedence level 4, the default', () => {
  it('uses defaultRuntime when nothing else decides', () => {
    const selection = selectRuntime(request(), { defaultRuntime: 'proxmox-lxc' });
    expect(selection).toMatchObject({ runtime: 'proxmox-lxc', source: 'default', changed: false });
    expect(selection.reason).toBe(`no handler, annotation or rule decided: the policy's defaultRuntime is proxmox-lxc`);
    expect(step(selection, 'availability')).toMatchObject({ outcome: 'unchecked', detail: 'no probe results were given: availability was not checked' });
  });
});

describe('selectRuntime: privileged containers follow the policy', () => {
  it('any: no constraint', () => {
    expect(step(selectRuntime(request({ privileged: true, name: 'db-1' }), upstream, both), 'privileged')).toMatchObject({ outcome: 'passed', runtime: 'proxmox-lxc' });
  });

  it('reject: refused', () => {
    const error = selectionError(() => selectRuntime(request({ privileged: true }), { privileged: 'reject' }, both));
    expect(error.grpcStatus).toBe('PermissionDenied');
    expect(error.details['reason']).toBe('privileged-rejected');
    expect(traceOf(error).at(-1)).toMatchObject({ step: 'privileged', outcome: 'failed' });
    expect(selectRuntime(request({ privileged: false }), { privileged: 'reject' }, both).runtime).toBe('crun');
  });

  it('crun: a rule or default choice is moved; an explicit choice is an error unless overrideExplicit', () => {
    const policy = parseRuntimePolicy({ ...upstream, privileged: 'crun' });
    const moved = selectRuntime(request({ privileged: true, name: 'db-1' }), policy, both);
    expect(moved).toMatchObject({ runtime: 'crun', source: 'rule', changed: true });
    expect(moved.reason).toContain('; moved to crun because privileged containers run only there');
    expect(step(moved, 'privileged')).toMatchObject({ outcome: 'changed', runtime: 'crun' });

    const error = selectionError(() => selectRuntime(request({ privileged: true, handler: 'lxc' }), policy, both));
    expect(error.details['reason']).toBe('privileged-conflict');
    expect(error.message).toBe('the runtime handler asks for proxmox-lxc, but the runtime policy runs privileged containers only on crun (privileged: "crun")');

    const overridden = selectRuntime(request({ privileged: true, handler: 'lxc' }), { ...policy, fallback: { ...policy.fallback, overrideExplicit: true } }, both);
    expect(overridden.runtime).toBe('crun');
  });

  it('proxmox-lxc: privileged containers go to LXC', () => {
    const selection = selectRuntime(request({ privileged: true }), { privileged: 'proxmox-lxc' }, both);
    expect(selection).toMatchObject({ runtime: 'proxmox-lxc', source: 'default', changed: true });
  });
});

describe('selectRuntime: requests Proxmox LXC cannot honour', () => {
  const lxc = { handler: 'lxc' };
  const refused = (shape: RequestShape, context: RuntimeSelectionContext = {}, probes: RuntimeProbeResults = both): RuntimeSelectionError => {
    const error = selectionError(() => selectRuntime(request({ ...lxc, ...shape }), {}, probes, context));
    expect(error.details['reason']).toBe('unsupported');
    expect(error.grpcStatus).toBe('FailedPrecondition');
    expect(traceOf(error).at(-1)).toMatchObject({ step: 'compatibility', outcome: 'failed', runtime: 'proxmox-lxc' });
    return error;
  };

  it('host namespaces (NODE), on the container or the pod', () => {
    expect(refused({ namespaces: { network: 'NODE' } }).message).toContain(`the host's network namespace (NamespaceMode NODE): an LXC container has its own`);
    expect(refused({ podNamespaces: { pid: 'NODE' } }).message).toContain(`the host's pid namespace (NamespaceMode NODE on the pod)`);
    expect(refused({ namespaces: { ipc: 'NODE' } }).message).toContain(`the host's ipc namespace`);
  });

  it("another container's namespace (TARGET)", () => {
    expect(refused({ namespaces: { pid: 'TARGET', target_id: 'c'.repeat(64) } }).message).toContain(
      `the pid namespace of container "${'c'.repeat(64)}" (NamespaceMode TARGET)`,
    );
  });

  it("the pod's namespaces when the pod has other containers, or the namespace already exists on the node", () => {
    const error = refused({}, { podContainers: [{ id: 'c1', name: 'sidecar', runtime: 'crun' }] });
    expect(error.message).toContain(`the pod's network namespace shared with the pod's other containers ("sidecar")`);
    expect(error.message).toContain(`the pod's ipc namespace shared with the pod's other containers ("sidecar")`);
    // pid is CONTAINER in these requests (the kubelet default): not shared
    expect(error.message).not.toContain('pid namespace');
    expect(refused({ namespaces: { pid: 'POD' } }, { podContainers: [{ id: 'c1' }] }).message).toContain(`the pod's pid namespace shared`);
    expect(refused({}, { sandbox: { runtimeHandler: 'lxc', namespacePaths: { network: '/run/netns/cni-1234' } } }).message).toContain(
      `the pod's network namespace, which already exists on the node (/run/netns/cni-1234): an LXC container cannot join it`,
    );
  });

  it("accepts POD namespaces when the container is the pod's only one and the pod holds none on the node", () => {
    const selection = selectRuntime(request(lxc), {}, both, { sandbox: { runtimeHandler: 'lxc', namespacePaths: {} }, podContainers: [] });
    expect(step(selection, 'compatibility')).toMatchObject({ outcome: 'passed', detail: 'Proxmox VE LXC can honour the request' });
  });

  it('device passthrough and host bind mounts need the user root@pam (a root@pam token is not enough)', () => {
    const devices = [{ container_path: '/dev/fuse', host_path: '/dev/fuse', permissions: 'rwm' }];
    expect(refused({ devices }).message).toContain('device passthrough (/dev/fuse) needs the user root@pam, and the Proxmox identity is "lxcri@pve!ci"');
    const token: RuntimeProbeResults = { ...both, 'proxmox-lxc': { ...both['proxmox-lxc'], available: true, detail: 'ok', rootPam: false, authId: 'root@pam!ci' } };
    expect(refused({ devices }, {}, token).message).toContain('the Proxmox identity is "root@pam!ci"');
    const error = selectionError(() => selectRuntime(request({ ...lxc, devices }), {}));
    expect(error.message).toContain('the Proxmox identity is not known');
    const root: RuntimeProbeResults = { ...both, 'proxmox-lxc': { available: true, detail: 'ok', rootPam: true, authId: 'root@pam' } };
    expect(selectRuntime(request({ ...lxc, devices }), {}, root).runtime).toBe('proxmox-lxc');

    const mounts = [{ container_path: '/data', host_path: '/srv/data' }];
    expect(refused({ mounts }).message).toContain('bind mounts of host paths (/srv/data) need the user root@pam');
    expect(selectRuntime(request({ ...lxc, mounts }), {}, root).runtime).toBe('proxmox-lxc');
    // an image volume is not a bind mount
    expect(selectRuntime(request({ ...lxc, mounts: [{ container_path: '/models', image: { image: 'example.com/models:1' }, readonly: true }] }), {}, both).runtime).toBe(
      'proxmox-lxc',
    );
  });

  it('bidirectional mount propagation and CDI devices', () => {
    const root: RuntimeProbeResults = { ...both, 'proxmox-lxc': { available: true, detail: 'ok', rootPam: true, authId: 'root@pam' } };
    expect(refused({ mounts: [{ container_path: '/mnt', host_path: '/mnt', propagation: 'PROPAGATION_BIDIRECTIONAL' }] }, {}, root).message).toContain(
      'bidirectional mount propagation on /mnt',
    );
    expect(selectRuntime(request({ ...lxc, mounts: [{ container_path: '/mnt', host_path: '/mnt', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }] }), {}, root).runtime).toBe(
      'proxmox-lxc',
    );
    expect(refused({ cdi: ['vendor.com/gpu=gpu0'] }).message).toContain('CDI devices (vendor.com/gpu=gpu0)');
  });

  it('lists every problem at once', () => {
    const error = refused({ namespaces: { network: 'NODE' }, devices: [{ container_path: '/dev/kvm', host_path: '/dev/kvm', permissions: 'rw' }] });
    expect(error.message).toBe(
      `proxmox-lxc cannot honour the request: the host's network namespace (NamespaceMode NODE): an LXC container has its own; ` +
        `device passthrough (/dev/kvm) needs the user root@pam, and the Proxmox identity is "lxcri@pve!ci"; ` +
        'no fallback: the policy allows no fallback (fallback.onUnsupported is false)',
    );
  });

  it('crun is not subject to these constraints', () => {
    const selection = selectRuntime(request({ namespaces: { network: 'NODE' }, devices: [{ container_path: '/dev/kvm', host_path: '/dev/kvm', permissions: 'rw' }] }), {}, both);
    expect(selection.runtime).toBe('crun');
    expect(step(selection, 'compatibility')).toMatchObject({ outcome: 'passed', detail: 'no LXC-specific constraints apply to crun' });
  });
});

describe('selectRuntime: fallback when LXC cannot honour the request', () => {
  const hostNet: RequestShape = { name: 'db-1', namespaces: { network: 'NODE' } };

  it('without fallback.onUnsupported it is an error', () => {
    const error = selectionError(() => selectRuntime(request(hostNet), upstream, both));
    expect(error.message).toContain('no fallback: the policy allows no fallback (fallback.onUnsupported is false)');
  });

  it('with fallback.onUnsupported a rule choice falls back to crun', () => {
    const policy = parseRuntimePolicy({ ...upstream, fallback: { onUnsupported: true } });
    const selection = selectRuntime(request(hostNet), policy, both);
    expect(selection).toMatchObject({ runtime: 'crun', source: 'rule', changed: true });
    expect(selection.reason).toBe(
      'rule "db-and-vm-containers" matched (container name "db-1" matches "db-*") and selects proxmox-lxc; fell back to crun because proxmox-lxc cannot honour one requirement',
    );
    expect(selection.trace.slice(-3).map((e) => `${e.step}:${e.outcome}:${e.runtime ?? ''}`)).toEqual([
      'compatibility:failed:proxmox-lxc',
      'fallback:changed:crun',
      'availability:passed:crun',
    ]);
  });

  it('an explicit choice falls back only with overrideExplicit', () => {
    const policy = parseRuntimePolicy({ fallback: { onUnsupported: true } });
    const error = selectionError(() => selectRuntime(request({ ...hostNet, handler: 'lxc' }), policy, both));
    expect(error.message).toContain('no fallback: the runtime handler asked for proxmox-lxc explicitly (fallback.overrideExplicit is false)');
    const annotated = selectionError(() => selectRuntime(request({ ...hostNet, annotations: { 'lxcri.io/runtime': 'proxmox-lxc' } }), policy, both));
    expect(annotated.message).toContain('the annotation asked for proxmox-lxc explicitly');
    const allowed = selectRuntime(request({ ...hostNet, handler: 'lxc' }), { fallback: { onUnsupported: true, overrideExplicit: true } }, both);
    expect(allowed.runtime).toBe('crun');
  });

  it('a privileged container pinned to proxmox-lxc cannot fall back to crun', () => {
    const error = selectionError(() => selectRuntime(request({ ...hostNet, privileged: true }), { privileged: 'proxmox-lxc', fallback: { onUnsupported: true } }, both));
    expect(error.message).toContain('no fallback: privileged containers run only on proxmox-lxc');
  });
});

describe('selectRuntime: availability, with and without fallback', () => {
  it('an available runtime passes, naming what the probe saw', () => {
    const selection = selectRuntime(request(), {}, both);
    expect(step(selection, 'availability')).toEqual({
      step: 'availability',
      outcome: 'passed',
      runtime: 'crun',
      detail: 'crun is available: crun --version answered "crun version 1.8.1"',
    });
  });

  it('an unavailable runtime without fallback is an error (gRPC Unavailable)', () => {
    const error = selectionError(() => selectRuntime(request(), {}, crunDown));
    expect(error.grpcStatus).toBe('Unavailable');
    expect(error.details).toMatchObject({ reason: 'unavailable', runtime: 'crun' });
    expect(error.message).toBe(
      'crun is unavailable (cannot run /usr/bin/crun --version: not found); no fallback: the policy allows no fallback (fallback.onUnavailable is false)',
    );
    expect(traceOf(error).at(-1)).toMatchObject({ step: 'availability', outcome: 'failed', runtime: 'crun' });
  });

  it('an unavailable runtime with fallback moves to the other runtime when that one is available', () => {
    const policy: RuntimePolicy = { fallback: { onUnavailable: true } };
    const toLxc = selectRuntime(request(), policy, crunDown);
    expect(toLxc).toMatchObject({ runtime: 'proxmox-lxc', source: 'default', changed: true });
    expect(toLxc.reason).toBe(`no handler, annotation or rule decided: the policy's defaultRuntime is crun; fell back to proxmox-lxc because crun is unavailable`);
    expect(step(toLxc, 'fallback')).toMatchObject({ outcome: 'changed', runtime: 'proxmox-lxc', detail: expect.stringContaining('Proxmox VE 9.1.3') as unknown });
    const toCrun = selectRuntime(request({ name: 'db-1' }), { ...upstream, fallback: { ...upstream.fallback, onUnavailable: true } }, pveDown);
    expect(toCrun.runtime).toBe('crun');
  });

  it('the fallback is refused when the other runtime is down too, not probed, cannot honour the request, or is not allowed', () => {
    const policy: RuntimePolicy = { fallback: { onUnavailable: true } };
    expect(selectionError(() => selectRuntime(request(), policy, bothDown)).message).toContain(
      'no fallback: proxmox-lxc is unavailable too (no Proxmox client configured)',
    );
    const onlyCrun: RuntimeProbeResults = { crun: crunDown.crun as NonNullable<RuntimeProbeResults['crun']> };
    expect(selectionError(() => selectRuntime(request(), policy, onlyCrun)).message).toContain('no fallback: proxmox-lxc was not probed');
    expect(selectionError(() => selectRuntime(request({ namespaces: { network: 'NODE' } }), policy, crunDown)).message).toContain(
      `no fallback: proxmox-lxc cannot honour the request: the host's network namespace`,
    );
    expect(selectionError(() => selectRuntime(request({ handler: 'runc' }), policy, crunDown)).message).toContain(
      'no fallback: the runtime handler asked for crun explicitly (fallback.overrideExplicit is false)',
    );
    expect(selectRuntime(request({ handler: 'runc' }), { fallback: { onUnavailable: true, overrideExplicit: true } }, crunDown).runtime).toBe('proxmox-lxc');
    expect(selectionError(() => selectRuntime(request({ privileged: true }), { privileged: 'crun', fallback: { onUnavailable: true } }, crunDown)).message).toContain(
      'no fallback: privileged containers run only on crun',
    );
  });

  it('at most one fallback happens', () => {
    const policy: RuntimePolicy = { defaultRuntime: 'proxmox-lxc', fallback: { onUnsupported: true, onUnavailable: true } };
    const error = selectionError(() => selectRuntime(request({ namespaces: { network: 'NODE' } }), policy, crunDown));
    expect(error.message).toContain('crun is unavailable');
    expect(error.message).toContain('no fallback: a fallback already happened');
    expect(traceOf(error).slice(-3).map((e) => `${e.step}:${e.outcome}`)).toEqual(['compatibility:failed', 'fallback:changed', 'availability:failed']);
  });

  it('a runtime without a probe result is reported unchecked', () => {
    const selection = selectRuntime(request(), {}, { 'proxmox-lxc': both['proxmox-lxc'] as NonNullable<RuntimeProbeResults['proxmox-lxc']> });
    expect(step(selection, 'availability')).toMatchObject({ outcome: 'unchecked', detail: 'no probe result for crun: availability was not checked' });
  });
});

describe('selectRuntime: precedence as a property', () => {
  it('the first level with an answer decides, for every combination of inputs', () => {
    const runtimeOrNone = fc.constantFrom(undefined, 'crun', 'proxmox-lxc');
    fc.assert(
      fc.property(
        fc.constantFrom(undefined, 'runc', 'crun', 'lxc', 'proxmox'),
        fc.constantFrom(undefined, 'runc', 'lxc'),
        runtimeOrNone,
        runtimeOrNone,
        runtimeOrNone,
        fc.constantFrom('crun', 'proxmox-lxc'),
        (imageHandler, sandboxHandler, containerAnnotation, podAnnotation, ruleRuntime, defaultRuntime) => {
          const handler = imageHandler ?? sandboxHandler;
          const handlerRuntime = handler === undefined ? undefined : ['runc', 'crun'].includes(handler) ? 'crun' : 'proxmox-lxc';
          const selection = selectRuntime(
            request({
              name: 'app-1',
              ...(imageHandler ? { handler: imageHandler } : {}),
              ...(containerAnnotation ? { annotations: { 'lxcri.io/runtime': containerAnnotation } } : {}),
              ...(podAnnotation ? { podAnnotations: { 'lxcri.io/runtime': podAnnotation } } : {}),
            }),
            { defaultRuntime, rules: ruleRuntime ? [{ name: 'r', match: { containerName: 'app-*' }, runtime: ruleRuntime }] : [] },
            both,
            sandboxHandler ? { sandbox: { runtimeHandler: sandboxHandler } } : {},
          );
          const levels: [string, string | undefined][] = [
            ['handler', handlerRuntime],
            ['annotation', containerAnnotation ?? podAnnotation],
            ['rule', ruleRuntime],
            ['default', defaultRuntime],
          ];
          const [source, runtime] = levels.find(([, r]) => r !== undefined) as [string, string];
          expect(selection.runtime).toBe(runtime);
          expect(selection.source).toBe(source);
          expect(selection.changed).toBe(false);
          // exactly one precedence step is 'selected'; every later opinion is 'agrees' or 'overridden'
          const precedence = selection.trace.filter((e) => ['handler', 'annotation', 'rules', 'default'].includes(e.step));
          expect(precedence.filter((e) => e.outcome === 'selected')).toHaveLength(1);
          for (const entry of precedence) {
            if (entry.outcome === 'agrees') expect(entry.runtime).toBe(runtime);
            if (entry.outcome === 'overridden') expect(entry.runtime).not.toBe(runtime);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('selectRuntime: the trace as a property', () => {
  const ORDER = ['handler', 'annotation', 'rules', 'default', 'privileged', 'compatibility', 'availability'];
  const REASON_OF_FAILED_STEP: Record<string, string[]> = {
    handler: ['unknown-handler'],
    annotation: ['invalid-annotation'],
    privileged: ['privileged-rejected', 'privileged-conflict'],
    compatibility: ['unsupported'],
    availability: ['unavailable'],
  };
  const runtime = fc.constantFrom<'crun' | 'proxmox-lxc'>('crun', 'proxmox-lxc');
  const rarely = fc.constantFrom(false, false, false, true);
  const probe = fc.constantFrom<RuntimeProbeResults>({}, both, crunDown, pveDown, bothDown, { crun: both.crun as NonNullable<RuntimeProbeResults['crun']> }, { 'proxmox-lxc': { available: true, rootPam: true, authId: 'root@pam', detail: 'root' } });
  const input = fc.record({
    handler: fc.constantFrom(undefined, undefined, undefined, 'runc', 'lxc', 'gvisor'),
    sandboxHandler: fc.constantFrom(undefined, 'crun', 'proxmox'),
    annotation: fc.constantFrom(undefined, undefined, undefined, 'crun', 'proxmox-lxc', 'lxc', 'bogus'),
    rule: fc.constantFrom(undefined, 'crun', 'proxmox-lxc'),
    defaultRuntime: runtime,
    privilegedPolicy: fc.constantFrom('any', 'crun', 'proxmox-lxc', 'reject') as fc.Arbitrary<'any' | 'crun' | 'proxmox-lxc' | 'reject'>,
    fallback: fc.record({ onUnavailable: fc.boolean(), onUnsupported: fc.boolean(), overrideExplicit: fc.boolean() }),
    privileged: rarely,
    hostNetwork: rarely,
    device: rarely,
    sideContainer: rarely,
    probes: fc.option(probe, { nil: undefined }),
  });

  it('steps come in order, a fallback follows the constraint it answers, and the trace ends as the result or the error says', () => {
    fc.assert(
      fc.property(input, (i) => {
        const req = request({
          name: 'app-1',
          ...(i.handler ? { handler: i.handler } : {}),
          ...(i.annotation ? { annotations: { 'lxcri.io/runtime': i.annotation } } : {}),
          privileged: i.privileged,
          ...(i.hostNetwork ? { namespaces: { network: 'NODE' } } : {}),
          ...(i.device ? { devices: [{ container_path: '/dev/fuse', host_path: '/dev/fuse', permissions: 'rwm' }] } : {}),
        });
        const policy: RuntimePolicy = {
          defaultRuntime: i.defaultRuntime,
          rules: i.rule ? [{ name: 'r', match: { containerName: 'app-*' }, runtime: i.rule }] : [],
          privileged: i.privilegedPolicy,
          fallback: i.fallback,
        };
        const context: RuntimeSelectionContext = {
          ...(i.sandboxHandler ? { sandbox: { runtimeHandler: i.sandboxHandler } } : {}),
          ...(i.sideContainer ? { podContainers: [{ id: 'c1', name: 'side' }] } : {}),
        };
        let selection: RuntimeSelection | undefined;
        let trace: RuntimeSelectionTraceEntry[];
        try {
          selection = selectRuntime(req, policy, i.probes, context);
          trace = selection.trace;
        } catch (error) {
          if (!(error instanceof RuntimeSelectionError)) throw error;
          trace = traceOf(error);
          const last = trace.at(-1);
          expect(last?.outcome).toBe('failed');
          expect(REASON_OF_FAILED_STEP[last?.step ?? '']).toContain(error.details['reason']);
        }
        const steps = trace.map((e) => e.step);
        const withoutFallback = steps.filter((s) => s !== 'fallback');
        expect(withoutFallback).toEqual(ORDER.slice(0, withoutFallback.length));
        expect(steps.filter((s) => s === 'fallback').length).toBeLessThanOrEqual(1);
        trace.forEach((entry, index) => {
          if (entry.step !== 'fallback') return;
          expect(entry.outcome).toBe('changed');
          expect(trace[index - 1]).toMatchObject({ outcome: 'failed' });
          expect(['compatibility', 'availability']).toContain(trace[index - 1]?.step);
        });
        if (selection === undefined) return;
        expect(withoutFallback).toEqual(ORDER);
        const selected = trace.filter((e) => e.outcome === 'selected');
        expect(selected).toHaveLength(1);
        expect(selected[0]?.step).toBe(selection.source === 'rule' ? 'rules' : selection.source);
        expect(trace.filter((e) => e.runtime !== undefined).at(-1)?.runtime).toBe(selection.runtime);
        expect(selection.changed).toBe(trace.some((e) => e.outcome === 'changed'));
      }),
      { numRuns: 1500 },
    );
  });
});

describe('selectRuntime: purity and input checking', () => {
  const deepFreeze = <T>(value: T): T => {
    if (typeof value === 'object' && value !== null) {
      for (const v of Object.values(value)) deepFreeze(v);
      Object.freeze(value);
    }
    return value;
  };

  it('does not modify its inputs and answers the same every time', () => {
    const req = deepFreeze(request({ name: 'db-1', annotations: { 'lxcri.io/runtime': 'proxmox-lxc' }, labels: { a: 'b' } }));
    const policy = deepFreeze(parseRuntimePolicy({ ...upstream }));
    const probes = deepFreeze(structuredClone(both));
    const context = deepFreeze({ podContainers: [] });
    const first: RuntimeSelection = selectRuntime(req, policy, probes, context);
    const second = selectRuntime(req, policy, probes, context);
    expect(second).toEqual(first);
    expect(JSON.parse(JSON.stringify(first))).toEqual(first);
  });

  it('rejects an invalid policy with InvalidOptionsError', () => {
    expect(() => selectRuntime(request(), { defaultRuntime: 'lxc' } as unknown as RuntimePolicy)).toThrow(InvalidOptionsError);
  });

  it('errors carry a JSON-safe trace', () => {
    const error = selectionError(() => selectRuntime(request({ handler: 'crun', annotations: { 'lxcri.io/runtime': 'bogus' } }), {}));
    const json = JSON.parse(JSON.stringify(error)) as { code: string; details: { trace: unknown[]; reason: string } };
    expect(json.code).toBe('ERR_RUNTIME_SELECTION');
    expect(json.details.reason).toBe('invalid-annotation');
    expect(json.details.trace).toHaveLength(2);
  });
});
