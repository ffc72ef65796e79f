/**
 * Child process of file-store-crash.test.ts. Modes:
 *   pause <dir>  - create container c1 (v1), then update it to v2 and stop right before the
 *                  rename, printing `PAUSED <tempPath>`; waits to be killed.
 *   churn <dir>  - update container c1 forever with payloads of varying size, printing `SEQ <n>`
 *                  after each completed write; waits to be killed mid-write.
 */
import { createHash, randomBytes } from 'node:crypto';
import { FileContainerStore } from '../../../src/index.js';
import { normalizeContainerConfig } from '../../../src/exports/cri.js';
import type { ContainerRecord } from '../../../src/exports/cri.js';

const [mode, directory] = process.argv.slice(2);
if (!directory || (mode !== 'pause' && mode !== 'churn')) throw new Error('usage: file-store-child.ts pause|churn <dir>');

let pauseNext = false;
const store = new FileContainerStore({
  directory,
  beforeRename: async ({ tempPath }) => {
    if (!pauseNext) return;
    process.stdout.write(`PAUSED ${tempPath}\n`);
    await new Promise(() => undefined); // hang until SIGKILL
  },
});

export function payloadRecord(seq: number, blob: string): ContainerRecord {
  return {
    id: 'c1',
    sandboxId: 'sb',
    name: 'app',
    attempt: 0,
    config: normalizeContainerConfig({ metadata: { name: 'app' }, image: { image: 'busybox' } }),
    state: seq === 1 ? 'CONTAINER_CREATED' : 'CONTAINER_RUNNING',
    runtime: 'crun',
    image: 'busybox',
    imageRef: '',
    createdAt: 1,
    startedAt: seq,
    finishedAt: 0,
    exitCode: 0,
    reason: '',
    message: '',
    runtimeData: { seq, blob, sha256: createHash('sha256').update(blob).digest('hex') },
  };
}

await store.create(payloadRecord(1, 'first'));
if (mode === 'pause') {
  pauseNext = true;
  await store.update('c1', () => payloadRecord(2, 'second'));
} else {
  for (let seq = 2; ; seq++) {
    const blob = randomBytes(1 + Math.floor(Math.random() * 400_000)).toString('base64');
    await store.update('c1', () => payloadRecord(seq, blob));
    process.stdout.write(`SEQ ${seq}\n`);
  }
}
