import { CONTAINER_STATES, type ContainerState } from '../../cri/types.js';
import { CONFIG_OPTION, CONFIG_USAGE, callOptions, openLxcri } from '../lxcri-config.js';
import type { CliCommand } from '../types.js';
import { parseCommandArgs, printJson, UsageError } from '../util.js';

const usage = `Usage: lxcri ps [--pod ID] [--state STATE] [--label KEY=VALUE]... [--config FILE]

ListContainers: the containers in the state dir, their states refreshed from the runtimes.

Options:
  --pod ID             only the containers of this pod sandbox
  --state STATE        CONTAINER_CREATED, CONTAINER_RUNNING, CONTAINER_EXITED or CONTAINER_UNKNOWN
  --label KEY=VALUE    only containers with this label (repeatable)
${CONFIG_USAGE}

Prints { containers: [ { id, podSandboxId, name, runtime, state, image, createdAt, ... } ] }.`;

/** `lxcri ps`: CRI ListContainers. */
export const psCommand: CliCommand = {
  name: 'ps',
  summary: 'list containers',
  usage,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, { pod: { type: 'string' }, state: { type: 'string' }, label: { type: 'string', multiple: true }, ...CONFIG_OPTION });
    if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0] ?? ''}`);
    const state = values['state'];
    if (state !== undefined && !(CONTAINER_STATES as readonly unknown[]).includes(state)) throw new UsageError(`--state must be one of ${CONTAINER_STATES.join(', ')}`);
    const labels: Record<string, string> = {};
    for (const pair of (values['label'] as string[] | undefined) ?? []) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw new UsageError(`--label ${pair}: expected KEY=VALUE`);
      labels[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    await using lxcri = await openLxcri(io, values['config']);
    const pod = values['pod'];
    const containers = await lxcri.listContainers(
      { ...(typeof pod === 'string' ? { podSandboxId: pod } : {}), ...(state ? { state: state as ContainerState } : {}), labelSelector: labels },
      callOptions(io),
    );
    printJson(io, { containers });
    return 0;
  },
};
