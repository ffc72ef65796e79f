import { describe, expect, it } from 'vitest';
import { Mutex } from '../../../src/internal/mutex.js';

describe('Mutex', () => {
  it('runs holders one at a time in FIFO order, also after a failure', async () => {
    const m = new Mutex();
    const order: string[] = [];
    let openGate!: () => void;
    const gate = new Promise<void>((r) => (openGate = r));
    const job = (name: string, wait: Promise<void> | undefined, fail = false) =>
      m.run(async () => {
        order.push(`start ${name}`);
        await wait;
        order.push(`end ${name}`);
        if (fail) throw new Error(name);
        return name;
      });
    // a holds the lock until b and c are queued behind it
    const all = Promise.allSettled([job('a', gate), job('b', undefined, true), job('c', undefined)]);
    openGate();
    const results = await all;
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
