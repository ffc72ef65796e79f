import { createRequire } from 'node:module';
import { commands, loadCommand, type CliCommandEntry } from './commands/index.js';
import type { CliCommand, CliIo, ExitCode } from './types.js';
import { reportError } from './util.js';

function packageVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../../package.json', '../package.json']) {
    try {
      return (require(candidate) as { version: string }).version;
    } catch {
      // try the next layout (src/cli vs dist/cli)
    }
  }
  return 'unknown';
}

function mainUsage(list: readonly CliCommandEntry[]): string {
  const width = Math.max('--version'.length, ...list.map((c) => c.name.length));
  return [
    'Usage: lxcri <command> [options]',
    '',
    'Create containers the way a CRI runtime does, with crun/runc or Proxmox VE LXC.',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    `  ${'--help'.padEnd(width)}  show this help, or a command's help (lxcri <command> --help)`,
    `  ${'--version'.padEnd(width)}  print the version`,
    '',
    'Output is JSON on stdout. Exit codes: 0 ok, 1 failure, 2 invalid input.',
  ].join('\n');
}

/**
 * Runs the `lxcri` command line and returns its exit code. Only the chosen command's module is
 * imported (the list holds names, summaries and loaders), so start-up stays small.
 * @param argv - the arguments after the program name
 * @param list - the commands (default: every `lxcri` command, loaded on demand)
 */
export async function main(argv: readonly string[], io: CliIo, list: readonly CliCommandEntry[] = commands): Promise<ExitCode> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const entry = first === 'help' ? list.find((c) => c.name === rest[0]) : undefined;
    const target = entry ? await loadCommand(entry) : undefined;
    io.stdout.write(`${target ? target.usage : mainUsage(list)}\n`);
    return first === undefined ? 2 : 0;
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const entry = list.find((c) => c.name === first);
  if (!entry) {
    io.stderr.write(`lxcri: unknown command '${first}'\n\n${mainUsage(list)}\n`);
    return 2;
  }
  const help = rest.includes('--help') || rest.includes('-h');
  // a head start only: a failure here shows again where the command needs what failed
  if (!help && 'prepare' in entry) entry.prepare?.().catch(() => undefined);
  let command: CliCommand;
  try {
    command = await loadCommand(entry);
  } catch (error) {
    // a module that cannot be imported (a broken install) is reported like any failure
    return reportError(io, error);
  }
  if (help) {
    io.stdout.write(`${command.usage}\n`);
    return 0;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    return reportError(io, error, command.usage);
  }
}
