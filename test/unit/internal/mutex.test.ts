import { describe, expect, it } from 'vitest';
import { Mutex } from '../../../src/internal/mutex.js';

describe('Mutex', () => {
  it('runs holders one at a time in FIFO order, also after a failure', async () => {
    const m = new Mutex();
    const order: string[] = [];
    const job = (name: string, ms: number, fail = false) =>
      m.run(async () => {
        order.push(`start ${name}`);
        await new Promise((r) => setTimeout(r, ms));
        order.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      });
    const results = await Promise.allSettled([job('a', 10), job('b', 1, true), job('c', 1)]);
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });
});

describe('Mutex under cancellation', () => {
  it('a waiter whose signal fires rejects with AbortedError and gives up its turn', async () => {
    const m = new Mutex();
    let release!: () => void;
    const holder = m.run(() => new Promise<string>((r) => (release = () => r('held'))));
    const controller = new AbortController();
    const waiter = m.run(async () => 'never', controller.signal, 'taking the lock');
    const later = m.run(async () => 'later');
    controller.abort(new Error('gave up'));
    await expect(waiter).rejects.toMatchObject({ code: 'ERR_ABORTED', message: 'taking the lock aborted' });
    release();
    await expect(holder).resolves.toBe('held');
    await expect(later).resolves.toBe('later');
  });
});
