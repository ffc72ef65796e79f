/**
 * LayerCache with real overlayfs mounts and copies: the root filesystem it builds equals the tree
 * `umoci unpack` writes; layers are extracted once (also for concurrent callers); release()
 * unmounts and removes exactly what was made; gc removes unused layers and keeps used ones.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerCache, openImageLayout, type ResolvedImage } from '../../../src/index.js';
import { unpackImage, type LayerProgress } from '../../../src/exports/oci.js';
import { buildFeatureImage, packTar, snapshotTree, writeImageLayout, type TreeNode } from '../../helpers/oci-fixtures.js';
import { missing } from '../../helpers/requirements.js';

const mounted = (path: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${path} `);

/** The rootfs directory's own attributes differ by construction (overlay upper dir vs umoci's epoch-dated dir). */
const withoutRoot = (tree: Record<string, TreeNode>): Record<string, TreeNode> => {
  const { '.': _root, ...rest } = tree;
  return rest;
};

describe.skipIf(missing({ root: true, tools: ['umoci', 'setfattr', 'getfattr', 'mknod', 'mount'] }))('LayerCache', () => {
  let work: string;
  let image: ResolvedImage;
  let expected: Record<string, TreeNode>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-cache-'));
    const layout = join(work, 'image');
    buildFeatureImage(layout, 'test', work);
    execFileSync('umoci', ['unpack', '--image', `${layout}:test`, join(work, 'by-umoci')]);
    expected = withoutRoot(snapshotTree(join(work, 'by-umoci', 'rootfs'), { xattrs: true }));
    image = await (await openImageLayout(layout)).resolve('test');
  }, 120_000);

  afterAll(() => {
    if (!work) return;
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const mountPoint = line.split(' ')[4];
      if (mountPoint?.startsWith(work)) execFileSync('umount', [mountPoint]);
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('mounts an overlay of the cached layers that equals umoci unpack, and release() undoes it', async () => {
    const cache = new LayerCache({ root: join(work, 'cache-a') });
    const progress: LayerProgress[] = [];
    const target = join(work, 'ctr-overlay');
    const handle = await cache.createRootfs(image, target, { mode: 'overlay', onProgress: (p) => progress.push(p) });
    expect(handle.mode).toBe('overlay');
    expect(handle.path).toBe(join(target, 'rootfs'));
    expect(mounted(handle.path)).toBe(true);
    expect(progress.filter((p) => p.done).map((p) => p.layer).sort()).toEqual(image.layers.map((_, i) => i));
    const actual = withoutRoot(snapshotTree(handle.path, { xattrs: true }));
    expect(actual).toEqual(expected);
    // the container's writes go to its own upper dir, never into the cache
    writeFileSync(join(handle.path, 'etc/passwd'), 'changed');
    expect(readFileSync(join(target, 'upper', 'etc', 'passwd'), 'utf8')).toBe('changed');
    expect(readFileSync(join(cache.layerPath(image.chainIds[1] as string), 'diff', 'etc', 'passwd'), 'utf8')).not.toBe('changed');

    await handle.release();
    expect(mounted(handle.path)).toBe(false);
    expect(existsSync(target)).toBe(false);
    await handle.release(); // idempotent
    for (const chainId of image.chainIds) expect(existsSync(cache.layerPath(chainId))).toBe(true);
  });

  it('a warm rootfs reuses the cache (no extraction)', async () => {
    const cache = new LayerCache({ root: join(work, 'cache-a') });
    const progress: LayerProgress[] = [];
    const started = performance.now();
    const handle = await cache.createRootfs(image, join(work, 'ctr-warm'), { onProgress: (p) => progress.push(p) });
    const ms = performance.now() - started;
    expect(handle.mode).toBe('overlay');
    expect(progress).toEqual([]);
    expect(readdirSync(handle.path).length).toBeGreaterThan(5);
    console.log(`warm overlay rootfs: ${ms.toFixed(1)} ms for ${image.layers.length} layers`);
    await handle.release();
  });

  it('copy mode builds the same tree from the cache', async () => {
    const cache = new LayerCache({ root: join(work, 'cache-a') });
    const target = join(work, 'ctr-copy');
    mkdirSync(target);
    writeFileSync(join(target, 'keep-me'), 'not ours');
    const handle = await cache.createRootfs(image, target, { mode: 'copy' });
    expect(handle.mode).toBe('copy');
    expect(withoutRoot(snapshotTree(handle.path, { xattrs: true }))).toEqual(expected);
    await handle.release();
    // the target existed before: only what createRootfs made is gone
    expect(readdirSync(target)).toEqual(['keep-me']);
  });

  it('concurrent callers share one extraction per layer', async () => {
    const cache = new LayerCache({ root: join(work, 'cache-b') });
    const done: number[] = [];
    const onProgress = (p: LayerProgress): void => {
      if (p.done) done.push(p.layer);
    };
    const [a, b, c] = await Promise.all([
      cache.createRootfs(image, join(work, 'c1'), { onProgress }),
      cache.createRootfs(image, join(work, 'c2'), { onProgress }),
      cache.createRootfs(image, join(work, 'c3'), { mode: 'copy', onProgress }),
    ]);
    expect(done.sort()).toEqual(image.layers.map((_, i) => i));
    expect(readdirSync(join(work, 'cache-b', 'tmp'))).toEqual([]);
    expect(readdirSync(join(work, 'cache-b', 'layers')).length).toBe(image.layers.length);

    // gc keeps layers in use, removes them once released
    const busy = await cache.gc({ keep: [] });
    expect(busy.removed).toEqual([]);
    for (const h of [a, b, c]) await h.release();
    const gc = await cache.gc({ keep: [image.chainIds[0] as string] });
    expect(gc.kept).toEqual([image.chainIds[0]]);
    expect(gc.removed.sort()).toEqual(image.chainIds.slice(1).sort());
    expect(readdirSync(join(work, 'cache-b', 'layers'))).toEqual([(image.chainIds[0] as string).slice(7)]);
  });

  it('rootless copy keeps owners in user.rootlesscontainers and has the same paths and contents', async () => {
    const cache = new LayerCache({ root: join(work, 'cache-c') });
    const handle = await cache.createRootfs(image, join(work, 'ctr-rootless'), { rootless: true });
    expect(handle.mode).toBe('copy');
    const tree = withoutRoot(snapshotTree(handle.path, { xattrs: true }));
    expect(Object.keys(tree).sort()).toEqual(Object.keys(expected).sort());
    expect(tree['home/user/secret']?.sha256).toBe(expected['home/user/secret']?.sha256);
    expect(tree['home/user/secret']?.xattrs?.['user.rootlesscontainers']).toBe('0x08e80710e807');
    expect(tree['dev/null']).toMatchObject({ type: 'file', mode: '666', size: 0 });
    expect(tree['dev/fifo']).toMatchObject({ type: 'fifo' });
    await handle.release();
  });

  it('applies each layer against the layers below: lower symlinks are followed, lower files can be hardlinked', async () => {
    const dir = join(work, 'merged-usr');
    writeImageLayout(dir, [
      {
        tar: await packTar([
          { name: 'usr/', type: 'directory' },
          { name: 'usr/bin/', type: 'directory', mode: 0o751 },
          { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
          { name: 'lib', type: 'symlink', linkname: '/usr/lib' },
          { name: 'usr/bin/a', content: 'lower file', mode: 0o750, uid: 7 },
        ]),
      },
      {
        tar: await packTar([
          { name: 'bin/tool', content: 'through the lower symlink' },
          { name: 'lib/x/libx.so', content: 'absolute lower symlink' },
          { name: 'usr/bin/b', type: 'link', linkname: 'usr/bin/a' },
        ]),
      },
    ]);
    const merged = await (await openImageLayout(dir)).resolve();
    const reference = await unpackImage(merged, join(work, 'merged-unpack'));
    const expectedTree = withoutRoot(snapshotTree(reference.rootfs, { xattrs: true }));
    expect(expectedTree['bin']).toMatchObject({ type: 'symlink', link: 'usr/bin' });
    expect(expectedTree['usr/bin/tool']).toMatchObject({ type: 'file' });
    expect(expectedTree['usr/lib/x/libx.so']).toMatchObject({ type: 'file' });
    expect(expectedTree['usr/bin/b']?.links).toEqual(['usr/bin/a', 'usr/bin/b']);
    const cache = new LayerCache({ root: join(work, 'cache-merged') });
    for (const mode of ['overlay', 'copy'] as const) {
      const handle = await cache.createRootfs(merged, join(work, `merged-${mode}`), { mode });
      expect(withoutRoot(snapshotTree(handle.path, { xattrs: true })), mode).toEqual(expectedTree);
      await handle.release();
    }
  });

  it('refuses overlay without root and an existing rootfs', async () => {
    const cache = new LayerCache({ root: join(work, 'cache-a') });
    await expect(cache.createRootfs(image, join(work, 'x'), { mode: 'overlay', rootless: true })).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
    mkdirSync(join(work, 'y', 'rootfs'), { recursive: true });
    await expect(cache.createRootfs(image, join(work, 'y'))).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
    expect(() => new LayerCache({ root: '' })).toThrow(/root/);
  });
});
