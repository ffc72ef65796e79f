/**
 * Syntax + normalisation of CRI requests: accepts proto3 JSON (lowerCamelCase) and crictl's
 * snake_case files, enum names or numbers, int64 as number or decimal string, `null` as "absent",
 * and returns the normalised camelCase object of `types.ts`. Unknown fields are errors with a
 * "did you mean" hint.
 *
 * @module
 */
import { parseOptions } from '../options.js';
import { z } from 'zod';
import { CriValidationError } from '../errors.js';
import type { CriValidationIssue } from '../errors.js';
import { closestName, ContainerConfigSchema, CreateContainerRequestSchema, PodSandboxConfigSchema, scalarKindOf } from './schema.js';
import type { ScalarKind } from './schema.js';
import type { NormalizedContainerConfig, NormalizedCreateContainerRequest, NormalizedPodSandboxConfig } from './types.js';
import { formatPath } from '../internal/format-path.js';

// ---------------------------------------------------------------------------------------------
// Options

/** Schema of {@link NormalizeOptions}. */
export const NormalizeOptionsSchema = z.strictObject({
  /**
   * How a JSON string in `KeyValue.value` (an env value, proto type `bytes` since cri-api
   * v0.36.2) is read: `'text'` takes it literally (crictl files and every client of cri-api ≤
   * v0.36.1, where the field was a `string`); `'base64'` decodes it as proto3 JSON `bytes`.
   * A `Uint8Array` value is always decoded as UTF-8.
   * @defaultValue `'text'`
   */
  envValueEncoding: z.enum(['text', 'base64']).default('text'),
});

/** Options of the normalise functions (input form). */
export type NormalizeOptions = z.input<typeof NormalizeOptionsSchema>;
/** Options of the normalise functions after defaults. */
export type ResolvedNormalizeOptions = z.output<typeof NormalizeOptionsSchema>;

const DEFAULT_OPTIONS: ResolvedNormalizeOptions = { envValueEncoding: 'text' };

/** Parses normalise options; `InvalidOptionsError` naming the field when they are wrong. */
function resolveNormalizeOptions(options: NormalizeOptions | undefined): ResolvedNormalizeOptions {
  if (options === undefined) return DEFAULT_OPTIONS;
  return parseOptions(NormalizeOptionsSchema, options, 'normalize options');
}

// ---------------------------------------------------------------------------------------------
// Key plan: which keys each message has, derived once from the zod schemas

interface MessagePlan {
  /** camelCase key → field plan. */
  readonly fields: Map<string, FieldPlan>;
  /** The fields in schema order (the order of output keys). */
  readonly fieldList: FieldPlan[];
  /** Every accepted spelling (camelCase and proto snake_case) → camelCase key. */
  readonly spellings: Map<string, string>;
  /** Names offered in "did you mean" hints. */
  readonly hintNames: string[];
}

/** What one value (or each element of a repeated field) is. */
type ValueKind = { kind: 'string' } | { kind: 'bool' } | { kind: 'map' } | { kind: 'message'; plan: MessagePlan } | { kind: 'other' } | ScalarKind;

interface FieldPlan {
  name: string;
  /** The proto snake_case spelling when it differs from `name`. */
  snake: string | null;
  value: ValueKind;
  repeated: boolean;
  /** What happens when the field is absent. */
  presence: 'default' | 'optional' | 'prefault' | 'required';
}

interface ZodDefLike {
  type: string;
  innerType?: z.ZodType;
  element?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
}

function defOf(schema: z.ZodType): ZodDefLike {
  return (schema as unknown as { def: ZodDefLike }).def;
}

/** Proto field names whose JSON name is not plain lowerCamelCase of the snake_case name. */
const PROTO_NAME_OVERRIDES: Readonly<Record<string, string | null>> = {
  CDIDevices: 'CDI_devices',
  uidMappings: null, // the proto field itself is named uidMappings
  gidMappings: null,
};

function snakeOf(camel: string): string | null {
  if (camel in PROTO_NAME_OVERRIDES) return PROTO_NAME_OVERRIDES[camel] ?? null;
  const snake = camel.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
  return snake === camel ? null : snake;
}

