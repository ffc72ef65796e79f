/**
 * Waiting in tests without sleep-and-hope: poll a condition until it holds or a deadline passes
 * (generous, so a loaded machine only makes the wait longer, never the test wrong).
 */
import { setTimeout as delay } from 'node:timers/promises';

/**
 * Resolves with the first truthy value of `condition` (polled every `intervalMs`); rejects with
 * `what` once `timeoutMs` passed without one.
 */
export async function until<T>(condition: () => T | Promise<T>, what: string, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    const value = await condition();
    if (value) return value as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${options.timeoutMs ?? 15_000} ms waiting for ${what}`);
    await delay(options.intervalMs ?? 10);
  }
}

/** Whether a process exists (signal 0; EPERM means it exists but is not ours). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
