/**
 * Runtime selection: the policy, `selectRuntime()` and the runtime probes.
 *
 * @module
 */
export {
  RUNTIME_NAMES,
  PRIVILEGED_POLICIES,
  DEFAULT_RUNTIME_HANDLERS,
  DEFAULT_RUNTIME_ANNOTATION,
  runtimePolicySchema,
  parseRuntimePolicy,
  loadRuntimePolicy,
} from './policy.js';
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
} from './policy.js';
export { selectRuntime, RUNTIME_SELECTION_STEPS } from './select-runtime.js';
export type {
  RuntimeSelection,
  RuntimeSelectionContext,
  RuntimeSelectionOutcome,
  RuntimeSelectionSource,
  RuntimeSelectionStep,
  RuntimeSelectionTraceEntry,
} from './select-runtime.js';
export { createRuntimeProbes, runtimeProbesOptionsSchema } from './probes.js';
export type {
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
} from './probes.js';
