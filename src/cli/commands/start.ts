import { CONFIG_OPTION, CONFIG_USAGE, callOptions, openLxcri } from '../lxcri-config.js';
import type { CliCommand } from '../types.js';
import { oneContainerId, parseCommandArgs, printJson } from '../util.js';

const usage = `Usage: lxcri start CONTAINER-ID [--config FILE]

StartContainer: runs a created container (crun/runc start, or starts the Proxmox VE CT).

Options:
${CONFIG_USAGE}

Prints { containerId, state }.`;

/** `lxcri start`: CRI StartContainer. */
export const startCommand: CliCommand = {
  name: 'start',
  summary: 'start a created container',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, CONFIG_OPTION);
    const id = oneContainerId(positionals);
    await using lxcri = await openLxcri(io, values['config']);
    const call = callOptions(io);
    try {
      await lxcri.startContainer(id, call);
      const status = await lxcri.containerStatus(id, call);
      printJson(io, { containerId: id, state: status.state });
      return 0;
    } finally {
      call.finish();
    }
  },
};
