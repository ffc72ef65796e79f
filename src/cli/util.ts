import { parseArgs } from 'node:util';

type ParseArgsOptionsConfig = NonNullable<Parameters<typeof parseArgs>[0]>['options'] & object;
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isLxcriError } from '../errors.js';
import type { CliIo, ExitCode } from './types.js';

/** A usage mistake: printed with the command's usage, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses a command's arguments with node:util parseArgs; unknown options are usage errors. */
/** Parsed command-line options: option values by name, and the positional words. */
export interface ParsedCommandArgs {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export function parseCommandArgs(args: readonly string[], options: ParseArgsOptionsConfig): ParsedCommandArgs {
  try {
    return parseArgs({ args: [...args], options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The one CONTAINER-ID of `start`, `stop` and `inspect`. */
export function oneContainerId(positionals: readonly string[]): string {
  const [id, ...extra] = positionals;
  if (id === undefined || extra.length > 0) throw new UsageError('give exactly one CONTAINER-ID');
  return id;
}

/** Writes a value as pretty JSON and a newline to stdout. */
export function printJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Reads and parses a JSON file given on the command line, relative to the working directory. */
export async function readJsonFile(io: CliIo, file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new UsageError(`${what} ${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Input errors (exit 2) are the ones about what the caller gave; everything else is a failure (exit 1). */
const INPUT_CODES = new Set(['ERR_CRI_VALIDATION', 'ERR_INVALID_OPTIONS', 'ERR_INVALID_ARGUMENT']);

/**
 * Reports an error as JSON on stdout (`{ "error": ... }`) plus one line on stderr, and returns the exit code.
 */
export function reportError(io: CliIo, error: unknown, usage?: string): ExitCode {
  if (error instanceof UsageError) {
    io.stderr.write(`lxcri: ${error.message}\n${usage ? `\n${usage}\n` : ''}`);
    printJson(io, { error: { code: 'ERR_USAGE', message: error.message } });
    return 2;
  }
  if (isLxcriError(error)) {
    printJson(io, { error: error.toJSON() });
    io.stderr.write(`lxcri: ${error.message}\n`);
    return INPUT_CODES.has(error.code) ? 2 : 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  printJson(io, { error: { code: 'ERR_INTERNAL', message } });
  io.stderr.write(`lxcri: ${message}\n`);
  return 1;
}
