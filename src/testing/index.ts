/**
 * `proxmox-lxcri/testing`: a stateful Proxmox VE API simulator for tests (and the embedded
 * default of `lxcri simulator`). Two front ends share one {@link PveSimulatorState}:
 * {@link startPveSimulator} (a real HTTPS server) and {@link pveSimulatorHandlers} (msw handlers).
 *
 * @packageDocumentation
 */
import type { RequestHandler } from 'msw';
import type { PveSimulatorHandlersOptions } from './msw-handlers.js';
import type { PveSimulatorState } from './state.js';

export { startPveSimulator } from './server.js';
export { buildDemoImage } from './demo-image.js';
export type { BuildDemoImageOptions, DemoImage } from './demo-image.js';
export type { PveSimulator, SimulatorClientOptions, StartPveSimulatorExtras } from './server.js';
export { PveSimulatorState, TaskExitError } from './state.js';
export type {
  ActivePveFault,
  PveFaultBase,
  PveFaultMatch,
  PveFaultRule,
  PveRequestAuth,
  PveRequestLogEntry,
  SimulatedCt,
  SimulatedNode,
  SimulatedTask,
  SimulatorCredentials,
  TaskContext,
} from './state.js';
export {
  createSimulatorToken,
  createSimulatorUser,
  createDefaultSimulatorUsers,
  pveSimulatorOptionsSchema,
  resolvePveSimulatorOptions,
  simulatorStorageSchema,
  simulatorTokenSchema,
  simulatorUserSchema,
} from './options.js';
export type {
  PveSimulatorOptions,
  ResolvedPveSimulatorOptions,
  SimulatorClock,
  SimulatorStorage,
  SimulatorStorageOptions,
  SimulatorTokenOptions,
  SimulatorUser,
  SimulatorUserOptions,
} from './options.js';
export { handlePveRequest } from './handler.js';
export { decodeUrlencoded } from './request-body.js';
export type { PveSimulatorRequest, PveSimulatorResponse } from './handler.js';
export { totp, verifyTotp, encodeBase32, decodeBase32 } from './totp.js';
export { generateSelfSignedCertificate } from './certificate.js';
export type { SimulatorCertificate } from './certificate.js';
export { ENDPOINT_RULES, ruleInVersion } from './param-rules.js';
export type { EndpointRules, ParamRule, PropertyStringFormat, PveVersion } from './param-rules.js';
export { validateParams, splitPropertyString } from './validate-params.js';
export type { ParamValidation, ParamValues, RawParamValue } from './validate-params.js';
export { normalizeUploadFilename } from './endpoints/upload.js';
export type { PveSimulatorHandlersOptions } from './msw-handlers.js';

/**
 * msw 2 handlers serving the simulator `state` in-process at `options.baseUrl`
 * (default `https://pve.simulator.test:8006`), for tests that call the global `fetch`.
 *
 * It is async because msw is an optional peer dependency: this entry point must load for users
 * who only run {@link startPveSimulator} without msw installed, so msw is imported here lazily.
 * Use it as `server.use(...(await pveSimulatorHandlers(state)))`. Under msw a request needs an
 * explicit `Content-Length` header to upload (fetch adds it only on the wire).
 */
export async function pveSimulatorHandlers(state: PveSimulatorState, options: PveSimulatorHandlersOptions = {}): Promise<RequestHandler[]> {
  const { buildPveSimulatorHandlers } = await import('./msw-handlers.js');
  return buildPveSimulatorHandlers(state, options);
}
