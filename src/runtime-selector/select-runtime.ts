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

/** What the precedence levels decided, before any constraint. */
interface Decision {
  runtime: RuntimeName;
  source: RuntimeSelectionSource;
  /** Asked for by the runtime handler or the annotation: constraints move it only with `fallback.overrideExplicit`. */
  explicit: boolean;
  reason: string;
}

/** What the selection reads: the request, the parsed policy, the probe results and the pod's facts. */
interface SelectionInput {
  request: NormalizedCreateContainerRequest;
  policy: ResolvedRuntimePolicy;
  probes: RuntimeProbeResults | undefined;
  context: RuntimeSelectionContext;
}

/** Why a step ends the selection: what its {@link RuntimeSelectionError} says. */
interface Refusal {
  message: string;
  reason: 'unknown-handler' | 'invalid-annotation' | 'privileged-rejected' | 'privileged-conflict' | 'unsupported' | 'unavailable';
  grpcStatus: GrpcStatus;
  runtime?: RuntimeName;
}

/**
 * What a step returns: its trace entry with what it found (`T`), or a refusal, after the step's
 * own trace entry when it has one.
 */
type Step<T> = (T & { entry: RuntimeSelectionTraceEntry; refusal?: undefined }) | { entry?: RuntimeSelectionTraceEntry; refusal: Refusal };

/** The trace, assembled from the steps' results in the order they run. */
class SelectionTrace {
  readonly entries: RuntimeSelectionTraceEntry[] = [];

  /** Appends the step's entry and returns what it found; throws its refusal with the trace so far. */
  record<T>(step: Step<T>): T {
    if (step.entry) this.entries.push(step.entry);
    if (step.refusal) {
      const { message, reason, grpcStatus, runtime } = step.refusal;
      throw new RuntimeSelectionError(message, { ...(runtime ? { runtime } : {}), reason, trace: this.entries.map((entry) => ({ ...entry })) }, { grpcStatus });
    }
    return step;
  }
}

const quote = (value: string): string => JSON.stringify(value);
const other = (runtime: RuntimeName): RuntimeName => (runtime === 'crun' ? 'proxmox-lxc' : 'crun');
const probeOf = (probes: RuntimeProbeResults | undefined, runtime: RuntimeName): { available: boolean; detail: string } | undefined => probes?.[runtime];

