/**
 * One worker reads all layers of an unpack and queues the next layer while the current one is
 * applied. Layers larger than the batches in flight (4 × 1 MiB) are what can deadlock a wrong
 * queue order, so these layers are 6 MiB each; a failing layer in the middle must stop the
 * queued ones and leave nothing behind.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerExtractionError } from '../../../../src/errors.js';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { LayerInflater } from '../../../../src/oci/layers/decompress.js';
import { layerReaderOptions, unpackImage, type LayerProgress } from '../../../../src/oci/layers/unpack-image.js';
import { extractionLimitsSchema } from '../../../../src/oci/layers/limits-schema.js';
import { packTar, writeImageLayout, type FixtureLayer } from '../../../helpers/oci-fixtures.js';
import { until } from '../../../helpers/wait.js';

let work: string;
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const contents = [0, 1, 2].map(() => randomBytes(6 * 1024 * 1024));

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-read-ahead-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function layers(): Promise<FixtureLayer[]> {
  return Promise.all(
    contents.map(async (content, i) => ({
      tar: await packTar([
        { name: `layer${i}/`, type: 'directory' },
        { name: `layer${i}/big`, content },
        { name: 'shared', content: `from layer ${i}\n` },
      ]),
    })),
  );
}

describe('reading layers ahead', () => {
  it('unpacks big layers in order through one worker and gets every byte right', async () => {
    const layout = join(work, 'ok');
    writeImageLayout(layout, await layers());
    const image = await (await openImageLayout(layout)).resolve('latest');
    const done: number[] = [];
    const result = await unpackImage(image, join(work, 'ok-out'), { onProgress: (p: LayerProgress) => (p.done ? done.push(p.layer) : undefined) });
    expect(done).toEqual([0, 1, 2]);
    expect(result.entries).toBe(9);
    for (const [i, content] of contents.entries()) expect(sha(readFileSync(join(result.rootfs, `layer${i}`, 'big')))).toBe(sha(content));
    expect(readFileSync(join(result.rootfs, 'shared'), 'utf8')).toBe('from layer 2\n');
  });

  it('stops the queued layers when one in the middle fails, and removes what it wrote', async () => {
    const layout = join(work, 'bad');
    const l = await layers();
    l[1] = { ...(l[1] as FixtureLayer), diffId: `sha256:${'0'.repeat(64)}` };
    writeImageLayout(layout, l);
    const image = await (await openImageLayout(layout)).resolve('latest');
    const target = join(work, 'bad-out');
    const error = await unpackImage(image, target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LayerExtractionError);
    expect((error as LayerExtractionError).message).toMatch(/diffid mismatch/);
    expect(existsSync(target)).toBe(false);
  });

  // the 6 MiB layers go to a worker by default; in-thread reading (small layers) runs the same jobs
  it.each([
    ['a worker thread', {}],
    ['the calling thread', { inThreadMaxBytes: 1 << 30 }],
  ] as const)('a reader queued ahead keeps its place (%s): reading the layers in queue order gets each stream whole', async (where, options) => {
    const layout = join(work, `direct-${where.replace(/ /g, '-')}`);
    const l = await layers();
    writeImageLayout(layout, l);
    const image = await (await openImageLayout(layout)).resolve('latest');
    const limits = extractionLimitsSchema.parse({});
    const inflater = new LayerInflater(options);
    try {
      for (let i = 0; i < 3; i++) inflater.prefetch(layerReaderOptions(image, i, limits));
      for (let i = 0; i < 3; i++) {
        const reader = inflater.reader(layerReaderOptions(image, i, limits));
        const hash = createHash('sha256');
        for await (const chunk of reader) hash.update(chunk);
        expect(hash.digest('hex')).toBe(sha((l[i] as FixtureLayer).tar));
        expect(reader.diffId).toBe(image.diffIds[i]);
      }
    } finally {
      await inflater.close();
    }
  });

  it('closing the inflater stops an in-thread job nobody reads (waiting for credits) and closes its blob file', async () => {
    const layout = join(work, 'close-in-thread');
    writeImageLayout(layout, await layers());
    const image = await (await openImageLayout(layout)).resolve('latest');
    const options = layerReaderOptions(image, 0, extractionLimitsSchema.parse({}));
    const openBlob = (): boolean => readdirSync('/proc/self/fd').some((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === options.path;
      } catch {
        return false;
      }
    });
    const inflater = new LayerInflater({ inThreadMaxBytes: 1 << 30 });
    inflater.reader(options); // started, never read (a reader still being read when its unpack fails)
    // 6 MiB of random data is more than the batches in flight: the job ends up waiting with the file open
    await until(openBlob, 'the blob to be opened');
    await inflater.close();
    await until(() => !openBlob(), 'the blob file to be closed');
  });
});