function compileField(name: string, schema: z.ZodType, cache: Map<z.ZodType, MessagePlan>): FieldPlan {
  let current = schema;
  const plan: FieldPlan = { name, snake: snakeOf(name), value: { kind: 'other' }, repeated: false, presence: 'required' };
  let first = true;
  for (;;) {
    const scalar = scalarKindOf(current);
    if (scalar) {
      plan.value = scalar;
      return plan;
    }
    const def = defOf(current);
    if ((def.type === 'default' || def.type === 'prefault' || def.type === 'optional' || def.type === 'nullable') && def.innerType) {
      if (first) plan.presence = def.type === 'nullable' ? 'optional' : def.type;
      current = def.innerType;
    } else if (def.type === 'pipe' && def.in) {
      current = def.in;
    } else if (def.type === 'array' && def.element) {
      plan.repeated = true;
      current = def.element;
    } else {
      if (def.type === 'record') plan.value = { kind: 'map' };
      else if (def.type === 'object') plan.value = { kind: 'message', plan: compileMessage(current, cache) };
      else if (def.type === 'string') plan.value = { kind: 'string' };
      else if (def.type === 'boolean') plan.value = { kind: 'bool' };
      return plan;
    }
    first = false;
  }
}

function compileMessage(schema: z.ZodType, cache: Map<z.ZodType, MessagePlan>): MessagePlan {
  const cached = cache.get(schema);
  if (cached) return cached;
  const plan: MessagePlan = { fields: new Map(), fieldList: [], spellings: new Map(), hintNames: [] };
  cache.set(schema, plan);
  for (const [key, child] of Object.entries(defOf(schema).shape ?? {})) {
    const field = compileField(key, child, cache);
    plan.fields.set(key, field);
    plan.fieldList.push(field);
    plan.spellings.set(key, key);
    plan.hintNames.push(key);
    const snake = snakeOf(key);
    if (snake) plan.spellings.set(snake, key);
  }
  return plan;
}

/** Key plans of the three top-level messages: immutable, derived once from the static schemas. */
const PLANS = (() => {
  const cache = new Map<z.ZodType, MessagePlan>();
  return {
    request: compileMessage(CreateContainerRequestSchema, cache),
    container: compileMessage(ContainerConfigSchema, cache),
    sandbox: compileMessage(PodSandboxConfigSchema, cache),
  } as const;
})();

// ---------------------------------------------------------------------------------------------
// Paths

type PathPart = string | number;

function issue(path: readonly PathPart[], code: string, message: string, meta?: Record<string, unknown>): CriValidationIssue {
  return { path: formatPath(path), code, message, grpcStatus: 'InvalidArgument', ...(meta ? { meta } : {}) };
}

// ---------------------------------------------------------------------------------------------
// Renaming pass

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=|[A-Za-z0-9+/]{2}|[A-Za-z0-9+/]{3})?$/;
const BASE64_URL = /^[A-Za-z0-9_-]*={0,2}$/;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/**
 * Returns a copy of `input` with every key spelled in camelCase, `null` fields dropped, and
 * unknown or duplicate keys reported (and dropped) — values that are not objects are returned
 * unchanged for zod to reject with a precise message.
 */
function renameMessage(input: unknown, plan: MessagePlan, path: PathPart[], issues: CriValidationIssue[], options: ResolvedNormalizeOptions): unknown {
  if (!isPlainObject(input)) return input;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(input)) {
    const value = input[key];
    const camel = plan.spellings.get(key);
    if (camel === undefined) {
      const hint = closestName(key, plan.hintNames);
      path.push(key);
      issues.push(issue(path, 'unknown_field', `unknown field "${key}"${hint ? `; did you mean "${hint}"?` : ''}`, hint ? { didYouMean: hint } : undefined));
      path.pop();
      continue;
    }
    if (value === null || value === undefined) continue;
    if (Object.prototype.hasOwnProperty.call(out, camel)) {
      path.push(camel);
      issues.push(issue(path, 'duplicate_field', `field "${camel}" is given twice (as "${key}" and in another spelling)`));
      path.pop();
      continue;
    }
    const field = plan.fields.get(camel);
    if (field === undefined) continue;
    path.push(camel);
    out[camel] = renameValue(value, field, path, issues, options);
    path.pop();
  }
  return out;
}

