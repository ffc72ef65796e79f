/**
 * Runs a command and collects its exit code and stderr.
 *
 * @module
 */
import { spawn } from 'node:child_process';

/** What {@link runCommand} saw: the exit code (`null` when it could not start or was killed) and stderr. */
export interface CommandResult {
  code: number | null;
  stderr: string;
}

/**
 * Runs a system command (no shell) and collects up to 16 KiB of stderr. Never rejects: a command
 * that cannot start gives `code: null` and the spawn error as stderr.
 */
export function runCommand(command: string, args: readonly string[], signal?: AbortSignal): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 16384) stderr += d;
    });
    child.on('error', (error) => resolve({ code: null, stderr: error.message }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}
