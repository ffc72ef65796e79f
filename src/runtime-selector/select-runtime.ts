/**
 * `selectRuntime()`: decides whether a container runs under the OCI runtime on the node (`crun`)
 * or as a Proxmox VE LXC container (`proxmox-lxc`), and records why.
 *
 * @module
 */
import type { NamespaceMode, NormalizedCreateContainerRequest, SandboxNamespacePaths } from '../cri/types.js';
import type { GrpcStatus } from '../errors.js';
import { RuntimeSelectionError } from '../errors.js';
import { compileGlob } from './glob.js';
import type { PrivilegedPolicy, ResolvedRuntimePolicy, ResolvedRuntimeRule, RuntimeName, RuntimePolicy } from './policy.js';
import { parseRuntimePolicy, RUNTIME_NAMES } from './policy.js';
import type { RuntimeProbeResults } from './probes.js';

/** The steps of a selection, in the order they run and appear in the trace. */
export const RUNTIME_SELECTION_STEPS = ['handler', 'annotation', 'rules', 'default', 'privileged', 'compatibility', 'availability', 'fallback'] as const;

/**
 * A step of the selection: the four precedence levels (`handler`, `annotation`, `rules`,
 * `default`), then the constraints (`privileged`, `compatibility`, `availability`) and a
 * `fallback` entry when a constraint moved the container to the other runtime.
 */
export type RuntimeSelectionStep = (typeof RUNTIME_SELECTION_STEPS)[number];

/**
 * What a step did.
 * - `selected`: this precedence level chose the runtime;
 * - `overridden`: it had an opinion that differs from the runtime a higher level chose (the higher level wins);
 * - `agrees`: it had an opinion equal to the runtime a higher level chose;
 * - `skipped`: it had nothing to say (no handler, no annotation, no rules, not privileged, ...);
 * - `no-match`: no rule matched;
 * - `passed` / `failed`: a constraint held / did not hold;
 * - `changed`: the runtime was changed (privileged routing or a fallback);
 * - `unchecked`: availability was not checked because no probe result was given.
 */
export type RuntimeSelectionOutcome = 'selected' | 'overridden' | 'agrees' | 'skipped' | 'no-match' | 'passed' | 'failed' | 'changed' | 'unchecked';

/** One line of the trace. */
export interface RuntimeSelectionTraceEntry {
  /** The step. */
  step: RuntimeSelectionStep;
  /** What it did. */
  outcome: RuntimeSelectionOutcome;
  /** Why, in words (names the handler, annotation, rule, glob, probe answer, ...). */
  detail: string;
  /** The runtime this step chose, asked for, or moved to, when it had one. */
  runtime?: RuntimeName;
}

/** Which precedence level chose the runtime (before any constraint moved it). */
export type RuntimeSelectionSource = 'handler' | 'annotation' | 'rule' | 'default';

/** The answer of {@link selectRuntime}. */
export interface RuntimeSelection {
  /** The runtime to use. */
  runtime: RuntimeName;
  /** One sentence: what decided, and any constraint that moved the container. */
  reason: string;
  /** The precedence level that chose the runtime. */
  source: RuntimeSelectionSource;
  /** True when a constraint (privileged routing or a fallback) moved the container away from the runtime the precedence chose. */
  changed: boolean;
  /** Every step with its outcome, in order. */
  trace: RuntimeSelectionTraceEntry[];
}

/** The facts about the pod that the request itself does not carry. */
export interface RuntimeSelectionContext {
  /**
   * The pod sandbox the container is created in (its record from the sandbox store). Its
   * `runtimeHandler` is used when the image spec names none; its `namespacePaths` tell whether
   * the pod's namespaces already exist on the node.
   */
  sandbox?: { runtimeHandler?: string | undefined; namespacePaths?: SandboxNamespacePaths | undefined } | undefined;
  /** The containers already created in the pod (records from the container store). */
  podContainers?: readonly { id: string; name?: string | undefined; runtime?: string | undefined }[] | undefined;
}

interface Decision {
  runtime: RuntimeName;
  source: RuntimeSelectionSource;
  explicit: boolean;
  reason: string;
}