/** Maps an annotation value to a runtime: a runtime name, or a handler name from the policy. */
function runtimeOfAnnotation(value: string, policy: ResolvedRuntimePolicy): RuntimeName | undefined {
  const named = RUNTIME_NAMES.find((name) => name === value);
  if (named !== undefined) return named;
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

/** What rules match against: the image names, the names, and the labels and annotations (the container's over the pod's). */
function ruleSubject(request: NormalizedCreateContainerRequest): RuleSubject {
  return {
    images: [request.config.image.userSpecifiedImage, request.config.image.image].filter((image, i, all) => image !== '' && all.indexOf(image) === i),
    containerName: request.config.metadata.name,
    podName: request.sandboxConfig.metadata.name,
    podNamespace: request.sandboxConfig.metadata.namespace,
    labels: { ...request.sandboxConfig.labels, ...request.config.labels },
    annotations: { ...request.sandboxConfig.annotations, ...request.config.annotations },
  };
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

/** The namespaces the request shares with the host, another container or the pod that an LXC container cannot, as phrases. */
function lxcNamespaceProblems(request: NormalizedCreateContainerRequest, context: RuntimeSelectionContext): string[] {
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
  return problems;
}

/** The devices and mounts Proxmox VE cannot give an LXC container (or not to the identity the probe found), as phrases. */
function lxcPassthroughProblems(request: NormalizedCreateContainerRequest, probes: RuntimeProbeResults | undefined): string[] {
  const problems: string[] = [];
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

/**
 * Everything in the request that a Proxmox VE LXC container cannot honour, as phrases.
 * Empty when LXC can run it.
 */
function lxcProblems(request: NormalizedCreateContainerRequest, context: RuntimeSelectionContext, probes: RuntimeProbeResults | undefined): string[] {
  return [...lxcNamespaceProblems(request, context), ...lxcPassthroughProblems(request, probes)];
}

function privilegedAllows(policy: PrivilegedPolicy, runtime: RuntimeName): boolean {
  return policy === 'any' || policy === runtime;
}

// ---------------------------------------------------------------------------------------------
// Precedence levels: each returns its trace entry and the decision so far.

/** A precedence level's result; `decision` is the higher levels' decision, or this level's when it selected. */
type Level = Step<{ decision: Decision | undefined }>;

/** How the trace names each precedence level when it decided. */
const DECIDED_BY: Record<RuntimeSelectionSource, string> = { handler: 'the runtime handler', annotation: 'the annotation', rule: 'a rule', default: 'the default' };

/** How errors name the level that asked for a runtime explicitly. */
const explicitly = (decision: Decision): string => (decision.source === 'handler' ? 'the runtime handler' : 'the annotation');

/** A level's opinion: it selects when no higher level decided, else it agrees or is overridden. */
function offer(step: RuntimeSelectionStep, candidate: Decision, decided: Decision | undefined): { entry: RuntimeSelectionTraceEntry; decision: Decision } {
  const { runtime, reason: what } = candidate;
  if (decided === undefined) return { entry: { step, outcome: 'selected', runtime, detail: what }, decision: candidate };
  if (decided.runtime === runtime) {
    return { entry: { step, outcome: 'agrees', runtime, detail: `${what}; agrees with ${DECIDED_BY[decided.source]}, which decided first` }, decision: decided };
  }
  return {
    entry: { step, outcome: 'overridden', runtime, detail: `${what}; but ${DECIDED_BY[decided.source]} already chose ${decided.runtime} and takes precedence` },
    decision: decided,
  };
}

/** Level 1: the runtime handler of the image spec, else of the sandbox, mapped through `policy.handlers`. */
function handlerLevel({ request, policy, context }: SelectionInput): Level {
  const imageHandler = request.config.image.runtimeHandler;
  const sandboxHandler = context.sandbox?.runtimeHandler ?? '';
  const handler = imageHandler || sandboxHandler;
  if (!handler) return { entry: { step: 'handler', outcome: 'skipped', detail: 'no runtime handler on the image spec or the sandbox (the default handler)' }, decision: undefined };
  const where = imageHandler ? 'config.image.runtimeHandler' : "the sandbox's runtimeHandler";
  const runtime = Object.hasOwn(policy.handlers, handler) ? policy.handlers[handler] : undefined;
  if (runtime === undefined) {
    const known = Object.keys(policy.handlers).map(quote).join(', ') || 'none';
    return {
      entry: { step: 'handler', outcome: 'failed', detail: `runtime handler ${quote(handler)} (${where}) is not in the policy's handlers (${known})` },
      refusal: { message: `unknown runtime handler ${quote(handler)} (${where}); the policy knows ${known}`, reason: 'unknown-handler', grpcStatus: 'InvalidArgument' },
    };
  }
  const ignored = imageHandler && sandboxHandler && sandboxHandler !== imageHandler ? `; the sandbox's handler ${quote(sandboxHandler)} is not used` : '';
  return offer('handler', { runtime, source: 'handler', explicit: true, reason: `runtime handler ${quote(handler)} (${where}) maps to ${runtime}${ignored}` }, undefined);
}

/** Level 2: the annotation `policy.annotationKey` on the container, then on the pod. */
function annotationLevel({ request, policy }: SelectionInput, decided: Decision | undefined): Level {
  const key = policy.annotationKey;
  if (key === null) return { entry: { step: 'annotation', outcome: 'skipped', detail: 'the policy turns the annotation off (annotationKey: null)' }, decision: decided };
  const found: { where: 'container' | 'pod'; value: string; runtime: RuntimeName }[] = [];
  for (const [where, annotations] of [
    ['container', request.config.annotations],
    ['pod', request.sandboxConfig.annotations],
  ] as const) {
    if (!Object.hasOwn(annotations, key)) continue;
    const value = annotations[key] as string;
    const runtime = runtimeOfAnnotation(value, policy);
    if (runtime === undefined) {
      const handlers = Object.keys(policy.handlers).map(quote).join(', ');
      return {
        entry: { step: 'annotation', outcome: 'failed', detail: `annotation ${key}=${quote(value)} on the ${where} is not a runtime or a known handler` },
        refusal: {
          message: `annotation ${key}=${quote(value)} on the ${where} names no runtime: use ${RUNTIME_NAMES.map(quote).join(' or ')}, or a handler of the policy (${handlers})`,
          reason: 'invalid-annotation',
          grpcStatus: 'InvalidArgument',
        },
      };
    }
    found.push({ where, value, runtime });
  }
  const [first, second] = found;
  if (first === undefined) return { entry: { step: 'annotation', outcome: 'skipped', detail: `no annotation ${key} on the container or the pod` }, decision: decided };
  const shadow = second && second.runtime !== first.runtime ? `; the pod's ${key}=${quote(second.value)} is not used (the container's annotation comes first)` : '';
  return offer('annotation', { runtime: first.runtime, source: 'annotation', explicit: true, reason: `annotation ${key}=${quote(first.value)} on the ${first.where} asks for ${first.runtime}${shadow}` }, decided);
}

/** Level 3: the first of `policy.rules` whose criteria all match. */
function rulesLevel({ request, policy }: SelectionInput, decided: Decision | undefined): Level {
  if (policy.rules.length === 0) return { entry: { step: 'rules', outcome: 'skipped', detail: 'the policy has no rules' }, decision: decided };
  const subject = ruleSubject(request);
  for (const [index, rule] of policy.rules.entries()) {
    const reasons = matchRule(rule, subject);
    if (reasons === undefined) continue;
    const reason = `rule ${quote(rule.name ?? `rules[${index}]`)} matched (${reasons.join(', ')}) and selects ${rule.runtime}`;
    return offer('rules', { runtime: rule.runtime, source: 'rule', explicit: false, reason }, decided);
  }
  return { entry: { step: 'rules', outcome: 'no-match', detail: `none of the ${policy.rules.length} rules matched` }, decision: decided };
}

/** Level 4: `policy.defaultRuntime`, when no higher level decided; always ends with a decision. */
function defaultLevel({ policy }: SelectionInput, decided: Decision | undefined): Step<{ decision: Decision }> {
  const runtime = policy.defaultRuntime;
  if (decided === undefined) {
    return offer('default', { runtime, source: 'default', explicit: false, reason: `no handler, annotation or rule decided: the policy's defaultRuntime is ${runtime}` }, undefined);
  }
  return { entry: { step: 'default', outcome: 'skipped', detail: `not needed: ${DECIDED_BY[decided.source]} decided (defaultRuntime is ${runtime})` }, decision: decided };
}

// ---------------------------------------------------------------------------------------------
// Constraints: each returns its trace entry and where the container goes now.

/** Where the container goes while the constraints run. */
interface Placement {
  runtime: RuntimeName;
  /** One phrase per move away from the decided runtime, for the reason. */
  notes: readonly string[];
  /** A fallback moved it (at most one happens). */
  fellBack: boolean;
}

/** What the constraints know about the decision. */
interface Choice {
  decision: Decision;
  /** A constraint may move the container: the decision was not explicit, or `fallback.overrideExplicit` is set. */
  mayOverride: boolean;
  /** Where the container may run as far as privilege goes: `policy.privileged` when it is privileged, else `any`. */
  privileged: PrivilegedPolicy;
}

type Constraint = Step<{ placement: Placement }>;

const moveTo = (placement: Placement, runtime: RuntimeName, note: string, fellBack: boolean): Placement => ({ runtime, notes: [...placement.notes, note], fellBack });

/** Constraint 1: a privileged container runs only where `policy.privileged` lets it, or is refused. */
function privilegedConstraint({ request, policy }: SelectionInput, choice: Choice, placement: Placement): Constraint {
  const { runtime } = placement;
  const only = policy.privileged;
  if (!request.config.linux.securityContext.privileged) return { entry: { step: 'privileged', outcome: 'skipped', detail: 'the container is not privileged' }, placement };
  if (only === 'reject') {
    return {
      entry: { step: 'privileged', outcome: 'failed', detail: 'the container is privileged and the policy rejects privileged containers (privileged: "reject")' },
      refusal: { message: 'privileged containers are rejected by the runtime policy (privileged: "reject")', reason: 'privileged-rejected', grpcStatus: 'PermissionDenied', runtime },
    };
  }
  if (only === 'any' || only === runtime) {
    return { entry: { step: 'privileged', outcome: 'passed', runtime, detail: `the container is privileged and the policy allows that on ${runtime} (privileged: ${quote(only)})` }, placement };
  }
  if (!choice.mayOverride) {
    const what = explicitly(choice.decision);
    return {
      entry: { step: 'privileged', outcome: 'failed', runtime, detail: `the container is privileged, the policy runs privileged containers only on ${only}, and ${what} asked for ${runtime}` },
      refusal: {
        message: `${what} asks for ${runtime}, but the runtime policy runs privileged containers only on ${only} (privileged: ${quote(only)})`,
        reason: 'privileged-conflict',
        grpcStatus: 'FailedPrecondition',
        runtime,
      },
    };
  }
  return {
    entry: { step: 'privileged', outcome: 'changed', runtime: only, detail: `the container is privileged and the policy runs privileged containers only on ${only}: moved from ${runtime}` },
    placement: moveTo(placement, only, `moved to ${only} because privileged containers run only there`, placement.fellBack),
  };
}

/** Constraint 2: what Proxmox VE LXC can honour (nothing applies to crun); `problems` is empty when it passed. */
function compatibilityConstraint({ request, context, probes }: SelectionInput, placement: Placement): Step<{ problems: string[] }> {
  const { runtime } = placement;
  if (runtime === 'crun') return { entry: { step: 'compatibility', outcome: 'passed', runtime, detail: 'no LXC-specific constraints apply to crun' }, problems: [] };
  const problems = lxcProblems(request, context, probes);
  if (problems.length === 0) return { entry: { step: 'compatibility', outcome: 'passed', runtime, detail: 'Proxmox VE LXC can honour the request' }, problems };
  return { entry: { step: 'compatibility', outcome: 'failed', runtime, detail: `Proxmox VE LXC cannot honour: ${problems.join('; ')}` }, problems };
}

/** Why `fallback.onUnsupported` cannot move the container to crun, or `undefined` when it can. */
function noUnsupportedFallback({ policy }: SelectionInput, choice: Choice): string | undefined {
  if (!policy.fallback.onUnsupported) return 'the policy allows no fallback (fallback.onUnsupported is false)';
  if (!choice.mayOverride) return `${explicitly(choice.decision)} asked for proxmox-lxc explicitly (fallback.overrideExplicit is false)`;
  if (!privilegedAllows(choice.privileged, 'crun')) return 'privileged containers run only on proxmox-lxc';
  return undefined;
}

/** After constraint 2 failed: the fallback to crun, or the refusal. */
function unsupportedFallback(input: SelectionInput, choice: Choice, placement: Placement, problems: readonly string[]): Constraint {
  const why = noUnsupportedFallback(input, choice);
  if (why !== undefined) {
    return {
      refusal: { message: `proxmox-lxc cannot honour the request: ${problems.join('; ')}; no fallback: ${why}`, reason: 'unsupported', grpcStatus: 'FailedPrecondition', runtime: placement.runtime },
    };
  }
  const count = problems.length === 1 ? 'one requirement' : `${problems.length} requirements`;
  return {
    entry: { step: 'fallback', outcome: 'changed', runtime: 'crun', detail: 'fallback.onUnsupported: moved to crun' },
    placement: moveTo(placement, 'crun', `fell back to crun because proxmox-lxc cannot honour ${count}`, true),
  };
}

/** Constraint 3: the runtime's probe answered (unchecked without a probe result); `unavailable` is the probe's detail when it failed. */
function availabilityConstraint({ probes }: SelectionInput, placement: Placement): Step<{ unavailable?: string }> {
  const { runtime } = placement;
  const probe = probeOf(probes, runtime);
  if (probes === undefined) return { entry: { step: 'availability', outcome: 'unchecked', runtime, detail: 'no probe results were given: availability was not checked' } };
  if (probe === undefined) return { entry: { step: 'availability', outcome: 'unchecked', runtime, detail: `no probe result for ${runtime}: availability was not checked` } };
  if (probe.available) return { entry: { step: 'availability', outcome: 'passed', runtime, detail: `${runtime} is available: ${probe.detail}` } };
  return { entry: { step: 'availability', outcome: 'failed', runtime, detail: `${runtime} is unavailable: ${probe.detail}` }, unavailable: probe.detail };
}

/** After constraint 3 failed: the fallback to the other runtime when it can take the container, or the refusal. */
function unavailableFallback(input: SelectionInput, choice: Choice, placement: Placement, detail: string): Constraint {
  const { runtime } = placement;
  const target = other(runtime);
  const refuse = (why: string): Constraint => ({
    refusal: { message: `${runtime} is unavailable (${detail}); no fallback: ${why}`, reason: 'unavailable', grpcStatus: 'Unavailable', runtime },
  });
  if (!input.policy.fallback.onUnavailable) return refuse('the policy allows no fallback (fallback.onUnavailable is false)');
  if (placement.fellBack) return refuse('a fallback already happened');
  if (!choice.mayOverride) return refuse(`${explicitly(choice.decision)} asked for ${runtime} explicitly (fallback.overrideExplicit is false)`);
  if (!privilegedAllows(choice.privileged, target)) return refuse(`privileged containers run only on ${runtime}`);
  const targetProbe = probeOf(input.probes, target);
  if (targetProbe === undefined) return refuse(`${target} was not probed`);
  if (!targetProbe.available) return refuse(`${target} is unavailable too (${targetProbe.detail})`);
  const problems = target === 'proxmox-lxc' ? lxcProblems(input.request, input.context, input.probes) : [];
  if (problems.length > 0) return refuse(`proxmox-lxc cannot honour the request: ${problems.join('; ')}`);
  return {
    entry: { step: 'fallback', outcome: 'changed', runtime: target, detail: `fallback.onUnavailable: moved to ${target}, which is available (${targetProbe.detail})` },
    placement: moveTo(placement, target, `fell back to ${target} because ${runtime} is unavailable`, true),
  };
}

// ---------------------------------------------------------------------------------------------
// The selection

/** The precedence levels in order: the first with an answer decides, the others are recorded. */
function decide(input: SelectionInput, trace: SelectionTrace): Decision {
  const byHandler = trace.record(handlerLevel(input)).decision;
  const byAnnotation = trace.record(annotationLevel(input, byHandler)).decision;
  const byRule = trace.record(rulesLevel(input, byAnnotation)).decision;
  return trace.record(defaultLevel(input, byRule)).decision;
}

/** The constraints in order, each of which may refuse or move the container (a fallback at most once). */
function constrain(input: SelectionInput, decision: Decision, trace: SelectionTrace): Placement {
  const choice: Choice = {
    decision,
    mayOverride: !decision.explicit || input.policy.fallback.overrideExplicit,
    privileged: input.request.config.linux.securityContext.privileged ? input.policy.privileged : 'any',
  };
  let placement: Placement = { runtime: decision.runtime, notes: [], fellBack: false };
  placement = trace.record(privilegedConstraint(input, choice, placement)).placement;
  const { problems } = trace.record(compatibilityConstraint(input, placement));
  if (problems.length > 0) placement = trace.record(unsupportedFallback(input, choice, placement, problems)).placement;
  const { unavailable } = trace.record(availabilityConstraint(input, placement));
  if (unavailable !== undefined) placement = trace.record(unavailableFallback(input, choice, placement, unavailable)).placement;
  return placement;
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
  const input: SelectionInput = { request, policy: parseRuntimePolicy(policy), probes, context };
  const trace = new SelectionTrace();
  const decision = decide(input, trace);
  const { runtime, notes } = constrain(input, decision, trace);
  const reason = `${decision.reason}${notes.length > 0 ? `; ${notes.join('; ')}` : ''}`;
  return { runtime, reason, source: decision.source, changed: notes.length > 0, trace: trace.entries };
}
