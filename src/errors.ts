/**
 * The error model of proxmox-lxcri.
 *
 * Every error the library throws is an {@link LxcriError}: match on its stable {@link LxcriError.code}
 * (never on the message), read {@link LxcriError.grpcStatus} to answer a CRI caller, and follow
 * `cause` for what was wrapped. Messages and every detail field are passed through {@link redact}
 * when the error is built, so tokens, passwords, tickets and cookies never reach `message`,
 * `stack`, `toString()` or `JSON.stringify(error)`.
 *
 * @module
 */
import { redact, redactString } from './redact.js';

/** gRPC status names, as a CRI runtime reports them to the kubelet. */
export type GrpcStatus =
  | 'OK'
  | 'Cancelled'
  | 'Unknown'
  | 'InvalidArgument'
  | 'DeadlineExceeded'
  | 'NotFound'
  | 'AlreadyExists'
  | 'PermissionDenied'
  | 'ResourceExhausted'
  | 'FailedPrecondition'
  | 'Aborted'
  | 'OutOfRange'
  | 'Unimplemented'
  | 'Internal'
  | 'Unavailable'
  | 'DataLoss'
  | 'Unauthenticated';

/** Every error code the library uses. The union is the public contract: match on these. */
export const LXCRI_ERROR_CODES = [
  'ERR_INVALID_OPTIONS',
  'ERR_INVALID_ARGUMENT',
  'ERR_CRI_VALIDATION',
  'ERR_NOT_FOUND',
  'ERR_ALREADY_EXISTS',
  'ERR_FAILED_PRECONDITION',
  'ERR_ABORTED',
  'ERR_STORE',
  'ERR_RUNTIME_SELECTION',
  'ERR_IMAGE',
  'ERR_LAYER_EXTRACTION',
  'ERR_BUNDLE',
  'ERR_OCI_RUNTIME',
  'ERR_PVE_HTTP',
  'ERR_PVE_NETWORK',
  'ERR_PVE_TIMEOUT',
  'ERR_PVE_AUTH',
  'ERR_PVE_TASK',
  'ERR_PVE_RESPONSE',
  'ERR_INTERNAL',
  'ERR_REGISTRY',
  'ERR_REGISTRY_AUTH',
  'ERR_PVE_OUTCOME_UNKNOWN',
] as const;

/** A stable error code. */
export type LxcriErrorCode = (typeof LXCRI_ERROR_CODES)[number];

const CODE_SET: ReadonlySet<string> = new Set(LXCRI_ERROR_CODES);

/** Brand shared across realms (Symbol.for uses the agent-wide registry). */
const BRAND = Symbol.for('proxmox-lxcri.error');

/** Options every error accepts. */
export interface LxcriErrorOptions {
  /** The error being wrapped. */
  cause?: unknown;
  /** Secret values to scrub from the message and details in addition to the known shapes. */
  secrets?: Iterable<string>;
  /** Overrides the class's default gRPC status. */
  grpcStatus?: GrpcStatus;
}

/**
 * Base class of every error thrown by proxmox-lxcri.
 */
