/**
 * Layer extraction on a machine without the `attr` package (getfattr/setfattr): PATH is narrowed
 * to a directory holding only the other tools extraction may run (mknod, mount, umount), so the
 * code cannot reach the attr tools even when they are installed. Ordinary images — several
 * layers, directories given again, whiteouts, opaque directories, hardlinks — must unpack and go
 * through the layer cache; a layer that really carries xattrs must say what it needs.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageLayout, type ResolvedImage } from '../../../../src/oci/image/layout.js';
import { LayerCache } from '../../../../src/oci/layers/layer-cache.js';
import { unpackImage } from '../../../../src/oci/layers/unpack-image.js';
import { xattrToolsAvailable } from '../../../../src/oci/layers/xattr.js';
import { packTar, writeImageLayout, type FixtureEntry } from '../../../helpers/oci-fixtures.js';
import { missing } from '../../../helpers/requirements.js';

const asRoot = process.getuid?.() === 0;
let work: string;
let savedPath: string | undefined;
let n = 0;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-bare-'));
  savedPath = process.env['PATH'];
  // a directory of symlinks to the allowed tools only
  const only = join(work, 'bin');
  mkdirSync(only);
  for (const tool of ['mknod', 'mount', 'umount']) {
    const dir = (savedPath ?? '').split(':').find((d) => d !== '' && existsSync(join(d, tool)));
    if (dir !== undefined) symlinkSync(join(dir, tool), join(only, tool));
  }
  process.env['PATH'] = only;
});

afterAll(() => {
  if (savedPath === undefined) delete process.env['PATH'];
  else process.env['PATH'] = savedPath;
  if (work) rmSync(work, { recursive: true, force: true });
});

async function image(layers: FixtureEntry[][]): Promise<{ base: string; image: ResolvedImage }> {
  const base = join(work, `case-${++n}`);
  writeImageLayout(join(base, 'image'), await Promise.all(layers.map(async (entries) => ({ tar: await packTar(entries) }))));
  return { base, image: await (await openImageLayout(join(base, 'image'))).resolve('latest') };
}

const ordinary: FixtureEntry[][] = [
  [
    { name: 'etc/', type: 'directory' },
    { name: 'etc/os-release', content: 'ID=test\n' },
    { name: 'usr/bin/tool', content: 'tool', mode: 0o755 },
    { name: 'usr/bin/alias', type: 'link', linkname: 'usr/bin/tool' },
    { name: 'bin', type: 'symlink', linkname: 'usr/bin' },
    { name: 'var/cache/old/x', content: 'old' },
    { name: 'opt/app/old', content: 'old' },
  ],
  [
    { name: 'etc/', type: 'directory', mode: 0o755 },
    { name: 'etc/hostname', content: 'bare\n' },
    { name: 'var/cache/.wh.old', content: '' },
    { name: 'opt/app/.wh..wh..opq', content: '' },
    { name: 'opt/app/new', content: 'new' },
  ],
];

function checkTree(rootfs: string): void {
  expect(readFileSync(join(rootfs, 'etc/hostname'), 'utf8')).toBe('bare\n');
  expect(readFileSync(join(rootfs, 'bin/alias'), 'utf8')).toBe('tool');
  expect(existsSync(join(rootfs, 'var/cache/old'))).toBe(false);
  expect(readdirSync(join(rootfs, 'opt/app'))).toEqual(['new']);
}

describe('without getfattr/setfattr on PATH', () => {
  it('the attr tools really are out of reach', () => {
    expect(xattrToolsAvailable()).toBe(false);
  });

  for (const rootless of asRoot ? [false, true] : [true]) {
    it(`an ordinary multi-layer image unpacks${rootless ? ' (rootless)' : ''}`, async () => {
      const { base, image: img } = await image(ordinary);
      const { rootfs } = await unpackImage(img, join(base, 'out'), { rootless });
      checkTree(rootfs);
    });

    it(`the layer cache builds its root filesystem${rootless ? ' (rootless)' : ''}`, async () => {
      const { base, image: img } = await image(ordinary);
      const cache = new LayerCache({ root: join(base, 'cache') });
      const handle = await cache.createRootfs(img, join(base, 'ctr'), { rootless });
      try {
        checkTree(handle.path);
        // opaque directories could not be marked for overlayfs: the rootfs is a copy
        expect(handle.mode).toBe('copy');
        if (!rootless) await expect(cache.createRootfs(img, join(base, 'ctr2'), { mode: 'overlay' })).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
      } finally {
        await handle.release();
      }
    });
  }

  it.skipIf(missing({ root: true, tools: ['mount', 'umount'] }))('as root, the layer cache mounts overlayfs for layers without opaque directories', async () => {
    const { base, image: img } = await image([ordinary[0] as FixtureEntry[], [{ name: 'etc/hostname', content: 'bare\n' }, { name: 'var/cache/.wh.old', content: '' }]]);
    const cache = new LayerCache({ root: join(base, 'cache') });
    const handle = await cache.createRootfs(img, join(base, 'ctr'), { mode: 'auto' });
    try {
      expect(handle.mode).toBe('overlay');
      expect(readFileSync(join(handle.path, 'etc/hostname'), 'utf8')).toBe('bare\n');
      expect(existsSync(join(handle.path, 'var/cache/old'))).toBe(false);
    } finally {
      await handle.release();
    }
  });

  it('a layer that carries xattrs is refused with what it needs, and leaves nothing', async () => {
    const { base, image: img } = await image([[{ name: 'f', content: 'x', pax: { 'SCHILY.xattr.user.note': 'hello' } }]]);
    const error = await unpackImage(img, join(base, 'out', 'deeper'), { rootless: !asRoot }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'ERR_LAYER_EXTRACTION', details: { reason: 'missing tool' } });
    expect(String((error as Error).message)).toMatch(/carries extended attributes .*user\.note.*setfattr from the attr package/);
    // the failed unpack removed the directories it created, parents included
    expect(existsSync(join(base, 'out'))).toBe(false);
  });
});
