import { readRequestInput } from '../inputs.js';
import { CONFIG_OPTION, CONFIG_USAGE, callOptions, openLxcri } from '../lxcri-config.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri create --request REQUEST.json [--sandbox POD.json] [--config FILE]

CreateContainer: validates the request against the stored pod, picks the runtime (crun/runc on
this node, or a Proxmox VE LXC container), prepares the root filesystem or template and creates
the container (not started). A failure or Ctrl-C removes everything this command made.

REQUEST.json is a CRI CreateContainerRequest (proto-JSON or snake_case), or a crictl
container-config.json together with --sandbox. When the pod it names is not in the store (or it
names none), the pod from --sandbox (or the request's sandbox_config) is run first.

Options:
  --request FILE       the CreateContainerRequest (or container config)
  --sandbox FILE       the pod: a PodSandboxConfig (crictl pod-config.json), or {"id", "config"}
${CONFIG_USAGE}

Prints { containerId, podSandboxId, podCreated, runtime, decision, image, bundlePath | node + vmid, timings }.`;

/** `lxcri create`: CRI CreateContainer. */
export const createCommand: CliCommand = {
  name: 'create',
  summary: 'create a container from a CRI request (crun/runc or Proxmox VE LXC)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { request: { type: 'string' }, sandbox: { type: 'string' }, ...CONFIG_OPTION });
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0] ?? ''}`);
    const requestFile = values['request'];
    if (typeof requestFile !== 'string' || requestFile === '') throw new UsageError('--request FILE is required');
    const sandboxFile = values['sandbox'];
    const input = await readRequestInput(io, requestFile, typeof sandboxFile === 'string' ? sandboxFile : undefined);
    await using lxcri = await openLxcri(io, values['config']);
    const call = callOptions(io);
    try {
      let podSandboxId = input.podSandboxId;
      let podCreated = false;
      if (podSandboxId === '' || podSandboxId === 'cli-sandbox' || !(await lxcri.sandboxes.get(podSandboxId).catch(() => undefined))) {
        const pod = await lxcri.runPodSandbox(input.sandboxConfig, { ...call, ...(input.sandbox?.runtimeHandler ? { runtimeHandler: input.sandbox.runtimeHandler } : {}) });
        podSandboxId = pod.podSandboxId;
        podCreated = true;
      }
      try {
        const result = await lxcri.createContainer({ ...input.request, podSandboxId }, call);
        printJson(io, { ...result, podSandboxId, podCreated });
        return 0;
      } catch (error) {
        if (podCreated) await lxcri.removePodSandbox(podSandboxId).catch(() => undefined);
        throw error;
      }
    } finally {
      call.finish();
    }
  },
};