export class LxcriError extends Error {
  override name = 'LxcriError';
  /** Stable machine-readable code. */
  readonly code: LxcriErrorCode;
  /** The gRPC status a CRI server would answer with. */
  readonly grpcStatus: GrpcStatus;
  /** Structured, already-redacted details (field names, paths, statuses, ...). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: LxcriErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options: LxcriErrorOptions & { defaultGrpcStatus?: GrpcStatus } = {},
  ) {
    const secrets = options.secrets ? [...options.secrets] : [];
    super(redactString(message, secrets), options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.grpcStatus = options.grpcStatus ?? options.defaultGrpcStatus ?? 'Internal';
    this.details = Object.freeze(redact(details, secrets));
    Object.defineProperty(this, BRAND, { value: true, enumerable: false });
  }

  /** A JSON form safe to log or return: name, code, status, message, details, and the cause chain. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      grpcStatus: this.grpcStatus,
      message: this.message,
      ...(Object.keys(this.details).length > 0 ? { details: this.details } : {}),
      ...(this.cause === undefined ? {} : { cause: describeCause(this.cause) }),
    };
  }
}

function describeCause(cause: unknown): unknown {
  if (isLxcriError(cause)) return cause.toJSON();
  return redact(cause);
}

/** True for any proxmox-lxcri error, also one created in another realm or by another copy of the package. */
export function isLxcriError(value: unknown): value is LxcriError {
  if (value instanceof LxcriError) return true;
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as { [BRAND]?: unknown; code?: unknown };
  return candidate[BRAND] === true && typeof candidate.code === 'string' && CODE_SET.has(candidate.code);
}

/** True when `value` is a proxmox-lxcri error with the given code. */
export function hasErrorCode<C extends LxcriErrorCode>(value: unknown, code: C): value is LxcriError & { code: C } {
  return isLxcriError(value) && value.code === code;
}

// ---------------------------------------------------------------------------------------------
// Generic errors

/** Options passed to a function or constructor are not valid. */
export class InvalidOptionsError extends LxcriError {
  override name = 'InvalidOptionsError';
  constructor(message: string, details: { issues?: readonly { path: string; message: string }[] } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_INVALID_OPTIONS', message, details, { ...options, defaultGrpcStatus: 'InvalidArgument' });
  }
}

/** A named object (container, sandbox, image, CT) does not exist. */
export class NotFoundError extends LxcriError {
  override name = 'NotFoundError';
  constructor(message: string, details: Record<string, unknown> = {}, options: LxcriErrorOptions = {}) {
    super('ERR_NOT_FOUND', message, details, { ...options, defaultGrpcStatus: 'NotFound' });
  }
}

/** An object with that name or id exists already. */
export class AlreadyExistsError extends LxcriError {
  override name = 'AlreadyExistsError';
  constructor(message: string, details: Record<string, unknown> = {}, options: LxcriErrorOptions = {}) {
    super('ERR_ALREADY_EXISTS', message, details, { ...options, defaultGrpcStatus: 'AlreadyExists' });
  }
}

/** The object is not in a state that allows the operation (e.g. starting a container that is not created). */
export class FailedPreconditionError extends LxcriError {
  override name = 'FailedPreconditionError';
  constructor(message: string, details: Record<string, unknown> = {}, options: LxcriErrorOptions = {}) {
    super('ERR_FAILED_PRECONDITION', message, details, { ...options, defaultGrpcStatus: 'FailedPrecondition' });
  }
}

/** The caller's `AbortSignal` fired, or a deadline passed. */
export class AbortedError extends LxcriError {
  override name = 'AbortedError';
  constructor(message: string, details: Record<string, unknown> = {}, options: LxcriErrorOptions = {}) {
    super('ERR_ABORTED', message, details, { ...options, defaultGrpcStatus: 'Cancelled' });
  }
}

/**
 * Throws an {@link AbortedError} (`<what> was aborted`, with the signal's reason as `cause`) when
 * `signal` has fired. Long operations call it between steps; `details` go on the error.
 */
export function throwIfAborted(signal: AbortSignal | undefined, what: string, details: Record<string, unknown> = {}): void {
  if (signal?.aborted) throw new AbortedError(`${what} was aborted`, details, { cause: signal.reason });
}

/** A sandbox or container store could not read or write a record. */
export class StoreError extends LxcriError {
  override name = 'StoreError';
  constructor(message: string, details: { path?: string; id?: string } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_STORE', message, details, { ...options, defaultGrpcStatus: 'Internal' });
  }
}

// ---------------------------------------------------------------------------------------------
// CRI

/** One problem found in a CRI request. */
export interface CriValidationIssue {
  /** Where, as a dotted path in the normalised (camelCase) request, e.g. `config.mounts[0].containerPath`. */
  readonly path: string;
  /** Stable issue code, e.g. `required`, `invalid_name`, `unknown_field`, `not_found`. */
  readonly code: string;
  /** What is wrong and how to fix it. */
  readonly message: string;
  /** gRPC status for this issue. */
  readonly grpcStatus: GrpcStatus;
  /** Extra facts, e.g. the id of the container that holds a name. */
  readonly meta?: Readonly<Record<string, unknown>>;
}

/** Status precedence when issues of several kinds are found: the first listed wins. */
const ISSUE_STATUS_ORDER: readonly GrpcStatus[] = ['NotFound', 'AlreadyExists', 'FailedPrecondition', 'Unimplemented', 'InvalidArgument'];

/** A CRI request failed validation. `issues` lists every problem found, not just the first. */
export class CriValidationError extends LxcriError {
  override name = 'CriValidationError';
  readonly issues: readonly CriValidationIssue[];
  constructor(issues: readonly CriValidationIssue[], options: LxcriErrorOptions = {}) {
    const first = issues[0];
    const summary =
      first === undefined
        ? 'invalid CRI request'
        : `invalid CRI request: ${first.path ? `${first.path}: ` : ''}${first.message}` +
          (issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? 's' : ''})` : '');
    const status = ISSUE_STATUS_ORDER.find((s) => issues.some((i) => i.grpcStatus === s)) ?? 'InvalidArgument';
    super('ERR_CRI_VALIDATION', summary, { issues }, { ...options, defaultGrpcStatus: status });
    this.issues = this.details['issues'] as readonly CriValidationIssue[];
  }
}

/** No runtime could be selected for a request, or the selected one cannot honour it. */
export class RuntimeSelectionError extends LxcriError {
  override name = 'RuntimeSelectionError';
  constructor(message: string, details: { runtime?: string; reason?: string; trace?: readonly unknown[] } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_RUNTIME_SELECTION', message, details, { ...options, defaultGrpcStatus: 'FailedPrecondition' });
  }
}

// ---------------------------------------------------------------------------------------------
// OCI images, layers, bundles, runtime

/** An image could not be found, read or verified (bad reference, digest mismatch, missing blob, ...). */
export class ImageError extends LxcriError {
  override name = 'ImageError';
  constructor(message: string, details: { reference?: string; digest?: string; path?: string; reason?: string } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_IMAGE', message, details, { ...options, defaultGrpcStatus: 'InvalidArgument' });
  }
}

/** A layer was rejected or could not be applied (unsafe entry, bomb limits, DiffID mismatch, I/O). */
export class LayerExtractionError extends LxcriError {
  override name = 'LayerExtractionError';
  constructor(message: string, details: { layer?: string; entry?: string; reason?: string } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_LAYER_EXTRACTION', message, details, { ...options, defaultGrpcStatus: 'InvalidArgument' });
  }
}

/** An OCI bundle could not be written. */
export class BundleError extends LxcriError {
  override name = 'BundleError';
  constructor(message: string, details: { path?: string; reason?: string } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_BUNDLE', message, details, { ...options, defaultGrpcStatus: 'Internal' });
  }
}

/** The OCI runtime (crun or runc) failed; `stderr` holds what it printed. */
export class OciRuntimeError extends LxcriError {
  override name = 'OciRuntimeError';
  constructor(
    message: string,
    details: { runtime?: string; command?: string; exitCode?: number | null; signal?: string | null; stderr?: string; containerId?: string } = {},
    options: LxcriErrorOptions = {},
  ) {
    super('ERR_OCI_RUNTIME', message, details, { ...options, defaultGrpcStatus: 'Internal' });
  }
}

// ---------------------------------------------------------------------------------------------
// Proxmox VE

/** Details of a Proxmox HTTP failure. Never holds headers, tokens, tickets or passwords. */
export interface ProxmoxHttpErrorDetails {
  status: number;
  statusText: string;
  method: string;
  path: string;
  /** `body.message` of PVE's answer, when present. */
  pveMessage?: string;
  /** PVE's per-parameter errors (`body.errors`), e.g. `{ vmid: 'value must be at least 100' }`. */
  errors?: Readonly<Record<string, string>>;
  /** Whether a retry of the same request can succeed (595-599, 502-504, `got timeout`, ...). */
  retryable: boolean;
  /** Set when PVE says the VMID is taken (`already exists`, `File exists`). */
  vmidConflict?: boolean;
  /** Set when the answer proves PVE did not carry the request out (kept off `details`). */
  notExecuted?: boolean;
}

function httpStatusToGrpc(status: number): GrpcStatus {
  if (status === 400) return 'InvalidArgument';
  if (status === 401) return 'Unauthenticated';
  if (status === 403) return 'PermissionDenied';
  if (status === 404) return 'NotFound';
  if (status === 409) return 'AlreadyExists';
  if (status === 429) return 'ResourceExhausted';
  if (status >= 502 && status <= 504) return 'Unavailable';
  if (status >= 595) return 'Unavailable';
  return 'Internal';
}

/** Proxmox answered with an HTTP error status. */
export class ProxmoxHttpError extends LxcriError {
  override name = 'ProxmoxHttpError';
  readonly status: number;
  readonly statusText: string;
  readonly method: string;
  readonly path: string;
  readonly pveMessage: string | undefined;
  readonly errors: Readonly<Record<string, string>> | undefined;
  readonly retryable: boolean;
  readonly vmidConflict: boolean;
  /** The answer proves the request had no effect, so even a create may be re-sent. */
  readonly notExecuted: boolean;
  constructor({ notExecuted, ...details }: ProxmoxHttpErrorDetails, options: LxcriErrorOptions = {}) {
    // a property-string error carries its sub-keys' errors on further lines (`format error\nnet0.ip: …`)
    const params = details.errors ? Object.entries(details.errors).map(([k, v]) => `${k}: ${v.replace(/\s*\n+\s*/g, '; ')}`).join('; ') : '';
    const message = `${details.method} ${details.path} failed: ${details.status} ${details.statusText}${params ? ` (${params})` : ''}`;
    super('ERR_PVE_HTTP', message, { ...details }, {
      ...options,
      defaultGrpcStatus: details.vmidConflict ? 'AlreadyExists' : httpStatusToGrpc(details.status),
    });
    const d = this.details as unknown as ProxmoxHttpErrorDetails;
    this.status = d.status;
    this.statusText = d.statusText;
    this.method = d.method;
    this.path = d.path;
    this.pveMessage = d.pveMessage;
    this.errors = d.errors;
    this.retryable = d.retryable;
    this.vmidConflict = d.vmidConflict === true;
    this.notExecuted = notExecuted === true;
  }
}

/** The connection to Proxmox failed (refused, reset, TLS failure, certificate pin mismatch, ...). */
export class ProxmoxNetworkError extends LxcriError {
  override name = 'ProxmoxNetworkError';
  readonly retryable: boolean;
  constructor(message: string, details: { method?: string; path?: string; reason?: string; retryable?: boolean } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_PVE_NETWORK', message, details, { ...options, defaultGrpcStatus: 'Unavailable' });
    this.retryable = details.retryable ?? true;
  }
}

/** A Proxmox request or task wait ran past its deadline. */
export class ProxmoxTimeoutError extends LxcriError {
  override name = 'ProxmoxTimeoutError';
  /** A deadline that passed can be tried again. */
  readonly retryable = true;
  constructor(
    message: string,
    details: { method?: string; path?: string; upid?: string; timeoutMs?: number; auth?: boolean; lastStatus?: Readonly<Record<string, unknown>> } = {},
    options: LxcriErrorOptions = {},
  ) {
    super('ERR_PVE_TIMEOUT', message, details, { ...options, defaultGrpcStatus: 'DeadlineExceeded' });
  }
}

/** Authentication with Proxmox failed (bad credentials, TFA refused, ticket expired and not renewable). */
export class ProxmoxAuthError extends LxcriError {
  override name = 'ProxmoxAuthError';
  constructor(message: string, details: { username?: string; tokenId?: string; reason?: string; status?: number } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_PVE_AUTH', message, details, { ...options, defaultGrpcStatus: 'Unauthenticated' });
  }
}

/** A Proxmox worker task ended with an exit status other than `OK` / `WARNINGS: n`. */
export class ProxmoxTaskError extends LxcriError {
  override name = 'ProxmoxTaskError';
  readonly upid: string;
  readonly exitStatus: string;
  readonly logTail: readonly string[];
  constructor(details: { upid: string; exitStatus: string; node?: string; type?: string; logTail?: readonly string[] }, options: LxcriErrorOptions = {}) {
    super('ERR_PVE_TASK', `Proxmox task ${details.type ?? ''}${details.type ? ' ' : ''}failed: ${details.exitStatus}`, { ...details }, {
      ...options,
      defaultGrpcStatus: 'Internal',
    });
    this.upid = details.upid;
    this.exitStatus = this.details['exitStatus'] as string;
    this.logTail = (this.details['logTail'] as readonly string[] | undefined) ?? [];
  }
}

/** Proxmox answered with a body the library did not expect (schema mismatch). */
export class ProxmoxResponseError extends LxcriError {
  override name = 'ProxmoxResponseError';
  constructor(message: string, details: { method?: string; path?: string; issues?: readonly { path: string; message: string }[] } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_PVE_RESPONSE', message, details, { ...options, defaultGrpcStatus: 'Internal' });
  }
}

// ---------------------------------------------------------------------------------------------
// OCI registries (distribution API)

/** Details of a registry failure. Never holds headers, tokens or passwords. */
export interface RegistryErrorDetails {
  /** The registry host, e.g. `docker.io`. */
  registry?: string;
  /** The repository, e.g. `library/busybox`. */
  repository?: string;
  /** What was asked for: a tag, a digest, or `token`. */
  reference?: string;
  /** The HTTP status, when the registry answered. */
  status?: number;
  /** The distribution spec error code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `BLOB_UNKNOWN`, `TOOMANYREQUESTS`, ...). */
  registryCode?: string;
  /** A short reason (`network`, `timeout`, `too many redirects`, ...). */
  reason?: string;
  /** Whether the same request can succeed later (5xx, 429, network failures). */
  retryable?: boolean;
}

/** The gRPC status of a distribution spec error code or, without one, of an HTTP status. */
export function registryGrpcStatus(registryCode: string | undefined, status: number | undefined): GrpcStatus {
  switch (registryCode) {
    case 'MANIFEST_UNKNOWN':
    case 'NAME_UNKNOWN':
    case 'BLOB_UNKNOWN':
    case 'MANIFEST_BLOB_UNKNOWN':
      return 'NotFound';
    case 'UNAUTHORIZED':
      return 'Unauthenticated';
    case 'DENIED':
      return 'PermissionDenied';
    case 'TOOMANYREQUESTS':
      return 'ResourceExhausted';
    case 'UNSUPPORTED':
      return 'Unimplemented';
    case 'NAME_INVALID':
    case 'TAG_INVALID':
    case 'DIGEST_INVALID':
    case 'MANIFEST_INVALID':
      return 'InvalidArgument';
    default:
      break;
  }
  if (status === undefined) return 'Unavailable';
  if (status === 401) return 'Unauthenticated';
  if (status === 403) return 'PermissionDenied';
  if (status === 404) return 'NotFound';
  if (status === 429) return 'ResourceExhausted';
  if (status === 400) return 'InvalidArgument';
  if (status >= 500) return 'Unavailable';
  return 'Internal';
}

/** A registry answered with an error, or could not be reached. `registryCode` is the distribution spec's code. */
export class RegistryError extends LxcriError {
  override name = 'RegistryError';
  readonly registryCode: string | undefined;
  readonly status: number | undefined;
  readonly retryable: boolean;
  constructor(message: string, details: RegistryErrorDetails = {}, options: LxcriErrorOptions = {}) {
    super('ERR_REGISTRY', message, { ...details }, { ...options, defaultGrpcStatus: registryGrpcStatus(details.registryCode, details.status) });
    this.registryCode = details.registryCode;
    this.status = details.status;
    this.retryable = details.retryable ?? false;
  }
}

/** A registry refused the credentials (or asked for some that were not given), or the token service failed. */
export class RegistryAuthError extends LxcriError {
  override name = 'RegistryAuthError';
  readonly registryCode: string | undefined;
  readonly status: number | undefined;
  constructor(message: string, details: RegistryErrorDetails = {}, options: LxcriErrorOptions = {}) {
    super('ERR_REGISTRY_AUTH', message, { ...details }, {
      ...options,
      defaultGrpcStatus: details.registryCode === 'DENIED' || details.status === 403 ? 'PermissionDenied' : 'Unauthenticated',
    });
    this.registryCode = details.registryCode;
    this.status = details.status;
  }
}

/**
 * A request that must not be re-sent (a create, a resize, a start, …) got no answer: PVE may or
 * may not have carried it out. Check the resource (or the node's task list) before trying again.
 */
export class ProxmoxOutcomeUnknownError extends LxcriError {
  override name = 'ProxmoxOutcomeUnknownError';
  constructor(message: string, details: { method?: string; path?: string; reason?: string } = {}, options: LxcriErrorOptions = {}) {
    super('ERR_PVE_OUTCOME_UNKNOWN', message, details, { ...options, defaultGrpcStatus: 'Unknown' });
  }
}

/**
 * An argument of a library call is wrong (a bad UPID, a path parameter missing, an unknown kill
 * signal, ...). Code `ERR_INVALID_ARGUMENT`; `details.field` names the argument when known.
 */
export class InvalidArgumentError extends LxcriError {
  override name = 'InvalidArgumentError';
  constructor(message: string, details: { field?: string } & Record<string, unknown> = {}, options: LxcriErrorOptions = {}) {
    super('ERR_INVALID_ARGUMENT', message, details, { ...options, defaultGrpcStatus: 'InvalidArgument' });
  }

  /** The usual form: `<field>: <problem>`, with `details.field` set. */
  static forField(field: string, problem: string, options: LxcriErrorOptions = {}): InvalidArgumentError {
    return new InvalidArgumentError(`${field}: ${problem}`, { field }, options);
  }
}
