/**
 * The child process of the crash-safety suite (run with tsx). It reads
 * `{ options, request, freezeAt }` as JSON from the environment variable LXCRI_CRASH_INPUT, opens
 * an `Lxcri` and creates the container. Every progress event is written to stdout as
 * `EVENT <step>:<event>:<phase>`; at the first event equal to `freezeAt` it writes
 * `FROZEN <key>` and blocks its event loop for good, so the parent can SIGKILL it at exactly
 * that point of the create. Without a match it writes `DONE <json>` and exits.
 */
import { writeSync } from 'node:fs';
import { Lxcri } from '../../src/lxcri/lxcri.js';
import type { LxcriOptions } from '../../src/lxcri/options.js';

interface CrashInput {
  options: LxcriOptions;
  request: unknown;
  freezeAt: string;
}

const input = JSON.parse(process.env['LXCRI_CRASH_INPUT'] ?? '{}') as CrashInput;
const lxcri = new Lxcri(input.options);
const blocker = new Int32Array(new SharedArrayBuffer(4));

const result = await lxcri.createContainer(input.request, {
  onProgress: (p) => {
    const key = `${p.step}:${p.event}:${p.phase ?? ''}`;
    writeSync(1, `EVENT ${key}\n`);
    if (key === input.freezeAt) {
      writeSync(1, `FROZEN ${key}\n`);
      // block here until killed: nothing of the create runs on
      for (;;) Atomics.wait(blocker, 0, 0);
    }
  },
});
writeSync(1, `DONE ${JSON.stringify({ containerId: result.containerId, vmid: result.vmid, bundlePath: result.bundlePath })}\n`);
await lxcri.close();
