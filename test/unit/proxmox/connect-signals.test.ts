import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { ConnectSignals } from '../../../src/proxmox/transport/tls.js';

describe('ConnectSignals', () => {
  it('takes one listener per connect in flight without a MaxListenersExceededWarning (a burst opens many)', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const signals = new ConnectSignals();
      const request = new AbortController();
      const untrack = signals.track(request.signal);
      for (let i = 0; i < 32; i++) signals.signal.addEventListener('abort', () => undefined, { once: true });
      await turn(); // warnings are emitted on a later tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
      // the connects stop once every waiting request was aborted, and the next connects get a fresh signal
      const first = signals.signal;
      request.abort();
      expect(first.aborted).toBe(true);
      expect(signals.signal.aborted).toBe(false);
      for (let i = 0; i < 32; i++) signals.signal.addEventListener('abort', () => undefined, { once: true });
      await turn();
      expect(warnings).not.toContain('MaxListenersExceededWarning');
      untrack();
    } finally {
      process.off('warning', onWarning);
    }
  });
});
