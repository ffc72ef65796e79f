import { CONFIG_OPTION, CONFIG_USAGE, callOptions, openLxcri } from '../lxcri-config.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, readJsonFile, UsageError } from '../util.js';

const usage = `Usage: lxcri pod run POD.json [--runtime-handler NAME] [--config FILE]
       lxcri pod rm POD-ID... [--config FILE]
       lxcri pod ls [--config FILE]

run: RunPodSandbox — validates the PodSandboxConfig (crictl pod-config.json, proto-JSON or
     snake_case), stores the pod and makes what its crun/runc containers share (network, IPC and
     UTS namespaces as root; hosts, hostname, resolv.conf; /dev/shm). Prints { podSandboxId }.
rm:  RemovePodSandbox — removes the pod's containers, its shared resources and its record.
ls:  the stored pods.

Options:
  --runtime-handler NAME   the CRI runtime handler of the pod (see docs/runtime-selection.md)
${CONFIG_USAGE}`;

/** `lxcri pod run|rm|ls`: CRI RunPodSandbox, RemovePodSandbox, ListPodSandbox. */
export const podCommand: CliCommand = {
  name: 'pod',
  summary: 'run, remove or list pod sandboxes',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { 'runtime-handler': { type: 'string' }, ...CONFIG_OPTION });
    const [verb, ...rest] = positionals;
    if (verb !== 'run' && verb !== 'rm' && verb !== 'ls') throw new UsageError('expected pod run, pod rm or pod ls');
    if (verb === 'run' && rest.length !== 1) throw new UsageError('pod run takes one POD.json');
    if (verb === 'rm' && rest.length === 0) throw new UsageError('pod rm takes one or more POD-IDs');
    if (verb === 'ls' && rest.length > 0) throw new UsageError('pod ls takes no arguments');
    const config = verb === 'run' ? await readJsonFile(io, rest[0] as string, 'pod config') : undefined;
    await using lxcri = await openLxcri(io, values['config']);
    const call = callOptions(io);
    if (verb === 'run') {
      const handler = values['runtime-handler'];
      const { podSandboxId, sandbox } = await lxcri.runPodSandbox(config, { ...call, ...(typeof handler === 'string' ? { runtimeHandler: handler } : {}) });
      printJson(io, { podSandboxId, namespacePaths: sandbox.namespacePaths });
    } else if (verb === 'rm') {
      for (const id of rest) await lxcri.removePodSandbox(id, call);
      printJson(io, { removed: rest });
    } else {
      const pods = await lxcri.listPodSandboxes(call);
      printJson(io, { pods: pods.map((p) => ({ id: p.id, metadata: p.metadata, state: p.state, runtimeHandler: p.runtimeHandler, createdAt: new Date(p.createdAt) })) });
    }
    return 0;
  },
};
