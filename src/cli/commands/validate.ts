import { createLinuxHostInspector } from '../../cri/host-inspector.js';
import { validateCreateContainerRequest } from '../../cri/validate.js';
import type { RuntimeHandlerFeatures, ValidateContext } from '../../cri/validate.js';
import { FileContainerStore, FileSandboxStore } from '../../cri/store-file.js';
import { InMemoryContainerStore } from '../../cri/store-memory.js';
import { readRequestInput, standaloneSandbox } from '../inputs.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

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
  --host-checks      also check the host: device nodes, mount propagation, AppArmor (available,
                     profile loaded), Localhost seccomp profiles (readable, valid), pod sysctls
                     (exist under /proc/sys, value of the kernel's shape)

Exit codes: 0 valid, 1 failure (e.g. unreadable state directory), 2 invalid request.`;

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
    const sandboxFile = values['sandbox'];
    const input = await readRequestInput(io, requestFile, typeof sandboxFile === 'string' ? sandboxFile : undefined);
    const normalize = values['env-base64'] === true ? { envValueEncoding: 'base64' as const } : {};
    const features: RuntimeHandlerFeatures = values['rro'] === true ? { recursiveReadOnlyMounts: true } : {};
    const host = values['host-checks'] === true ? createLinuxHostInspector() : undefined;

    let ctx: ValidateContext;
    const stateDir = values['state-dir'];
    if (typeof stateDir === 'string') {
      ctx = { sandboxes: new FileSandboxStore({ directory: stateDir }), containers: new FileContainerStore({ directory: stateDir }) };
    } else {
      // Stand-alone: the sandbox the request names exists, is ready, and has the given config.
      ctx = { sandbox: standaloneSandbox(input, { normalize }), containers: new InMemoryContainerStore() };
    }
    if (io.signal) ctx.signal = io.signal;
    const result = await validateCreateContainerRequest(input.request, { ...ctx, normalize, features, host });
    printJson(io, result);
    return 0;
  },
};