const quote = (value: string): string => JSON.stringify(value);
const other = (runtime: RuntimeName): RuntimeName => (runtime === 'crun' ? 'proxmox-lxc' : 'crun');

function fail(message: string, reason: string, trace: readonly RuntimeSelectionTraceEntry[], grpcStatus: GrpcStatus, runtime?: RuntimeName): never {
  throw new RuntimeSelectionError(message, { ...(runtime ? { runtime } : {}), reason, trace: trace.map((entry) => ({ ...entry })) }, { grpcStatus });
}

/** Maps an annotation value to a runtime: a runtime name, or a handler name from the policy. */
function runtimeOfAnnotation(value: string, policy: ResolvedRuntimePolicy): RuntimeName | undefined {
  if ((RUNTIME_NAMES as readonly string[]).includes(value)) return value as RuntimeName;
  return Object.hasOwn(policy.handlers, value) ? policy.handlers[value] : undefined;
}

interface RuleSubject {
  images: string[];
  containerName: string;
  podName: string;
  podNamespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Returns why `rule` matches (one phrase per criterion), or `undefined` when it does not. */
function matchRule(rule: ResolvedRuntimeRule, subject: RuleSubject): string[] | undefined {
  const reasons: string[] = [];
  const anyGlob = (globs: readonly string[], value: string): string | undefined => globs.find((glob) => compileGlob(glob).test(value));
  const { match } = rule;
  if (match.image) {
    let hit: string | undefined;
    for (const image of subject.images) {
      const glob = anyGlob(match.image, image);
      if (glob !== undefined) {
        hit = `image ${quote(image)} matches ${quote(glob)}`;
        break;
      }
    }
    if (hit === undefined) return undefined;
    reasons.push(hit);
  }
  const scalar: [keyof RuleSubject & ('containerName' | 'podName' | 'podNamespace'), string][] = [
    ['containerName', 'container name'],
    ['podName', 'pod name'],
    ['podNamespace', 'pod namespace'],
  ];
  for (const [key, label] of scalar) {
    const globs = match[key];
    if (!globs) continue;
    const glob = anyGlob(globs, subject[key]);
    if (glob === undefined) return undefined;
    reasons.push(`${label} ${quote(subject[key])} matches ${quote(glob)}`);
  }
  for (const [kind, label] of [
    ['labels', 'label'],
    ['annotations', 'annotation'],
  ] as const) {
    const wanted = match[kind];
    if (!wanted) continue;
    for (const [key, globs] of Object.entries(wanted)) {
      if (!Object.hasOwn(subject[kind], key)) return undefined;
      const value = subject[kind][key] as string;
      const glob = anyGlob(globs, value);
      if (glob === undefined) return undefined;
      reasons.push(`${label} ${key}=${quote(value)} matches ${quote(glob)}`);
    }
  }
  return reasons;
}

const LXC_NAMESPACES = ['network', 'pid', 'ipc'] as const;

/**
 * Everything in the request that a Proxmox VE LXC container cannot honour, as phrases.
 * Empty when LXC can run it.
 */
function lxcProblems(request: NormalizedCreateContainerRequest, context: RuntimeSelectionContext, probes: RuntimeProbeResults | undefined): string[] {
  const problems: string[] = [];
  const container = request.config.linux.securityContext.namespaceOptions;
  const pod = request.sandboxConfig.linux.securityContext.namespaceOptions;
  const others = context.podContainers ?? [];
  for (const ns of LXC_NAMESPACES) {
    const mode: NamespaceMode = container[ns];
    if (mode === 'NODE' || pod[ns] === 'NODE') {
      problems.push(`the host's ${ns} namespace (NamespaceMode NODE${mode === 'NODE' ? '' : ' on the pod'}): an LXC container has its own`);
    } else if (mode === 'TARGET') {
      problems.push(`the ${ns} namespace of container ${quote(container.targetId)} (NamespaceMode TARGET): an LXC container cannot join another container's namespace`);
    } else if (mode === 'POD') {
      const path = context.sandbox?.namespacePaths?.[ns];
      if (others.length > 0) {
        const names = others.map((c) => quote(c.name ?? c.id)).join(', ');
        problems.push(`the pod's ${ns} namespace shared with the pod's other containers (${names}): an LXC container cannot share its namespaces`);
      } else if (path) {
        problems.push(`the pod's ${ns} namespace, which already exists on the node (${path}): an LXC container cannot join it`);
      }
    }
  }
  const proxmox = probes?.['proxmox-lxc'];
  const identity = proxmox?.authId === undefined ? 'the Proxmox identity is not known (no probe result with authId)' : `the Proxmox identity is ${quote(proxmox.authId)}`;
  const rootPam = proxmox?.rootPam === true;
  const devices = request.config.devices;
  if (devices.length > 0 && !rootPam) {
    problems.push(`device passthrough (${devices.map((d) => d.hostPath || d.containerPath).join(', ')}) needs the user root@pam, and ${identity}`);
  }
  if (request.config.CDIDevices.length > 0) {
    problems.push(`CDI devices (${request.config.CDIDevices.map((d) => d.name).join(', ')}): they are resolved by OCI runtime tooling, not by Proxmox VE`);
  }
  for (const mount of request.config.mounts) {
    if (mount.propagation === 'PROPAGATION_BIDIRECTIONAL') {
      problems.push(`bidirectional mount propagation on ${mount.containerPath}: Proxmox VE mount points cannot propagate mounts back to the host`);
    }
  }
  const binds = request.config.mounts.filter((m) => m.hostPath !== '' && m.image === undefined);
  if (binds.length > 0 && !rootPam) {
    problems.push(`bind mounts of host paths (${binds.map((m) => m.hostPath).join(', ')}) need the user root@pam, and ${identity}`);
  }
  return problems;
}

function privilegedAllows(policy: PrivilegedPolicy, runtime: RuntimeName): boolean {
  return policy === 'any' || policy === runtime;
}

/**
 * Decides which runtime a container gets, and why. Pure: the same request, policy, probe results
 * and context always give the same answer; nothing is read or spawned.
 *
 * **Precedence** (the first level that has an answer decides; lower levels are still evaluated
 * and recorded in the trace as `overridden` or `agrees`):
 * 1. the runtime handler — `config.image.runtimeHandler`, else the sandbox's `runtimeHandler` —
 *    mapped through `policy.handlers`; an unknown handler is an error, never a silent default;
 *    an empty handler skips this level;
 * 2. the annotation `policy.annotationKey` (default `lxcri.io/runtime`) on the container, then on
 *    the pod; its value is a runtime name or a handler name; anything else is an error;
 * 3. `policy.rules` in order — the first rule whose criteria all match;
 * 4. `policy.defaultRuntime`.
 *
 * **Constraints**, checked after the choice, in this order:
 * 1. privileged (`config.linux.securityContext.privileged`): `policy.privileged` `reject` refuses;
 *    `crun` / `proxmox-lxc` moves the container there when a rule or the default chose, and
 *    refuses when the handler or annotation chose otherwise (unless `fallback.overrideExplicit`);
 * 2. compatibility (`proxmox-lxc` only): host namespaces (NODE), another container's namespace
 *    (TARGET), the pod's namespace when the pod has other containers or the namespace already
 *    exists on the node, device passthrough or host bind mounts without root@pam, CDI devices and
 *    bidirectional mount propagation are refused — or moved to crun with `fallback.onUnsupported`;
 * 3. availability (only when `probes` are given): the chosen runtime's probe must have answered;
 *    with `fallback.onUnavailable` the other runtime is used when it answered, can honour the
 *    request and the privileged policy allows it.
 *
 * Fallbacks apply only to a runtime chosen by a rule or the default unless
 * `fallback.overrideExplicit` is set, and at most one fallback happens.
 *
 * @param request - a normalised, validated CreateContainerRequest
 * @param policy - the policy (parsed with {@link parseRuntimePolicy} if not already)
 * @param probes - what `createRuntimeProbes` found; without it availability is not checked
 * @param context - the sandbox record and the pod's other containers
 * @throws RuntimeSelectionError with `details.reason` (`unknown-handler`, `invalid-annotation`,
 *   `privileged-rejected`, `privileged-conflict`, `unsupported`, `unavailable`) and
 *   `details.trace`
 * @throws InvalidOptionsError when `policy` is not a valid policy
 * @example
 * ```ts
 * const decision = selectRuntime(request, { defaultRuntime: 'crun', rules: [{ match: { containerName: ['db-*'] }, runtime: 'proxmox-lxc' }] });
 * const { runtime, reason, trace } = decision; // trace: one { step, outcome, detail } per precedence level and constraint
 * ```
 */
export function selectRuntime(
  request: NormalizedCreateContainerRequest,
  policy: RuntimePolicy | ResolvedRuntimePolicy,
  probes?: RuntimeProbeResults,
  context: RuntimeSelectionContext = {},
): RuntimeSelection {
  const resolved = parseRuntimePolicy(policy);
  const trace: RuntimeSelectionTraceEntry[] = [];
  const add = (entry: RuntimeSelectionTraceEntry): void => {
    trace.push(entry);
  };
  let decision: Decision | undefined;
  const describeDecision = (d: Decision): string =>
    d.source === 'handler' ? 'the runtime handler' : d.source === 'annotation' ? 'the annotation' : d.source === 'rule' ? 'a rule' : 'the default';
  const offer = (step: RuntimeSelectionStep, runtime: RuntimeName, source: RuntimeSelectionSource, explicit: boolean, what: string): void => {
    if (decision === undefined) {
      decision = { runtime, source, explicit, reason: what };
      add({ step, outcome: 'selected', runtime, detail: what });
    } else if (decision.runtime === runtime) {
      add({ step, outcome: 'agrees', runtime, detail: `${what}; agrees with ${describeDecision(decision)}, which decided first` });
    } else {
      add({
        step,
        outcome: 'overridden',
        runtime,
        detail: `${what}; but ${describeDecision(decision)} already chose ${decision.runtime} and takes precedence`,
      });
    }
  };

  // 1. runtime handler
  const imageHandler = request.config.image.runtimeHandler;
  const sandboxHandler = context.sandbox?.runtimeHandler ?? '';
  const handler = imageHandler || sandboxHandler;
  if (!handler) {
    add({ step: 'handler', outcome: 'skipped', detail: 'no runtime handler on the image spec or the sandbox (the default handler)' });
  } else {
    const where = imageHandler ? 'config.image.runtimeHandler' : "the sandbox's runtimeHandler";
    const runtime = Object.hasOwn(resolved.handlers, handler) ? resolved.handlers[handler] : undefined;
    if (runtime === undefined) {
      const known = Object.keys(resolved.handlers).map(quote).join(', ') || 'none';
      add({ step: 'handler', outcome: 'failed', detail: `runtime handler ${quote(handler)} (${where}) is not in the policy's handlers (${known})` });
      fail(`unknown runtime handler ${quote(handler)} (${where}); the policy knows ${known}`, 'unknown-handler', trace, 'InvalidArgument');
    }
    const ignored = imageHandler && sandboxHandler && sandboxHandler !== imageHandler ? `; the sandbox's handler ${quote(sandboxHandler)} is not used` : '';
    offer('handler', runtime, 'handler', true, `runtime handler ${quote(handler)} (${where}) maps to ${runtime}${ignored}`);
  }

  // 2. annotation on the container, then the pod
  const key = resolved.annotationKey;
  if (key === null) {
    add({ step: 'annotation', outcome: 'skipped', detail: 'the policy turns the annotation off (annotationKey: null)' });
  } else {
    const found: { where: 'container' | 'pod'; value: string; runtime: RuntimeName }[] = [];
    for (const [where, annotations] of [
      ['container', request.config.annotations],
      ['pod', request.sandboxConfig.annotations],
    ] as const) {
      if (!Object.hasOwn(annotations, key)) continue;
      const value = annotations[key] as string;
      const runtime = runtimeOfAnnotation(value, resolved);
      if (runtime === undefined) {
        add({ step: 'annotation', outcome: 'failed', detail: `annotation ${key}=${quote(value)} on the ${where} is not a runtime or a known handler` });
        fail(
          `annotation ${key}=${quote(value)} on the ${where} names no runtime: use ${RUNTIME_NAMES.map(quote).join(' or ')}, or a handler of the policy (${Object.keys(resolved.handlers).map(quote).join(', ')})`,
          'invalid-annotation',
          trace,
          'InvalidArgument',
        );
      }
      found.push({ where, value, runtime });
    }
    const [first, second] = found;
    if (first === undefined) {
      add({ step: 'annotation', outcome: 'skipped', detail: `no annotation ${key} on the container or the pod` });
    } else {
      const shadow = second && second.runtime !== first.runtime ? `; the pod's ${key}=${quote(second.value)} is not used (the container's annotation comes first)` : '';
      offer('annotation', first.runtime, 'annotation', true, `annotation ${key}=${quote(first.value)} on the ${first.where} asks for ${first.runtime}${shadow}`);
    }
  }

  // 3. rules
  if (resolved.rules.length === 0) {
    add({ step: 'rules', outcome: 'skipped', detail: 'the policy has no rules' });
  } else {
    const subject: RuleSubject = {
      images: [request.config.image.userSpecifiedImage, request.config.image.image].filter((image, i, all) => image !== '' && all.indexOf(image) === i),
      containerName: request.config.metadata.name,
      podName: request.sandboxConfig.metadata.name,
      podNamespace: request.sandboxConfig.metadata.namespace,
      labels: { ...request.sandboxConfig.labels, ...request.config.labels },
      annotations: { ...request.sandboxConfig.annotations, ...request.config.annotations },
    };
    let matched = false;
    for (const [index, rule] of resolved.rules.entries()) {
      const reasons = matchRule(rule, subject);
      if (reasons === undefined) continue;
      matched = true;
      offer('rules', rule.runtime, 'rule', false, `rule ${quote(rule.name ?? `rules[${index}]`)} matched (${reasons.join(', ')}) and selects ${rule.runtime}`);
      break;
    }
    if (!matched) add({ step: 'rules', outcome: 'no-match', detail: `none of the ${resolved.rules.length} rules matched` });
  }

  // 4. default
  if (decision === undefined) {
    offer('default', resolved.defaultRuntime, 'default', false, `no handler, annotation or rule decided: the policy's defaultRuntime is ${resolved.defaultRuntime}`);
  } else {
    add({ step: 'default', outcome: 'skipped', detail: `not needed: ${describeDecision(decision)} decided (defaultRuntime is ${resolved.defaultRuntime})` });
  }
  const chosen = decision as unknown as Decision;
  let runtime = chosen.runtime;
  const notes: string[] = [];
  const { fallback } = resolved;
  const mayOverride = !chosen.explicit || fallback.overrideExplicit;
  const explicitWhat = chosen.source === 'handler' ? 'the runtime handler' : 'the annotation';

  // Constraint 1: privileged
  const privileged = request.config.linux.securityContext.privileged;
  const privilegedPolicy: PrivilegedPolicy = privileged ? resolved.privileged : 'any';
  if (!privileged) {
    add({ step: 'privileged', outcome: 'skipped', detail: 'the container is not privileged' });
  } else if (resolved.privileged === 'reject') {
    add({ step: 'privileged', outcome: 'failed', detail: 'the container is privileged and the policy rejects privileged containers (privileged: "reject")' });
    fail('privileged containers are rejected by the runtime policy (privileged: "reject")', 'privileged-rejected', trace, 'PermissionDenied', runtime);
  } else if (privilegedAllows(resolved.privileged, runtime)) {
    add({ step: 'privileged', outcome: 'passed', runtime, detail: `the container is privileged and the policy allows that on ${runtime} (privileged: ${quote(resolved.privileged)})` });
  } else {
    const target = resolved.privileged as RuntimeName;
    if (!mayOverride) {
      add({ step: 'privileged', outcome: 'failed', runtime, detail: `the container is privileged, the policy runs privileged containers only on ${target}, and ${explicitWhat} asked for ${runtime}` });
      fail(
        `${explicitWhat} asks for ${runtime}, but the runtime policy runs privileged containers only on ${target} (privileged: ${quote(target)})`,
        'privileged-conflict',
        trace,
        'FailedPrecondition',
        runtime,
      );
    }
    add({ step: 'privileged', outcome: 'changed', runtime: target, detail: `the container is privileged and the policy runs privileged containers only on ${target}: moved from ${runtime}` });
    notes.push(`moved to ${target} because privileged containers run only there`);
    runtime = target;
  }
  let fellBack = false;

  // Constraint 2: what LXC can honour
  if (runtime === 'crun') {
    add({ step: 'compatibility', outcome: 'passed', runtime, detail: 'no LXC-specific constraints apply to crun' });
  } else {
    const problems = lxcProblems(request, context, probes);
    if (problems.length === 0) {
      add({ step: 'compatibility', outcome: 'passed', runtime, detail: 'Proxmox VE LXC can honour the request' });
    } else {
      const list = problems.join('; ');
      add({ step: 'compatibility', outcome: 'failed', runtime, detail: `Proxmox VE LXC cannot honour: ${list}` });
      const why = !fallback.onUnsupported
        ? 'the policy allows no fallback (fallback.onUnsupported is false)'
        : !mayOverride
          ? `${explicitWhat} asked for proxmox-lxc explicitly (fallback.overrideExplicit is false)`
          : !privilegedAllows(privilegedPolicy, 'crun')
            ? 'privileged containers run only on proxmox-lxc'
            : undefined;
      if (why !== undefined) {
        fail(`proxmox-lxc cannot honour the request: ${list}; no fallback: ${why}`, 'unsupported', trace, 'FailedPrecondition', runtime);
      }
      add({ step: 'fallback', outcome: 'changed', runtime: 'crun', detail: 'fallback.onUnsupported: moved to crun' });
      notes.push(`fell back to crun because proxmox-lxc cannot honour ${problems.length === 1 ? 'one requirement' : `${problems.length} requirements`}`);
      runtime = 'crun';
      fellBack = true;
    }
  }

  // Constraint 3: availability
  const probeFor = (r: RuntimeName): { available: boolean; detail: string } | undefined => probes?.[r];
  const probe = probeFor(runtime);
  if (probes === undefined) {
    add({ step: 'availability', outcome: 'unchecked', runtime, detail: 'no probe results were given: availability was not checked' });
  } else if (probe === undefined) {
    add({ step: 'availability', outcome: 'unchecked', runtime, detail: `no probe result for ${runtime}: availability was not checked` });
  } else if (probe.available) {
    add({ step: 'availability', outcome: 'passed', runtime, detail: `${runtime} is available: ${probe.detail}` });
  } else {
    add({ step: 'availability', outcome: 'failed', runtime, detail: `${runtime} is unavailable: ${probe.detail}` });
    const target = other(runtime);
    const targetProbe = probeFor(target);
    const why = !fallback.onUnavailable
      ? 'the policy allows no fallback (fallback.onUnavailable is false)'
      : fellBack
        ? 'a fallback already happened'
        : !mayOverride
          ? `${explicitWhat} asked for ${runtime} explicitly (fallback.overrideExplicit is false)`
          : !privilegedAllows(privilegedPolicy, target)
            ? `privileged containers run only on ${runtime}`
            : targetProbe === undefined
              ? `${target} was not probed`
              : !targetProbe.available
                ? `${target} is unavailable too (${targetProbe.detail})`
                : target === 'proxmox-lxc' && lxcProblems(request, context, probes).length > 0
                  ? `proxmox-lxc cannot honour the request: ${lxcProblems(request, context, probes).join('; ')}`
                  : undefined;
    if (why !== undefined) {
      fail(`${runtime} is unavailable (${probe.detail}); no fallback: ${why}`, 'unavailable', trace, 'Unavailable', runtime);
    }
    add({ step: 'fallback', outcome: 'changed', runtime: target, detail: `fallback.onUnavailable: moved to ${target}, which is available (${(targetProbe as { detail: string }).detail})` });
    notes.push(`fell back to ${target} because ${runtime} is unavailable`);
    runtime = target;
  }

  const reason = `${chosen.reason}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
  return { runtime, reason, source: chosen.source, changed: notes.length > 0, trace };
}
