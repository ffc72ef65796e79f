/**
 * gzip framing of layer blobs, side by side with umoci (Go's multistream gzip reader, as
 * containerd's): a layer split into many gzip members (as eStargz writes them) unpacks to umoci's
 * tree; bytes after a layer's gzip stream, zeros or not, are refused by both, and lxcri leaves
 * nothing behind.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { packTar, snapshotTree, writeImageLayout } from '../../helpers/oci-fixtures.js';
import { captureIo } from '../../helpers/cli-io.js';
import { missing } from '../../helpers/requirements.js';

/** gzip members of at most `size` bytes of the tar each, concatenated. */
const members = (tar: Buffer, size: number): Buffer => {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += size) parts.push(gzipSync(tar.subarray(i, i + size)));
  return Buffer.concat(parts);
};

describe.skipIf(missing({ root: true, tools: ['umoci'] }))('gzip framing: lxcri unpack and umoci unpack', () => {
  let work: string;
  let tars: Buffer[];

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-gzip-framing-'));
    tars = [
      await packTar([{ name: './', type: 'directory' }, { name: 'etc/', type: 'directory' }, { name: 'data/', type: 'directory' }, { name: 'etc/hostname', content: 'framing\n' }, ...Array.from({ length: 50 }, (_, i) => ({ name: `data/f${i}`, content: `file ${i}\n`.repeat(i * 40) }))]),
      await packTar([{ name: 'data/f1', content: 'replaced\n' }, { name: 'data/.wh.f2', content: '' }]),
    ];
  });

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const unpackBoth = async (name: string, blobs: Buffer[]): Promise<{ lxcri: number; err: string; umoci: ReturnType<typeof spawnSync> }> => {
    const layout = join(work, name);
    writeImageLayout(layout, tars.map((tar, i) => ({ tar, blob: blobs[i] as Buffer })), { ref: 'v1' });
    const umoci = spawnSync('umoci', ['unpack', '--image', `${layout}:v1`, join(work, `${name}-umoci`)], { encoding: 'utf8' });
    const io = captureIo();
    const lxcri = await main(['unpack', '--image', `${layout}:v1`, join(work, `${name}-lxcri`)], io);
    return { lxcri, err: io.err(), umoci };
  };

  const sameTree = (name: string): void => {
    const expected = snapshotTree(join(work, `${name}-umoci`, 'rootfs'), { mtimes: true });
    expect(snapshotTree(join(work, `${name}-lxcri`, 'rootfs'), { mtimes: true })).toEqual(expected);
    expect(expected['data/f1']).toMatchObject({ type: 'file' });
    expect(expected['data/f2']).toBeUndefined();
  };

  it('one gzip member per 4 KiB of tar (as eStargz): the same tree', async () => {
    const r = await unpackBoth('members', tars.map((t) => members(t, 4096)));
    expect(r.umoci.status, r.umoci.stderr as string).toBe(0);
    expect(r.err).toBe('');
    expect(r.lxcri).toBe(0);
    sameTree('members');
  });

  for (const [what, tail] of [
    ['zero bytes', Buffer.alloc(1000)],
    ['other bytes', Buffer.from('junk after the stream')],
  ] as const) {
    it(`${what} after a layer's gzip stream: refused by both, and lxcri leaves nothing`, async () => {
      const name = what.replace(' ', '-');
      const r = await unpackBoth(name, tars.map((t, i) => (i === 1 ? Buffer.concat([gzipSync(t), tail]) : gzipSync(t))));
      expect(r.umoci.status).not.toBe(0);
      expect(r.umoci.stderr).toContain('gzip: invalid header');
      expect(r.lxcri).not.toBe(0);
      expect(r.err).toContain('bytes after the gzip stream are not a gzip member');
      expect(existsSync(join(work, `${name}-lxcri`))).toBe(false);
    });
  }
});
