import type { CliIo } from '../../src/cli/types.js';

/** A CliIo that records what a command writes; `json()` parses stdout. */
export interface CapturedIo extends CliIo {
  out(): string;
  err(): string;
  json(): Record<string, unknown>;
}

/** Builds an in-memory CliIo rooted at `cwd`, for running `lxcri` commands in-process. */
export function captureIo(cwd: string = process.cwd(), env: CliIo['env'] = {}): CapturedIo {
  let out = '';
  let err = '';
  return {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: (s: string) => (err += s) },
    env,
    cwd,
    out: () => out,
    err: () => err,
    json: () => JSON.parse(out) as Record<string, unknown>,
  };
}
