/**
 * What several `lxcri` commands read the same way: a CRI request file with an optional pod file
 * (`validate`, `select`, `bundle`), and an image given as `DIR[:REF]` (`unpack`, `bundle`).
 */
import { CONTAINER_ID_PATTERN } from '../internal/schemas.js';
import type { SandboxNamespacePaths, SandboxRecord } from '../cri/types.js';
import { normalizePodSandboxConfig, type NormalizeOptions } from '../cri/normalize.js';
import { CriValidationError } from '../errors.js';
import type { CliIo } from './types.js';
import { readJsonFile, UsageError } from './util.js';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The pod given with `--sandbox`: a PodSandboxConfig, or `{ config, id?, runtimeHandler?, namespacePaths? }`. */
export interface CliSandboxInput {
  config: unknown;
  id?: string;
  runtimeHandler?: string;
  namespacePaths?: SandboxNamespacePaths;
}

/** A request read from the command line, before validation. */
export interface CliRequestInput {
  /** The CreateContainerRequest to normalise; its sandboxConfig is the `--sandbox` file's when one was given. */
  request: Record<string, unknown>;
  /** The pod sandbox id the request names (a placeholder when a bare container config was given). */
  podSandboxId: string;
  /** The sandbox config the request carries. */
  sandboxConfig: unknown;
  /** The `--sandbox` file, when given. */
  sandbox?: CliSandboxInput;
}

/** The sandbox id used when a bare crictl container config is given without one. */
const CLI_SANDBOX_ID = 'cli-sandbox';

function readSandboxInput(value: unknown, file: string): CliSandboxInput {
  if (!isObject(value)) throw new UsageError(`sandbox file ${file} must hold a JSON object`);
  if (!('config' in value)) return { config: value };
  const id = value['id'];
  if (id !== undefined && typeof id !== 'string') throw new UsageError(`sandbox file ${file}: id must be a string`);
  const handler = value['runtimeHandler'] ?? value['runtime_handler'];
  if (handler !== undefined && typeof handler !== 'string') throw new UsageError(`sandbox file ${file}: runtimeHandler must be a string`);
  const paths = value['namespacePaths'];
  if (paths !== undefined && !isObject(paths)) throw new UsageError(`sandbox file ${file}: namespacePaths must be an object`);
  return {
    config: value['config'],
    ...(id === undefined ? {} : { id }),
    ...(handler === undefined ? {} : { runtimeHandler: handler }),
    ...(paths === undefined ? {} : { namespacePaths: paths as SandboxNamespacePaths }),
  };
}

/**
 * Reads REQUEST.json — a full CreateContainerRequest (proto-JSON or snake_case) or a bare crictl
 * container config — and the optional `--sandbox` pod file, which replaces the request's sandbox config.
 */
export async function readRequestInput(io: CliIo, requestFile: string, sandboxFile: string | undefined): Promise<CliRequestInput> {
  const raw = await readJsonFile(io, requestFile, 'request');
  if (!isObject(raw)) throw new UsageError(`request ${requestFile} must hold a JSON object`);
  const sandbox = sandboxFile === undefined ? undefined : readSandboxInput(await readJsonFile(io, sandboxFile, 'sandbox file'), sandboxFile);
  const isFullRequest = ['config', 'sandboxConfig', 'sandbox_config', 'podSandboxId', 'pod_sandbox_id'].some((key) => key in raw);
  if (!isFullRequest && !sandbox) {
    throw new UsageError(`${requestFile} looks like a container config: give the pod with --sandbox POD.json`);
  }
  const request: Record<string, unknown> = isFullRequest ? { ...raw } : { config: raw };
  if (sandbox) {
    delete request['sandbox_config'];
    request['sandboxConfig'] = sandbox.config;
  }
  // A full request keeps the id it names (a missing one is for validation to report); a bare
  // container config takes the pod file's id, or a placeholder.
  const named = request['podSandboxId'] ?? request['pod_sandbox_id'] ?? sandbox?.id ?? (isFullRequest ? undefined : CLI_SANDBOX_ID);
  const podSandboxId = typeof named === 'string' ? named : '';
  if (named !== undefined) {
    delete request['pod_sandbox_id'];
    request['podSandboxId'] = named;
  }
  return {
    request,
    podSandboxId,
    sandboxConfig: request['sandboxConfig'] ?? request['sandbox_config'] ?? {},
    ...(sandbox ? { sandbox } : {}),
  };
}

/**
 * The record of the pod the request names, READY, as RunPodSandbox would have stored it — passed
 * to validation as `sandbox`, so a request given on the command line is checked like a real
 * CreateContainer. The config is only normalised here (syntax issues reported under
 * `sandboxConfig.`): validation checks it, as the request's `sandbox_config`, once.
 */
export function standaloneSandbox(input: CliRequestInput, options: { normalize?: NormalizeOptions } = {}): SandboxRecord | undefined {
  if (!CONTAINER_ID_PATTERN.test(input.podSandboxId)) return undefined;
  let config;
  try {
    // normalised only: validation checks this same config as the request's sandbox_config
    config = normalizePodSandboxConfig(input.sandboxConfig, options.normalize);
  } catch (error) {
    if (!(error instanceof CriValidationError)) throw error;
    throw new CriValidationError(error.issues.map((i) => ({ ...i, path: i.path ? `sandboxConfig.${i.path}` : 'sandboxConfig' })));
  }
  const record: SandboxRecord = {
    id: input.podSandboxId,
    metadata: config.metadata,
    config,
    state: 'SANDBOX_READY',
    runtimeHandler: input.sandbox?.runtimeHandler ?? '',
    namespacePaths: input.sandbox?.namespacePaths ?? {},
    createdAt: Date.now(),
  };
  return record;
}
