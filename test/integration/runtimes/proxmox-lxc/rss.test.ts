/**
 * Building and uploading the template of a large image never holds the rootfs or the archive in
 * memory: a child process creates a CT from a 240 MiB image (incompressible data, uncompressed
 * layers) in OCI mode and in rootfs mode, and its peak RSS may rise by less than 96 MiB (measured:
 * 30-75 MiB, most of it garbage the GC has not collected yet; the rise does not grow with the
 * image). The stored template is checked for size afterwards.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPveSimulator, type PveSimulator } from '../../../../src/testing/index.js';
import { packTar, writeImageLayout } from '../../../helpers/oci-fixtures.js';
import { missing } from '../../../helpers/requirements.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CHILD = fileURLToPath(new URL('./rss-child.ts', import.meta.url));
const FILE = 60 * 1024 * 1024;
const FILES = 4;
/** Well below the 240 MiB image: neither the rootfs nor the archive can be held in memory. */
const LIMIT = 96 * 1024 * 1024;

describe.skipIf(missing({ root: true, tools: ['getfattr', 'setfattr'] })).each([
  ['9.1', 'oci'],
  ['8.4', 'rootfs'],
] as const)('template of a 240 MiB image (PVE %s, %s mode)', (version, mode) => {
  let sim: PveSimulator;
  let work: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lxcri-lxc-rss-'));
    // two uncompressed layers of two 40 MiB random files each, plus a shell so rootfs mode accepts the image
    const layers = [];
    for (let l = 0; l < 2; l++) {
      const entries = [
        { name: 'data/', type: 'directory' as const },
        ...Array.from({ length: FILES / 2 }, (_, i) => ({ name: `data/blob-${l}-${i}`, content: randomBytes(FILE) })),
        ...(l === 0 ? [{ name: 'bin/', type: 'directory' as const }, { name: 'bin/sh', content: '#!/bin/true\n', mode: 0o755 }] : []),
      ];
      layers.push({ tar: await packTar(entries), compression: 'none' as const });
    }
    writeImageLayout(join(work, 'image'), layers, { ref: 'big', config: { config: { Cmd: ['/bin/sh', '-c', 'true'], WorkingDir: '/work' } } });
    sim = await startPveSimulator({ version, taskDurationsMs: { default: 10 }, dataDir: join(work, 'pve') });
  }, 120_000);
  afterAll(async () => {
    await sim?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('keeps the peak RSS rise under 96 MiB', async () => {
    const creds = sim.state.credentials;
    const { stdout } = await run(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', CHILD, sim.url, sim.fingerprint256, creds.tokenId as string, creds.tokenSecret as string, join(work, 'image'), 'big', join(work, 'cache'), join(work, 'tmp'), mode],
      { cwd: ROOT, encoding: 'utf8', timeout: 300_000, maxBuffer: 1 << 20 },
    );
    const result = JSON.parse(stdout.trim().split('\n').at(-1) as string) as { baseline: number; peak: number; vmid: number; templateVolid: string };
    const rise = result.peak - result.baseline;
    process.stderr.write(`[${mode}] 240 MiB image: runtime RSS rise ${(rise / 1024 / 1024).toFixed(1)} MiB\n`);
    expect(rise).toBeLessThan(LIMIT);
    const stored = await stat(sim.state.volumePath('pve1', result.templateVolid) as string);
    expect(stored.size).toBeGreaterThan(FILE * FILES);
    expect(sim.state.cts.get(result.vmid)).toBeDefined();
  }, 300_000);
});
