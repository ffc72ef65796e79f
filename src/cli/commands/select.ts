import { normalizeCreateContainerRequest } from '../../cri/normalize.js';
import { hasErrorCode } from '../../errors.js';
import { parseRuntimePolicy } from '../../runtime-selector/policy.js';
import { createRuntimeProbes } from '../../runtime-selector/probes.js';
import type { RuntimeProbeResults } from '../../runtime-selector/probes.js';
import { selectRuntime } from '../../runtime-selector/select-runtime.js';
import type { RuntimeSelectionContext } from '../../runtime-selector/select-runtime.js';
import { readRequestInput } from '../inputs.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, readJsonFile, reportError, UsageError } from '../util.js';

const usage = `Usage: lxcri select REQUEST.json [--sandbox POD.json] [--policy POLICY.json] [options]

Decides whether a container runs under crun (the OCI runtime on the node) or as a Proxmox VE LXC
container, and prints why: { runtime, reason, source, changed, trace }.

REQUEST.json is a CRI CreateContainerRequest (proto-JSON or snake_case), or a crictl
container-config.json together with --sandbox.

Options:
  --sandbox FILE          the pod: a PodSandboxConfig (crictl pod-config.json), or an object with
                          "config" and "runtimeHandler" (a RunPodSandboxRequest or a sandbox
                          record); replaces the request's sandboxConfig
  --policy FILE           the runtime policy (JSON); default: the built-in defaults
  --runtime-handler NAME  the sandbox's runtime handler (like crictl runp --runtime)
  --pod-container NAME    a container already in the pod (repeatable)
  --probe                 run the OCI runtime probe (<binary> --version) and check availability;
                          Proxmox VE availability is not probed by this command
  --oci-runtime PATH      the OCI runtime binary to probe (default crun)

Exit codes: 0 selected, 1 no runtime can be used, 2 invalid input (request, policy, unknown
runtime handler or annotation value).`;

/** `lxcri select`: runs the runtime policy on a request. */
export const selectCommand: CliCommand = {
  name: 'select',
  summary: 'choose crun or Proxmox LXC for a CreateContainerRequest, with the reason and a trace',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      sandbox: { type: 'string' },
      policy: { type: 'string' },
      'runtime-handler': { type: 'string' },
      'pod-container': { type: 'string', multiple: true },
      probe: { type: 'boolean' },
      'oci-runtime': { type: 'string' },
    });
    if (positionals.length !== 1) throw new UsageError('exactly one REQUEST.json is required');
    const requestFile = positionals[0] as string;
    const sandboxFile = values['sandbox'];
    const input = await readRequestInput(io, requestFile, typeof sandboxFile === 'string' ? sandboxFile : undefined);
    const { sandbox } = input;
    const request = normalizeCreateContainerRequest(input.request);

    const policyFile = values['policy'];
    const policy = typeof policyFile === 'string' ? parseRuntimePolicy(await readJsonFile(io, policyFile, 'policy'), `runtime policy ${policyFile}`) : parseRuntimePolicy({});

    const handlerFlag = values['runtime-handler'];
    const runtimeHandler = typeof handlerFlag === 'string' ? handlerFlag : sandbox?.runtimeHandler;
    const podContainers = (values['pod-container'] as string[] | undefined) ?? [];
    const context: RuntimeSelectionContext = {
      sandbox: {
        ...(runtimeHandler === undefined ? {} : { runtimeHandler }),
        ...(sandbox?.namespacePaths ? { namespacePaths: sandbox.namespacePaths } : {}),
      },
      podContainers: podContainers.map((name) => ({ id: name, name })),
    };

    let probes: RuntimeProbeResults | undefined;
    if (values['probe'] === true) {
      const ociRuntime = values['oci-runtime'];
      const probe = createRuntimeProbes({ ...(typeof ociRuntime === 'string' ? { ociRuntimePath: ociRuntime } : {}) });
      probes = { crun: await probe.probeOciRuntime(io.signal ? { signal: io.signal } : {}) };
    } else if (values['oci-runtime'] !== undefined) {
      throw new UsageError('--oci-runtime needs --probe');
    }

    try {
      const selection = selectRuntime(request, policy, probes, context);
      printJson(io, { ...selection, ...(probes ? { probes } : {}) });
      return 0;
    } catch (error) {
      const code = reportError(io, error);
      // An unknown handler or annotation value is a mistake in the input.
      return hasErrorCode(error, 'ERR_RUNTIME_SELECTION') && error.grpcStatus === 'InvalidArgument' ? 2 : code;
    }
  },
};
