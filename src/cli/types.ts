/** What a CLI command reads and writes; injected so tests run commands in-process. */
export interface CliIo {
  stdout: { write(chunk: string): unknown };
  stderr: { write(chunk: string): unknown };
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  /** Aborted on SIGINT/SIGTERM by the binary; long-running commands (the simulator) stop on it. */
  signal?: AbortSignal;
}

/** Exit codes: 0 ok, 1 failure, 2 invalid input. */
export type ExitCode = 0 | 1 | 2;

/** One `lxcri` subcommand. */
export interface CliCommand {
  /** The word after `lxcri`. */
  name: string;
  /** One line for `lxcri --help`. */
  summary: string;
  /** The full `lxcri <name> --help` text. */
  usage: string;
  /** Runs the command; `args` are the words after the command name. */
  run(args: readonly string[], io: CliIo): Promise<ExitCode>;
}
