/**
 * The layer worker booted ahead (`lxcri unpack` starts it while its modules load): the next
 * reader takes it, an unused one never holds the process, and `main()` starts a command's
 * `prepare` except for `--help`.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../../src/cli/main.js';
import type { LazyCliCommand } from '../../../../src/cli/commands/index.js';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { prestartLayerWorker, startLayerWorker } from '../../../../src/oci/layers/layer-worker.js';
import { unpackImage } from '../../../../src/oci/layers/unpack-image.js';
import { captureIo } from '../../../helpers/cli-io.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-layer-worker-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the layer worker booted ahead', () => {
  it('is taken by the next start, once; a second start makes a new worker', async () => {
    const spare = prestartLayerWorker();
    expect(prestartLayerWorker()).toBe(spare);
    const taken = startLayerWorker();
    expect(taken).toBe(spare);
    const other = startLayerWorker();
    expect(other).not.toBe(spare);
    await Promise.all([taken.terminate(), other.terminate()]);
  });

  it('reads a layer bigger than the in-thread limit (the unpack takes the waiting worker)', async () => {
    const content = randomBytes(5 * 1024 * 1024);
    const layout = join(work, 'big');
    writeImageLayout(layout, [{ tar: await packTar([{ name: 'big', content }]), compression: 'none' }]);
    const image = await (await openImageLayout(layout)).resolve('latest');
    const spare = prestartLayerWorker();
    const result = await unpackImage(image, join(work, 'big-out'));
    // the unpack took it (and ended it): a new prestart boots another one
    expect(prestartLayerWorker()).not.toBe(spare);
    await startLayerWorker().terminate();
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    expect(sha(readFileSync(join(result.rootfs, 'big')))).toBe(sha(content));
  });

  it('never keeps the process alive when nothing takes it', async () => {
    const script = join(work, 'spare.mjs');
    const module = new URL('../../../../src/oci/layers/layer-worker.ts', import.meta.url).href;
    writeFileSync(script, `const m = await import(${JSON.stringify(module)});\nm.prestartLayerWorker().once('online', () => console.log('online'));\n`);
    const child = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    clearTimeout(deadline);
    // an unreferenced worker lets the process end once its own work is done, booted or not
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(out === '' || out === 'online\n').toBe(true);
  }, 30_000);
});

describe('main() and a command that prepares', () => {
  it('starts prepare before the run, not for --help; a failing prepare does not fail the command', async () => {
    const prepared: string[] = [];
    const entry = (name: string, prepare: () => Promise<void>): LazyCliCommand => ({
      name,
      summary: name,
      prepare,
      load: async () => ({
        name,
        summary: name,
        usage: `Usage: lxcri ${name}`,
        run: async (_args, io) => {
          io.stdout.write(`${prepared.join(',')}\n`);
          return 0;
        },
      }),
    });
    const list = [
      entry('a', async () => {
        prepared.push('a');
      }),
      entry('b', async () => {
        throw new Error('no worker here');
      }),
    ];
    let io = captureIo();
    expect(await main(['a', '--help'], io, list)).toBe(0);
    expect(prepared).toEqual([]);
    io = captureIo();
    expect(await main(['a'], io, list)).toBe(0);
    expect(io.out()).toBe('a\n');
    io = captureIo();
    expect(await main(['b'], io, list)).toBe(0);
    expect(io.out()).toBe('a\n');
  });
});
