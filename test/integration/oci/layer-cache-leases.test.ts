/**
 * The layer cache shared between processes and in awkward places: gc() of one process keeps the
 * layers another process's root filesystem is made of (lease files), and drops them once that
 * process is gone; cache roots with `:` work (escaped for overlayfs), with `,` they fall back to
 * a copy; a failed createRootfs removes the parent directories it made.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerCache } from '../../../src/oci/layers/layer-cache.js';
import { openImageLayout, type ResolvedImage } from '../../../src/oci/image/layout.js';
import { packTar, writeImageLayout } from '../../helpers/oci-fixtures.js';
import { missing } from '../../helpers/requirements.js';

const child = fileURLToPath(new URL('./layer-cache-child.ts', import.meta.url));
let work: string;
let n = 0;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-leases-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

async function image(dir: string): Promise<ResolvedImage> {
  writeImageLayout(dir, [{ tar: await packTar([{ name: 'etc/os-release', content: 'ID=lease\n' }]) }, { tar: await packTar([{ name: 'etc/hostname', content: 'leased\n' }]) }]);
  return (await openImageLayout(dir)).resolve('latest');
}

/** Starts the child; resolves once it printed READY (or rejects when it exits first). */
function startHolder(root: string, layout: string, target: string): Promise<{ proc: ChildProcess; path: string }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, root, layout, target], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve, reject) => {
    proc.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^READY (.+)\n/m.exec(out);
      if (m) resolve({ proc, path: m[1] as string });
    });
    proc.once('exit', (code) => reject(new Error(`holder exited (${code}) before READY: ${err}`)));
  });
}

const killed = (proc: ChildProcess): Promise<void> =>
  new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGKILL');
  });

describe('LayerCache shared between processes', () => {
  it("gc() keeps the layers of another process's rootfs, and drops them once that process is gone", async () => {
    const base = join(work, `case-${++n}`);
    const img = await image(join(base, 'image'));
    const root = join(base, 'cache');
    const holder = await startHolder(root, join(base, 'image'), join(base, 'ctr'));
    try {
      expect(readFileSync(join(holder.path, 'etc/hostname'), 'utf8')).toBe('leased\n');
      const cache = new LayerCache({ root });
      const first = await cache.gc();
      expect(first.removed).toEqual([]);
      expect(first.kept.sort()).toEqual([...img.chainIds].sort());
      expect(readdirSync(join(root, 'leases')).filter((l) => l.startsWith(`${holder.proc.pid}-`)).length).toBeGreaterThan(0);
    } finally {
      await killed(holder.proc);
    }
    // the holder died without release(): its lease is stale, gc removes it and the layers
    const cache = new LayerCache({ root });
    expect((await cache.gc()).removed.sort()).toEqual([...img.chainIds].sort());
    expect(readdirSync(join(root, 'leases'))).toEqual([]);
  }, 60_000);

  it('a lease of this process (another LayerCache instance on the same root) is honoured too', async () => {
    const base = join(work, `case-${++n}`);
    const img = await image(join(base, 'image'));
    const root = join(base, 'cache');
    const handle = await new LayerCache({ root }).createRootfs(img, join(base, 'ctr'), { mode: 'copy' });
    const other = new LayerCache({ root });
    expect((await other.gc()).removed).toEqual([]);
    await handle.release();
    expect(readdirSync(join(root, 'leases'))).toEqual([]);
    expect((await other.gc()).removed.sort()).toEqual([...img.chainIds].sort());
  });
});

describe('LayerCache paths', () => {
  it('a failed createRootfs removes the parent directories it created', async () => {
    const base = join(work, `case-${++n}`);
    const img = await image(join(base, 'image'));
    const cache = new LayerCache({ root: join(base, 'cache') });
    await cache.ensureLayers(img);
    // a cached layer whose content vanished: the copy fails after the target's parents were made
    rmSync(join(cache.layerPath(img.chainIds[1] as string), 'diff'), { recursive: true });
    mkdirSync(join(base, 'keep'));
    const error = await cache.createRootfs(img, join(base, 'keep', 'a', 'b', 'ctr'), { mode: 'copy' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ENOENT' });
    expect(readdirSync(join(base, 'keep'))).toEqual([]);
  });

  it('copying cached layers into a rootfs stops under the free-space reserve too', async () => {
    const base = join(work, `case-${++n}`);
    const img = await image(join(base, 'image'));
    await new LayerCache({ root: join(base, 'cache') }).ensureLayers(img);
    const strict = new LayerCache({ root: join(base, 'cache'), limits: { minFreeBytes: Number.MAX_SAFE_INTEGER } });
    const error = await strict.createRootfs(img, join(base, 'ctr'), { mode: 'copy' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_LAYER_EXTRACTION', grpcStatus: 'ResourceExhausted', details: { reason: 'no space' } });
    expect(existsSync(join(base, 'ctr'))).toBe(false);
  });

  it.skipIf(missing({ root: true, tools: ['mount', 'umount'] }))('a cache root and a target with ":" mount as overlayfs; with "," auto copies and overlay refuses clearly', async () => {
    const base = join(work, `case-${++n}`);
    const img = await image(join(base, 'image'));
    const colon = new LayerCache({ root: join(base, 'ca:che') });
    const handle = await colon.createRootfs(img, join(base, 'ctr:1'), { mode: 'overlay' });
    try {
      expect(handle.mode).toBe('overlay');
      expect(readFileSync(join(handle.path, 'etc/hostname'), 'utf8')).toBe('leased\n');
      expect(readFileSync(join(handle.path, 'etc/os-release'), 'utf8')).toBe('ID=lease\n');
      expect((await colon.gc()).removed).toEqual([]);
    } finally {
      await handle.release();
    }
    expect(existsSync(join(base, 'ctr:1'))).toBe(false);

    const comma = new LayerCache({ root: join(base, 'ca,che') });
    await expect(comma.createRootfs(img, join(base, 'ctr-2'), { mode: 'overlay' })).rejects.toMatchObject({ code: 'ERR_LAYER_EXTRACTION', message: expect.stringMatching(/comma/) });
    const copied = await comma.createRootfs(img, join(base, 'ctr-3'), { mode: 'auto' });
    try {
      expect(copied.mode).toBe('copy');
      expect(readFileSync(join(copied.path, 'etc/hostname'), 'utf8')).toBe('leased\n');
    } finally {
      await copied.release();
    }
  });
});
