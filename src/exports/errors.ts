/**
 * `proxmox-lxcri/errors`: the error model — `LxcriError` with a stable `code` and a gRPC status, one class per failure kind, cross-realm guards — and the redaction and logging helpers.
 *
 * @packageDocumentation
 */
export { LXCRI_ERROR_CODES, LxcriError, isLxcriError, hasErrorCode, InvalidOptionsError, NotFoundError, AlreadyExistsError, FailedPreconditionError, AbortedError, StoreError, CriValidationError, RuntimeSelectionError, ImageError, LayerExtractionError, BundleError, OciRuntimeError, ProxmoxHttpError, ProxmoxNetworkError, ProxmoxTimeoutError, ProxmoxAuthError, ProxmoxTaskError, ProxmoxResponseError, InvalidArgumentError } from '../errors.js';
export type { GrpcStatus, LxcriErrorCode, LxcriErrorOptions, CriValidationIssue, ProxmoxHttpErrorDetails } from '../errors.js';
export { redact, redactString } from '../redact.js';
export { silentLogger } from '../logger.js';
export type { Logger, LogFn } from '../logger.js';
export { RegistryError, RegistryAuthError } from '../errors.js';
export type { RegistryErrorDetails } from '../errors.js';
export { ProxmoxOutcomeUnknownError } from '../errors.js';
