import { AbortedError } from '../errors.js';

/**
 * A FIFO async mutex: `run` executes callbacks one at a time, in call order; a failed holder
 * does not block the ones after it.
 */
export class Mutex {
  #tail: Promise<void> = Promise.resolve();

  /**
   * Runs `fn` when every earlier holder is done. When `signal` fires while waiting, rejects with
   * {@link AbortedError} (`<what> aborted`) at once and gives up its turn (later callers are not
   * held up).
   */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal, what = 'waiting for the lock'): Promise<T> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const previous = this.#tail;
    this.#tail = previous.then(() => next);
    try {
      await waitUnlessAborted(previous, signal, what);
    } catch (error) {
      void previous.then(release);
      throw error;
    }
    try {
      return await fn();
    } finally {
      release();
    }
  }
}

function waitUnlessAborted(promise: Promise<void>, signal: AbortSignal | undefined, what: string): Promise<void> {
  if (!signal) return promise;
  const aborted = (): AbortedError => new AbortedError(`${what} aborted`, {}, { cause: signal.reason });
  if (signal.aborted) return Promise.reject(aborted());
  return new Promise<void>((resolve, reject) => {
    const onAbort = (): void => reject(aborted());
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}
