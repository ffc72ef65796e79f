import { CONFIG_OPTION, CONFIG_USAGE, callOptions, openLxcri } from '../lxcri-config.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri reconcile [--remove] [--config FILE]

Compares the state dir with the runtimes (crun/runc state and bundle dirs on this node; CTs that
lxcri marked in Proxmox VE) after a restart or a crash. Reports records whose container is gone
(or whose create never finished) and containers without a record; --remove removes both.

Options:
  --remove             remove what exists on only one side
${CONFIG_USAGE}

Prints { consistent, missingInRuntime, orphans, removed }.`;

/** `lxcri reconcile`: restart recovery. */
export const reconcileCommand: CliCommand = {
  name: 'reconcile',
  summary: 'compare the state dir with crun/runc and Proxmox VE; clean up',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { remove: { type: 'boolean' }, ...CONFIG_OPTION });
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0] ?? ''}`);
    await using lxcri = await openLxcri(io, values['config']);
    printJson(io, await lxcri.reconcile({ ...callOptions(io), remove: values['remove'] === true }));
    return 0;
  },
};