function renameValue(value: unknown, field: FieldPlan, path: PathPart[], issues: CriValidationIssue[], options: ResolvedNormalizeOptions): unknown {
  if (field.value.kind === 'map') {
    if (isPlainObject(value) && Object.prototype.hasOwnProperty.call(value, '__proto__')) {
      path.push('__proto__');
      issues.push(issue(path, 'invalid_key', 'the key "__proto__" is not allowed'));
      path.pop();
    }
    return value;
  }
  if (field.value.kind === 'bytes') return options.envValueEncoding === 'base64' && typeof value === 'string' ? decodeBase64Text(value, path, issues) : value;
  if (field.value.kind !== 'message') return value;
  const message = field.value.plan;
  if (field.repeated) {
    if (!Array.isArray(value)) return value;
    const out: unknown[] = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      path.push(i);
      out[i] = renameMessage(value[i], message, path, issues, options);
      path.pop();
    }
    return out;
  }
  return renameMessage(value, message, path, issues, options);
}

function decodeBase64Text(value: string, path: PathPart[], issues: CriValidationIssue[]): unknown {
  if (!BASE64.test(value) && !BASE64_URL.test(value)) {
    issues.push(issue(path, 'invalid_encoding', 'value is not valid base64 (envValueEncoding is "base64")'));
    return '';
  }
  return new Uint8Array(Buffer.from(value, value.includes('-') || value.includes('_') ? 'base64url' : 'base64'));
}

// ---------------------------------------------------------------------------------------------
// Fast path: the same result as the zod schemas for well-formed input, without zod. Anything it
// does not accept falls back to the schema path, which then reports the exact issues (or, should
// the two ever disagree, decides). A property test checks that both paths give equal results.

const FAIL: unique symbol = Symbol('fail');
type Fail = typeof FAIL;
const DECIMAL = /^-?\d+$/;

function defaultOf(field: FieldPlan, base64: boolean): unknown {
  if (field.repeated) return [];
  const v = field.value;
  switch (v.kind) {
    case 'string':
    case 'bytes':
      return '';
    case 'bool':
      return false;
    case 'int':
      return 0;
    case 'enum':
      return v.names[0];
    case 'map':
      return {};
    case 'message':
      return fastMessage({}, v.plan, base64);
    default:
      return FAIL;
  }
}

function fastValue(value: unknown, kind: ValueKind, base64: boolean): unknown {
  switch (kind.kind) {
    case 'string':
      return typeof value === 'string' ? value : FAIL;
    case 'bool':
      return typeof value === 'boolean' ? value : FAIL;
    case 'int': {
      const n = typeof value === 'number' ? value : typeof value === 'string' && DECIMAL.test(value) ? Number(value) : Number.NaN;
      if (!Number.isInteger(n) || n < kind.min || n > kind.max || !Number.isSafeInteger(n)) return FAIL;
      return n === 0 ? 0 : n;
    }
    case 'enum': {
      if (typeof value === 'number') return (Number.isInteger(value) ? kind.names[value] : undefined) ?? FAIL;
      return typeof value === 'string' ? (kind.byName.get(value) ?? FAIL) : FAIL;
    }
    case 'bytes': {
      let bytes: Uint8Array;
      if (typeof value === 'string') {
        if (!base64) return value;
        if (!BASE64.test(value)) return FAIL;
        bytes = Buffer.from(value, 'base64');
      } else if (value instanceof Uint8Array) {
        bytes = value;
      } else {
        return FAIL;
      }
      try {
        return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
      } catch {
        return FAIL;
      }
    }
    case 'map': {
      if (!isPlainObject(value) || Object.prototype.hasOwnProperty.call(value, '__proto__')) return FAIL;
      const out: Record<string, string> = {};
      for (const key of Object.keys(value)) {
        const v = value[key];
        if (typeof v !== 'string') return FAIL;
        out[key] = v;
      }
      return out;
    }
    case 'message':
      return fastMessage(value, kind.plan, base64);
    default:
      return FAIL;
  }
}

