/**
 * The runtime policy: which runtime (`crun` or `proxmox-lxc`) a container gets, as data.
 *
 * The zod schema below is the single source of truth; {@link RuntimePolicy} is what users write
 * (every key optional, unknown keys rejected), {@link ResolvedRuntimePolicy} is the same policy
 * with every default filled in. See `docs/runtime-selection.md` for the precedence.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { AbortedError, InvalidOptionsError } from '../errors.js';
import { checkGlob } from './glob.js';
import { formatPath } from '../internal/format-path.js';

/** The runtimes a container can be given. */
export const RUNTIME_NAMES = ['crun', 'proxmox-lxc'] as const;

/**
 * A runtime: `crun` is the OCI runtime on the node (crun or runc, whichever binary the crun
 * driver is configured with); `proxmox-lxc` is a Proxmox VE LXC container.
 */
export type RuntimeName = (typeof RUNTIME_NAMES)[number];

/** How privileged containers (`linux.securityContext.privileged: true`) are treated. */
export const PRIVILEGED_POLICIES = ['any', 'crun', 'proxmox-lxc', 'reject'] as const;

/**
 * `any`: no constraint; `crun` / `proxmox-lxc`: privileged containers run only there;
 * `reject`: privileged containers are refused.
 */
export type PrivilegedPolicy = (typeof PRIVILEGED_POLICIES)[number];

/** The handler map used when a policy does not give one. */
export const DEFAULT_RUNTIME_HANDLERS: Readonly<Record<string, RuntimeName>> = Object.freeze({
  crun: 'crun',
  runc: 'crun',
  proxmox: 'proxmox-lxc',
  lxc: 'proxmox-lxc',
  'proxmox-lxc': 'proxmox-lxc',
});

/** The annotation that asks for a runtime when a policy does not name another key. */
export const DEFAULT_RUNTIME_ANNOTATION = 'lxcri.io/runtime';

const runtimeSchema = z.enum(RUNTIME_NAMES, { error: () => `must be one of ${RUNTIME_NAMES.map((r) => `"${r}"`).join(', ')}` });

/** A RuntimeClass handler name is a DNS label (Kubernetes `RuntimeClass.handler`). */
const HANDLER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const handlerNameSchema = z
  .string()
  .max(63, 'a runtime handler name has at most 63 characters')
  .regex(HANDLER_NAME, 'a runtime handler name is a DNS label: lower-case letters, digits and "-", starting and ending alphanumeric');

