/**
 * Process checks that load no `node:child_process` (a pull's store imports this; the command
 * runner is in `./run-command.ts`).
 *
 * @module
 */
/** True when a process with this pid exists (also one owned by another user: EPERM). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
