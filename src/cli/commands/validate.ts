import { createLinuxHostInspector } from '../../cri/host-inspector.js';
import { validateCreateContainerRequest, validatePodSandboxConfig } from '../../cri/validate.js';
import type { RuntimeHandlerFeatures, ValidateContext } from '../../cri/validate.js';
import { FileContainerStore, FileSandboxStore } from '../../cri/store-file.js';
import { InMemoryContainerStore, InMemorySandboxStore } from '../../cri/store-memory.js';
import { RECORD_ID_PATTERN } from '../../cri/store-common.js';
import { CriValidationError, isLxcriError } from '../../errors.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, readJsonFile, UsageError } from '../util.js';

const usage = `Usage: lxcri validate REQUEST.json [--sandbox POD.json] [options]

Validates a CRI CreateContainerRequest the way a CRI runtime does before creating the container,
and prints the normalised request (camelCase proto3 JSON with every default filled in), or every
issue found (path, code, message, gRPC status) with exit code 2.

REQUEST.json is a CreateContainerRequest (proto3 JSON or crictl-style snake_case), or a crictl
container-config.json together with --sandbox.

Options:
  --sandbox FILE     a PodSandboxConfig (crictl pod-config.json); it replaces the request's
                     sandboxConfig
  --state-dir DIR    look sandboxes and containers up in this file store (as created by the
                     library's FileSandboxStore / FileContainerStore); without it, the sandbox is
                     taken to exist and be ready, and no container exists yet
  --env-base64       read env values as base64 (proto3 JSON "bytes", cri-api >= v0.36.2)
  --rro              the runtime handler supports recursive read-only mounts
  --host-checks      also check the host: device nodes, mount propagation, AppArmor profiles

Exit codes: 0 valid, 1 failure (e.g. unreadable state directory), 2 invalid request.`;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Prefixes the issues of a pod-config file so they point into the request. */
function inSandboxConfig(error: unknown): unknown {
  if (!(error instanceof CriValidationError)) return error;
  return new CriValidationError(error.issues.map((i) => ({ ...i, path: i.path ? `sandboxConfig.${i.path}` : 'sandboxConfig' })));
}

/** `lxcri validate`: validates and normalises a CreateContainerRequest. */
export const validateCommand: CliCommand = {
  name: 'validate',
  summary: 'validate and normalise a CRI CreateContainerRequest (or crictl container config + pod config)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      sandbox: { type: 'string' },
      'state-dir': { type: 'string' },
      'env-base64': { type: 'boolean' },
      rro: { type: 'boolean' },
      'host-checks': { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('exactly one REQUEST.json is required');
    const requestFile = positionals[0] as string;
    const raw = await readJsonFile(io, requestFile, 'request');
    if (!isObject(raw)) throw new UsageError(`request ${requestFile} must hold a JSON object`);

    const isFullRequest = ['config', 'sandboxConfig', 'sandbox_config', 'podSandboxId', 'pod_sandbox_id'].some((key) => key in raw);
    const sandboxFile = values['sandbox'];
    if (!isFullRequest && typeof sandboxFile !== 'string') {
      throw new UsageError(`${requestFile} looks like a container config: give the pod config with --sandbox POD.json`);
    }
    let input: Record<string, unknown> = isFullRequest ? { ...raw } : { podSandboxId: 'cli-sandbox', config: raw };
    if (typeof sandboxFile === 'string') {
      const pod = await readJsonFile(io, sandboxFile, 'sandbox file');
      delete input['sandbox_config'];
      input = { ...input, sandboxConfig: pod };
    }
    const normalize = values['env-base64'] === true ? { envValueEncoding: 'base64' as const } : {};
    const features: RuntimeHandlerFeatures = values['rro'] === true ? { recursiveReadOnlyMounts: true } : {};
    const host = values['host-checks'] === true ? createLinuxHostInspector() : undefined;

    let ctx: ValidateContext;
    const stateDir = values['state-dir'];
    if (typeof stateDir === 'string') {
      ctx = { sandboxes: new FileSandboxStore({ directory: stateDir }), containers: new FileContainerStore({ directory: stateDir }) };
    } else {
      // Stand-alone: the sandbox the request names exists, is ready, and has the given config.
      const sandboxes = new InMemorySandboxStore();
      const id = input['podSandboxId'] ?? input['pod_sandbox_id'];
      const sandboxConfig = input['sandboxConfig'] ?? input['sandbox_config'];
      if (typeof id === 'string' && RECORD_ID_PATTERN.test(id) && sandboxConfig !== undefined) {
        let config;
        try {
          config = validatePodSandboxConfig(sandboxConfig, { normalize, features });
        } catch (error) {
          throw isLxcriError(error) ? inSandboxConfig(error) : error;
        }
        await sandboxes.create({ id, metadata: config.metadata, config, state: 'SANDBOX_READY', runtimeHandler: '', namespacePaths: {}, createdAt: Date.now() });
      }
      ctx = { sandboxes, containers: new InMemoryContainerStore() };
    }
    if (io.signal) ctx.signal = io.signal;
    const result = await validateCreateContainerRequest(input, { ...ctx, normalize, features, host });
    printJson(io, result);
    return 0;
  },
};