/** Kubernetes qualified name: optional DNS-subdomain prefix and "/", then a name of at most 63 characters. */
const QUALIFIED_NAME = /^(?:(?=.{1,253}\/)[a-z0-9]([-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(?=.{1,63}$)[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const annotationKeySchema = z
  .string()
  .regex(QUALIFIED_NAME, 'must be a Kubernetes annotation key such as "lxcri.io/runtime" (optional DNS prefix and "/", then a name of at most 63 characters)');

const globSchema = z.string().superRefine((value, ctx) => {
  const problem = checkGlob(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `invalid glob ${JSON.stringify(value)}: ${problem}` });
});

/** One glob, or a non-empty list of globs of which any may match. */
const globListSchema = z
  .union([globSchema, z.array(globSchema).min(1, 'give at least one glob')], { error: () => 'must be a glob string or a non-empty array of glob strings' })
  .transform((value) => (Array.isArray(value) ? value : [value]));

const labelKeySchema = z
  .string()
  .regex(QUALIFIED_NAME, 'must be a Kubernetes label or annotation key (optional DNS prefix and "/", then a name of at most 63 characters)');
const globMapSchema = z.record(labelKeySchema, globListSchema);

const ruleMatchSchema = z
  .strictObject({
    /**
     * Globs for the image reference: `config.image.userSpecifiedImage` and `config.image.image`
     * are both tried (either may match), as written in the request.
     */
    image: globListSchema.optional(),
    /** Globs for the container name, `config.metadata.name`. */
    containerName: globListSchema.optional(),
    /** Globs for the pod name, `sandboxConfig.metadata.name`. */
    podName: globListSchema.optional(),
    /** Globs for the pod namespace, `sandboxConfig.metadata.namespace`. */
    podNamespace: globListSchema.optional(),
    /** Label key → globs for its value; the container's labels are merged over the pod's. Every key must be present and match. */
    labels: globMapSchema.optional(),
    /** Annotation key → globs for its value; the container's annotations are merged over the pod's. Every key must be present and match. */
    annotations: globMapSchema.optional(),
  })
  .refine((m) => Object.values(m).some((v) => v !== undefined), {
    message: 'a rule needs at least one criterion (image, containerName, podName, podNamespace, labels, annotations); use defaultRuntime for a catch-all',
  });

const ruleSchema = z.strictObject({
  /** A name for the rule, shown in the trace. @defaultValue `rules[<index>]` */
  name: z.string().min(1).max(253).optional(),
  /** What the rule matches: every criterion given must match (AND); a list of globs is any-of (OR). */
  match: ruleMatchSchema,
  /** The runtime the rule selects. */
  runtime: runtimeSchema,
});

const fallbackSchema = z.strictObject({
  onUnavailable: z.boolean().default(false),
  onUnsupported: z.boolean().default(false),
  overrideExplicit: z.boolean().default(false),
});

/**
 * The zod schema of a runtime policy (strict: unknown keys are rejected).
 */
export const runtimePolicySchema = z.strictObject({
  defaultRuntime: runtimeSchema.default('crun'),
  handlers: z.record(handlerNameSchema, runtimeSchema).default({ ...DEFAULT_RUNTIME_HANDLERS }),
  annotationKey: z.union([annotationKeySchema, z.null()]).default(DEFAULT_RUNTIME_ANNOTATION),
  rules: z.array(ruleSchema).default([]),
  privileged: z.enum(PRIVILEGED_POLICIES, { error: () => `must be one of ${PRIVILEGED_POLICIES.map((r) => `"${r}"`).join(', ')}` }).default('any'),
  fallback: fallbackSchema.prefault({}),
});

/** What a policy rule matches on, as written. */
export interface RuntimeRuleMatch {
  /** Globs for the image reference: `config.image.userSpecifiedImage` and `config.image.image` are both tried. */
  image?: string | string[];
  /** Globs for the container name, `config.metadata.name`. */
  containerName?: string | string[];
  /** Globs for the pod name, `sandboxConfig.metadata.name`. */
  podName?: string | string[];
  /** Globs for the pod namespace, `sandboxConfig.metadata.namespace`. */
  podNamespace?: string | string[];
  /** Label key → globs for its value (container labels merged over pod labels); every key must be present and match. */
  labels?: Record<string, string | string[]>;
  /** Annotation key → globs for its value (container annotations merged over pod annotations); every key must be present and match. */
  annotations?: Record<string, string | string[]>;
}

/** One ordered routing rule, as written. */
export interface RuntimeRule {
  /**
   * A name shown in the trace.
   * @defaultValue `rules[<index>]`
   */
  name?: string;
  /** Every criterion given must match (AND); a list of globs matches when any glob does (OR). At least one criterion. */
  match: RuntimeRuleMatch;
  /** The runtime this rule selects. */
  runtime: RuntimeName;
}

/** When the policy allows switching to the other runtime after a constraint fails. */
export interface RuntimeFallbackPolicy {
  /**
   * Switch to the other runtime when the chosen one is unavailable (its probe failed) and the
   * other one is probed available and can honour the request.
   * @defaultValue `false`
   */
  onUnavailable?: boolean;
  /**
   * Switch from `proxmox-lxc` to `crun` when LXC cannot honour the request (shared or host
   * namespaces, device passthrough without root@pam, bidirectional propagation, ...).
   * @defaultValue `false`
   */
  onUnsupported?: boolean;
  /**
   * Let the fallbacks above (and the privileged routing) also override a runtime that was asked
   * for explicitly, by the runtime handler or the annotation. Off by default: an explicit request
   * that cannot be honoured is an error.
   * @defaultValue `false`
   */
  overrideExplicit?: boolean;
}

/**
 * A runtime policy as users write it (a JSON file or an object). Every key is optional; unknown
 * keys are rejected.
 *
 * Precedence: (1) the runtime handler mapped through {@link RuntimePolicy.handlers};
 * (2) the annotation {@link RuntimePolicy.annotationKey} on the container, then on the pod;
 * (3) the first matching {@link RuntimePolicy.rules | rule}; (4) {@link RuntimePolicy.defaultRuntime}.
 * Then the constraints: privileged policy, what LXC can honour, availability — each an error or,
 * where {@link RuntimePolicy.fallback} allows it, a switch to the other runtime.
 */
export interface RuntimePolicy {
  /**
   * The runtime used when no handler, annotation or rule decides.
   * @defaultValue `'crun'`
   */
  defaultRuntime?: RuntimeName;
  /**
   * CRI runtime handler (RuntimeClass `handler`) → runtime. A handler that is not listed is an
   * error. An empty handler means "the default handler" and skips this step. Replaces the
   * default map when given.
   * @defaultValue `{ crun: 'crun', runc: 'crun', proxmox: 'proxmox-lxc', lxc: 'proxmox-lxc', 'proxmox-lxc': 'proxmox-lxc' }`
   */
  handlers?: Record<string, RuntimeName>;
  /**
   * The annotation that asks for a runtime, read on the container, then on the pod. Its value is
   * a runtime name or a handler name from {@link RuntimePolicy.handlers}; anything else is an
   * error. `null` turns the step off.
   * @defaultValue `'lxcri.io/runtime'`
   */
  annotationKey?: string | null;
  /**
   * Ordered routing rules; the first that matches decides.
   * @defaultValue `[]`
   */
  rules?: RuntimeRule[];
  /**
   * Where privileged containers may run: `any` (no constraint), `crun`, `proxmox-lxc`, or
   * `reject`. When a rule or the default chose the other runtime, the container is moved; when
   * the handler or annotation did, it is an error unless `fallback.overrideExplicit`.
   * @defaultValue `'any'`
   */
  privileged?: PrivilegedPolicy;
  /**
   * Which fallbacks are allowed after a constraint fails.
   * @defaultValue `{ onUnavailable: false, onUnsupported: false, overrideExplicit: false }`
   */
  fallback?: RuntimeFallbackPolicy;
}

/** A rule after parsing: glob lists are arrays. */
export interface ResolvedRuntimeRule {
  /** The rule's name, if it was given one. */
  name?: string | undefined;
  /** The criteria; every given one must match. */
  match: {
    image?: string[] | undefined;
    containerName?: string[] | undefined;
    podName?: string[] | undefined;
    podNamespace?: string[] | undefined;
    labels?: Record<string, string[]> | undefined;
    annotations?: Record<string, string[]> | undefined;
  };
  /** The runtime it selects. */
  runtime: RuntimeName;
}

/** A policy after parsing, with every default filled in. */
export interface ResolvedRuntimePolicy {
  /** See {@link RuntimePolicy.defaultRuntime}. */
  defaultRuntime: RuntimeName;
  /** See {@link RuntimePolicy.handlers}. */
  handlers: Record<string, RuntimeName>;
  /** See {@link RuntimePolicy.annotationKey}. */
  annotationKey: string | null;
  /** See {@link RuntimePolicy.rules}. */
  rules: ResolvedRuntimeRule[];
  /** See {@link RuntimePolicy.privileged}. */
  privileged: PrivilegedPolicy;
  /** See {@link RuntimePolicy.fallback}. */
  fallback: Required<RuntimeFallbackPolicy>;
}

// The hand-written interfaces above carry the TSDoc; these assertions keep them equal to the schema.
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _outputMatches: Equal<z.output<typeof runtimePolicySchema>, ResolvedRuntimePolicy> = true;
const _inputAccepted: RuntimePolicy extends z.input<typeof runtimePolicySchema> ? true : false = true;
void _outputMatches;
void _inputAccepted;

function findProtoKeys(value: unknown, path: PropertyKey[]): PropertyKey[][] {
  if (typeof value !== 'object' || value === null) return [];
  const found: PropertyKey[][] = [];
  for (const key of Object.keys(value)) {
    if (key === '__proto__') found.push([...path, key]);
    else found.push(...findProtoKeys((value as Record<string, unknown>)[key], [...path, Array.isArray(value) ? Number(key) : key]));
  }
  return found;
}

/** Turns zod issues into `{ path, message }` pairs with readable messages. */
function describeIssues(issues: readonly z.core.$ZodIssue[]): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  for (const issue of issues) {
    const path = formatPath(issue.path);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        out.push({ path: formatPath([...issue.path, key]), message: `unknown key ${JSON.stringify(key)}` });
      }
    } else if (issue.code === 'invalid_key') {
      const inner = issue.issues.map((i) => i.message).join('; ');
      out.push({ path, message: `invalid key: ${inner}` });
    } else if (issue.code === 'invalid_type' && issue.input === undefined) {
      out.push({ path, message: 'is required' });
    } else {
      out.push({ path, message: issue.message });
    }
  }
  return out;
}

