/**
 * proxmox-lxcri: create containers the way a Kubernetes CRI runtime does, on Proxmox VE hosts.
 *
 * @packageDocumentation
 */

// Errors and redaction
export {
  LXCRI_ERROR_CODES,
  LxcriError,
  isLxcriError,
  hasErrorCode,
  InvalidOptionsError,
  NotFoundError,
  AlreadyExistsError,
  FailedPreconditionError,
  AbortedError,
  StoreError,
  CriValidationError,
  RuntimeSelectionError,
  ImageError,
  LayerExtractionError,
  BundleError,
  OciRuntimeError,
  ProxmoxHttpError,
  ProxmoxNetworkError,
  ProxmoxTimeoutError,
  ProxmoxAuthError,
  ProxmoxTaskError,
  ProxmoxResponseError,
} from './errors.js';
export type {
  GrpcStatus,
  LxcriErrorCode,
  LxcriErrorOptions,
  CriValidationIssue,
  ProxmoxHttpErrorDetails,
} from './errors.js';
export { redact, redactString, isSecretKey, REDACTED } from './redact.js';

// Logging
export { silentLogger, createRedactingLogger } from './logger.js';
export type { Logger, LogFn } from './logger.js';

// runtime-selector
export {
  RUNTIME_NAMES,
  PRIVILEGED_POLICIES,
  DEFAULT_RUNTIME_HANDLERS,
  DEFAULT_RUNTIME_ANNOTATION,
  runtimePolicySchema,
  parseRuntimePolicy,
  loadRuntimePolicy,
  selectRuntime,
  RUNTIME_SELECTION_STEPS,
  createRuntimeProbes,
  runtimeProbesOptionsSchema,
} from './runtime-selector/index.js';
export type {
  RuntimeName,
  PrivilegedPolicy,
  RuntimePolicy,
  RuntimeRule,
  RuntimeRuleMatch,
  RuntimeFallbackPolicy,
  ResolvedRuntimePolicy,
  ResolvedRuntimeRule,
  LoadRuntimePolicyOptions,
  RuntimeSelection,
  RuntimeSelectionContext,
  RuntimeSelectionOutcome,
  RuntimeSelectionSource,
  RuntimeSelectionStep,
  RuntimeSelectionTraceEntry,
  RuntimeProbes,
  RuntimeProbesOptions,
  ResolvedRuntimeProbesOptions,
  RunProbesOptions,
  RuntimeProbeResults,
  RuntimeProbeResult,
  OciRuntimeProbeResult,
  ProxmoxProbeResult,
  ProxmoxVersionSource,
  RuntimeProbeSpawn,
} from './runtime-selector/index.js';
