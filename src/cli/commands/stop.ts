import { CONFIG_OPTION, CONFIG_USAGE, callOptions, openLxcri } from '../lxcri-config.js';
import type { CliCommand } from '../types.js';
import { oneContainerId, parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri stop CONTAINER-ID [--timeout SECONDS] [--config FILE]

StopContainer: SIGTERM (Proxmox VE: shutdown), then after the timeout SIGKILL (PVE: stop).

Options:
  --timeout SECONDS    how long to wait for a graceful stop (default 10; 0 = kill at once)
${CONFIG_USAGE}

Prints { containerId, state, exitCode }.`;

/** `lxcri stop`: CRI StopContainer. */
export const stopCommand: CliCommand = {
  name: 'stop',
  summary: 'stop a running container',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { timeout: { type: 'string' }, ...CONFIG_OPTION });
    const id = oneContainerId(positionals);
    const timeoutText = values['timeout'];
    const timeout = typeof timeoutText === 'string' ? Number(timeoutText) : 10;
    if (!Number.isInteger(timeout) || timeout < 0) throw new UsageError('--timeout must be a whole number of seconds, 0 or more');
    await using lxcri = await openLxcri(io, values['config']);
    const call = callOptions(io);
    try {
      await lxcri.stopContainer(id, timeout, call);
      const status = await lxcri.containerStatus(id, call);
      printJson(io, { containerId: id, state: status.state, exitCode: status.exitCode });
      return 0;
    } finally {
      call.finish();
    }
  },
};