/**
 * Validates a runtime policy and fills in the defaults.
 *
 * @param input - the policy, e.g. parsed JSON
 * @param source - where it came from, for the error message (e.g. a file name)
 * @throws InvalidOptionsError listing every problem with its path (`rules[1].match.image`)
 */
export function parseRuntimePolicy(input: unknown, source = 'runtime policy'): ResolvedRuntimePolicy {
  // zod would silently drop a "__proto__" key of a map (and turn it into the object's prototype),
  // which would make a rule criterion vanish; refuse it before parsing.
  const protoPaths = findProtoKeys(input, []);
  const result = protoPaths.length === 0 ? runtimePolicySchema.safeParse(input) : undefined;
  if (result?.success) return result.data;
  const issues = result ? describeIssues(result.error.issues) : protoPaths.map((path) => ({ path: formatPath(path), message: 'the key "__proto__" is not allowed' }));
  const first = issues[0];
  const summary = first ? `${first.path ? `${first.path}: ` : ''}${first.message}` : 'invalid';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '';
  throw new InvalidOptionsError(`invalid ${source}: ${summary}${more}`, { issues });
}

/** Options of {@link loadRuntimePolicy}. */
export interface LoadRuntimePolicyOptions {
  /** Cancels the read. */
  signal?: AbortSignal;
}

/**
 * Reads a JSON policy file and validates it with {@link parseRuntimePolicy}.
 *
 * @throws InvalidOptionsError when the file cannot be read, is not JSON, or is not a valid policy
 * @throws AbortedError when `signal` fires
 */
export async function loadRuntimePolicy(path: string, options: LoadRuntimePolicyOptions = {}): Promise<ResolvedRuntimePolicy> {
  let text: string;
  try {
    text = await readFile(path, { encoding: 'utf8', ...(options.signal ? { signal: options.signal } : {}) });
  } catch (error) {
    if (options.signal?.aborted) throw new AbortedError(`reading runtime policy ${path} was aborted`, { path }, { cause: error });
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new InvalidOptionsError(`cannot read runtime policy ${path}: ${code}`, { issues: [{ path: '', message: `cannot read file: ${code}` }] }, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new InvalidOptionsError(`runtime policy ${path} is not valid JSON: ${message}`, { issues: [{ path: '', message: `not valid JSON: ${message}` }] }, { cause: error });
  }
  return parseRuntimePolicy(json, `runtime policy ${path}`);
}
