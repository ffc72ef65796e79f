/**
 * `proxmox-lxcri/runtime-selector`: the runtime policy, `selectRuntime()` with its trace, and the runtime probes.
 *
 * @packageDocumentation
 */
export { RUNTIME_NAMES, PRIVILEGED_POLICIES, DEFAULT_RUNTIME_HANDLERS, DEFAULT_RUNTIME_ANNOTATION, parseRuntimePolicy, loadRuntimePolicy } from '../runtime-selector/policy.js';
export { selectRuntime } from '../runtime-selector/select-runtime.js';
export { createRuntimeProbes } from '../runtime-selector/probes.js';
export type { RuntimeName, PrivilegedPolicy, RuntimePolicy, RuntimeRule, RuntimeRuleMatch, RuntimeFallbackPolicy, LoadRuntimePolicyOptions } from '../runtime-selector/policy.js';
export type { RuntimeSelection, RuntimeSelectionContext, RuntimeSelectionOutcome, RuntimeSelectionSource, RuntimeSelectionStep, RuntimeSelectionTraceEntry } from '../runtime-selector/select-runtime.js';
export type { RuntimeProbes, RuntimeProbesOptions, RunProbesOptions, RuntimeProbeResults, RuntimeProbeResult, OciRuntimeProbeResult, ProxmoxProbeResult, ProxmoxVersionSource } from '../runtime-selector/probes.js';
