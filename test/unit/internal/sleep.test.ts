import { describe, expect, it } from 'vitest';
import { sleep } from '../../../src/internal/sleep.js';

describe('sleep', () => {
  it('resolves after the delay', async () => {
    const started = Date.now();
    await sleep(20);
    expect(Date.now() - started).toBeGreaterThanOrEqual(15);
  });

  it('rejects at once with AbortedError when the signal fires, with the reason as cause', async () => {
    const controller = new AbortController();
    const reason = new Error('stop');
    const waiting = sleep(60_000, controller.signal, 'polling aborted');
    controller.abort(reason);
    await expect(waiting).rejects.toMatchObject({ code: 'ERR_ABORTED', message: 'polling aborted', cause: reason });
  });

  it('rejects without waiting when the signal has already fired', async () => {
    await expect(sleep(60_000, AbortSignal.abort())).rejects.toMatchObject({ code: 'ERR_ABORTED', message: 'wait aborted' });
  });
});