function fastMessage(input: unknown, plan: MessagePlan, base64: boolean): Record<string, unknown> | Fail {
  if (!isPlainObject(input)) return FAIL;
  let keys = 0;
  for (const _key in input) keys++;
  let matched = 0;
  const out: Record<string, unknown> = {};
  for (const field of plan.fieldList) {
    let value = input[field.name];
    if (value !== undefined) matched++;
    if (field.snake !== null) {
      const alt = input[field.snake];
      if (alt !== undefined) {
        matched++;
        if (value !== undefined && value !== null && alt !== null) return FAIL;
        if (value === undefined || value === null) value = alt;
      }
    }
    if (value === null) value = undefined;
    let result: unknown;
    if (value === undefined) {
      if (field.presence === 'optional') continue;
      if (field.presence === 'required') return FAIL;
      result = defaultOf(field, base64);
    } else if (field.repeated) {
      if (!Array.isArray(value)) return FAIL;
      const list: unknown[] = new Array<unknown>(value.length);
      for (let i = 0; i < value.length; i++) {
        const element = fastValue(value[i], field.value, base64);
        if (element === FAIL) return FAIL;
        list[i] = element;
      }
      result = list;
    } else {
      result = fastValue(value, field.value, base64);
    }
    if (result === FAIL) return FAIL;
    out[field.name] = result;
  }
  // Every key of the input must be a known field (and no key may be present with `undefined`).
  return matched === keys ? out : FAIL;
}

// ---------------------------------------------------------------------------------------------
// zod issues → CRI issues

/** Messages for required messages, in containerd / CRI-O wording. */
const REQUIRED_MESSAGES: Readonly<Record<string, string>> = {
  '': 'the request must be a JSON object',
  config: 'container config is required (CRI-O: "config is nil")',
  'config.metadata': 'container config must include metadata',
  'config.image': 'container config must include image (CRI-O: "config image is nil")',
  sandboxConfig: 'sandbox config is required (CRI-O: "sandbox config is nil")',
  'sandboxConfig.metadata': 'pod sandbox config must include metadata',
  metadata: 'pod sandbox config must include metadata',
};

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Uint8Array) return 'bytes';
  return typeof value;
}

/** The value at a zod issue path inside the (renamed) input. */
function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node = root;
  for (const part of path) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

function translateZodIssue(raw: z.core.$ZodIssue, root: unknown, prefix: readonly PathPart[], requiredMessages: Readonly<Record<string, string>>): CriValidationIssue[] {
  const path = [...prefix, ...(raw.path as PathPart[])];
  const formatted = formatPath(path);
  const input = valueAt(root, raw.path);
  switch (raw.code) {
    case 'custom': {
      const code = (raw.params as { code?: string } | undefined)?.code ?? 'invalid_value';
      return [issue(path, code, raw.message)];
    }
    case 'invalid_type':
      if (input === undefined) {
        return [issue(path, 'required', requiredMessages[formatted] ?? `${formatted || 'value'} is required`)];
      }
      return [issue(path, 'invalid_type', `expected ${raw.expected === 'record' ? 'an object of strings' : raw.expected}, got ${typeName(input)}`)];
    case 'invalid_union': {
      const expected = new Set<string>();
      for (const branch of raw.errors) for (const b of branch) if (b.code === 'invalid_type') expected.add(b.expected === 'custom' ? 'bytes' : b.expected);
      return [issue(path, 'invalid_type', `expected ${[...expected].join(' or ') || 'a valid value'}, got ${typeName(input)}`)];
    }
    case 'unrecognized_keys':
      return raw.keys.map((k) => issue([...path, k], 'unknown_field', `unknown field "${k}"`));
    default:
      return [issue(path, raw.code, raw.message)];
  }
}

// ---------------------------------------------------------------------------------------------
// Public functions

/** Result of a normalisation that does not throw. */
export type NormalizeResult<T> = { ok: true; value: T } | { ok: false; issues: CriValidationIssue[] };

