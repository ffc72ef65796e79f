import { AbortedError } from '../errors.js';

/**
 * Waits `ms` milliseconds; rejects with {@link AbortedError} (`message`, the signal's reason as
 * `cause`) at once when `signal` fires, and clears the timer.
 */
export function sleep(ms: number, signal?: AbortSignal, message = 'wait aborted'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError(message, {}, { cause: signal.reason }));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError(message, {}, { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
