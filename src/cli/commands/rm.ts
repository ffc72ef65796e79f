import { CONFIG_OPTION, CONFIG_USAGE, callOptions, openLxcri } from '../lxcri-config.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri rm CONTAINER-ID... [--config FILE]

RemoveContainer: removes each container from its runtime (forcibly, as CRI asks: a running one is
killed), its bundle or Proxmox VE CT, and its record. An unknown id is not an error.

Options:
${CONFIG_USAGE}

Prints { removed: [ids] }.`;

/** `lxcri rm`: CRI RemoveContainer. */
export const rmCommand: CliCommand = {
  name: 'rm',
  summary: 'remove containers (bundle or CT included)',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, CONFIG_OPTION);
    if (positionals.length === 0) throw new UsageError('give one or more CONTAINER-IDs');
    await using lxcri = await openLxcri(io, values['config']);
    const call = callOptions(io);
    try {
      for (const id of positionals) await lxcri.removeContainer(id, call);
      printJson(io, { removed: positionals });
      return 0;
    } finally {
      call.finish();
    }
  },
};