function run<T>(
  input: unknown,
  plan: MessagePlan,
  schema: z.ZodType<T>,
  options: NormalizeOptions | undefined,
  prefix: readonly PathPart[],
  requiredMessages: Readonly<Record<string, string>>,
  strategy: 'auto' | 'schema' = 'auto',
): NormalizeResult<T> {
  const resolved = resolveNormalizeOptions(options);
  if (strategy === 'auto') {
    const fast = fastMessage(input, plan, resolved.envValueEncoding === 'base64');
    if (fast !== FAIL) return { ok: true, value: fast as T };
  }
  const issues: CriValidationIssue[] = [];
  if (!isPlainObject(input)) {
    return { ok: false, issues: [issue([...prefix], input === undefined || input === null ? 'required' : 'invalid_type', `expected a JSON object, got ${typeName(input)}`)] };
  }
  const renamed = renameMessage(input, plan, [...prefix], issues, resolved);
  // The Standard Schema entry point reports issues without building a ZodError (an Error with a
  // stack trace), which is most of the cost of a failing parse.
  const parsed = schema['~standard'].validate(renamed);
  if (parsed instanceof Promise) throw new TypeError('CRI schemas are synchronous');
  if (parsed.issues) for (const raw of parsed.issues) issues.push(...translateZodIssue(raw as z.core.$ZodIssue, renamed, prefix, requiredMessages));
  if (issues.length > 0 || parsed.issues) return { ok: false, issues };
  return { ok: true, value: parsed.value };
}

/**
 * Normalises a `CreateContainerRequest` without throwing: syntax, spelling, types and defaults
 * only (no semantic checks, no stores).
 */
export function tryNormalizeCreateContainerRequest(input: unknown, options?: NormalizeOptions): NormalizeResult<NormalizedCreateContainerRequest> {
  return run(input, PLANS.request, CreateContainerRequestSchema, options, [], REQUIRED_MESSAGES);
}

/**
 * Only the fast path: the normalised request, or `undefined` when the fast path does not accept
 * the input (the zod path then decides). For tests that check both paths agree.
 * @internal
 */
export function fastNormalizeCreateContainerRequest(input: unknown, options?: NormalizeOptions): NormalizedCreateContainerRequest | undefined {
  const fast = fastMessage(input, PLANS.request, resolveNormalizeOptions(options).envValueEncoding === 'base64');
  return fast === FAIL ? undefined : (fast as unknown as NormalizedCreateContainerRequest);
}

/**
 * Like {@link tryNormalizeCreateContainerRequest} but always through the zod schemas (no fast
 * path). For tests that check both paths agree.
 * @internal
 */
export function tryNormalizeCreateContainerRequestWithSchema(input: unknown, options?: NormalizeOptions): NormalizeResult<NormalizedCreateContainerRequest> {
  return run(input, PLANS.request, CreateContainerRequestSchema, options, [], REQUIRED_MESSAGES, 'schema');
}

/**
 * Normalises a `CreateContainerRequest` (proto3 JSON or crictl snake_case): syntax, spelling, types
 * and defaults only. Pure: no semantic checks and no stores — use `validateCreateContainerRequest`
 * for those.
 * @throws CriValidationError listing every syntax issue.
 */
export function normalizeCreateContainerRequest(input: unknown, options?: NormalizeOptions): NormalizedCreateContainerRequest {
  const result = tryNormalizeCreateContainerRequest(input, options);
  if (!result.ok) throw new CriValidationError(result.issues);
  return result.value;
}

/**
 * Normalises a `ContainerConfig` (crictl's container-config.json or proto3 JSON). Issue paths are
 * relative to the config.
 * @throws CriValidationError listing every syntax issue.
 */
export function normalizeContainerConfig(input: unknown, options?: NormalizeOptions): NormalizedContainerConfig {
  const result = run(input, PLANS.container, ContainerConfigSchema, options, [], {
    metadata: 'container config must include metadata',
    image: REQUIRED_MESSAGES['config.image'] ?? '',
  });
  if (!result.ok) throw new CriValidationError(result.issues);
  return result.value;
}

/**
 * Normalises a `PodSandboxConfig` (crictl's pod-config.json or proto3 JSON). Issue paths are
 * relative to the config.
 * @throws CriValidationError listing every syntax issue.
 */
export function normalizePodSandboxConfig(input: unknown, options?: NormalizeOptions): NormalizedPodSandboxConfig {
  const result = tryNormalizePodSandboxConfig(input, options);
  if (!result.ok) throw new CriValidationError(result.issues);
  return result.value;
}

/** Like {@link normalizePodSandboxConfig}, without throwing. */
export function tryNormalizePodSandboxConfig(input: unknown, options?: NormalizeOptions): NormalizeResult<NormalizedPodSandboxConfig> {
  return run(input, PLANS.sandbox, PodSandboxConfigSchema, options, [], { metadata: 'pod sandbox config must include metadata' });
}
