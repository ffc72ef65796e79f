import { CONFIG_OPTION, CONFIG_USAGE, callOptions, openLxcri } from '../lxcri-config.js';
import type { CliCommand } from '../types.js';
import { oneContainerId, parseCommandArgs, printJson } from '../util.js';

const usage = `Usage: lxcri inspect CONTAINER-ID [--config FILE]

ContainerStatus: one container's record, its state refreshed from its runtime (an exit is
recorded), with its log path and runtime data (bundle path, or Proxmox VE node and VMID).

Options:
${CONFIG_USAGE}`;

/** `lxcri inspect`: CRI ContainerStatus. */
export const inspectCommand: CliCommand = {
  name: 'inspect',
  summary: "show a container's status",
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, CONFIG_OPTION);
    const id = oneContainerId(positionals);
    await using lxcri = await openLxcri(io, values['config']);
    printJson(io, await lxcri.containerStatus(id, callOptions(io)));
    return 0;
  },
};
