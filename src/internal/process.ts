/**
 * Process checks that load no `node:child_process` (a pull's store imports this; the command
 * runner is in `./run-command.ts`).
 *
 * @module
 */
/**
 * True when a process with this pid exists (also one owned by another user: EPERM). Not a pid
 * (0, negative, not an integer — `kill(0)` and `kill(-1)` would reach a whole process group or
 * every process) is no process.
 */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
