/**
 * The attack corpus: crafted layers for every class of notes §5.5, each generated here with
 * tar-stream (or by patching bytes), written into a real image layout and unpacked with
 * `unpackImage`. Every archive must be rejected with a typed error or neutralised (what it tried
 * lands inside the rootfs), and a canary directory beside the target must stay byte-for-byte and
 * mode-for-mode untouched. Rejections must also leave no rootfs behind.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { LayerCache } from '../../../../src/oci/layers/layer-cache.js';
import { unpackImage, type UnpackImageOptions } from '../../../../src/oci/layers/unpack-image.js';
import type { Logger } from '../../../../src/logger.js';
import { available, missing } from '../../../helpers/requirements.js';
import { entryFlood, gzipZeroBomb, packTar, snapshotTree, writeImageLayout, zstdZeroBomb, type FixtureEntry, type FixtureLayer } from '../../../helpers/oci-fixtures.js';

// some archives are large (bombs, floods): generous time on a busy machine
vi.setConfig({ testTimeout: 60_000 });

const asRoot = process.getuid?.() === 0;
// times and xattrs of the canary: xattrs need getfattr (checked without it, with a printed reason)
const haveAttr = available({ tools: ['getfattr'] }, 'xattrs of the canary directories');

let work: string;
let caseNo = 0;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-attack-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

interface CaseResult {
  base: string;
  canary: string;
  rootfs: string;
  error: unknown;
}

/** Sets up `base/{canary,image}` and unpacks the image into `base/bundle`; checks the canary afterwards. */
async function runCase(
  build: (ctx: { base: string; canary: string }) => Promise<FixtureLayer[]> | FixtureLayer[],
  options: UnpackImageOptions = {},
  layoutOptions: Parameters<typeof writeImageLayout>[2] = {},
): Promise<CaseResult> {
  const base = join(work, `case-${++caseNo}`);
  const canary = join(base, 'canary');
  mkdirSync(join(canary, 'dir'), { recursive: true });
  writeFileSync(join(canary, 'file'), 'canary content');
  writeFileSync(join(canary, 'dir', 'inner'), 'inner');
  // times and xattrs too: a utimes or setxattr that follows a symlink out of the root must show
  const before = snapshotTree(canary, { mtimes: true, xattrs: haveAttr });
  const layers = await build({ base, canary });
  writeImageLayout(join(base, 'image'), layers, layoutOptions);
  let error: unknown;
  try {
    const image = await (await openImageLayout(join(base, 'image'))).resolve('latest');
    await unpackImage(image, join(base, 'bundle'), { rootless: !asRoot, ...options });
  } catch (e) {
    error = e;
  }
  expect(snapshotTree(canary, { mtimes: true, xattrs: haveAttr })).toEqual(before);
  expect(readdirSync(base).sort()).toEqual(existsSync(join(base, 'bundle')) ? ['bundle', 'canary', 'image'] : ['canary', 'image']);
  return { base, canary, rootfs: join(base, 'bundle', 'rootfs'), error };
}

const tarLayer = async (entries: FixtureEntry[], extra: Partial<FixtureLayer> = {}): Promise<FixtureLayer> => ({ tar: await packTar(entries), ...extra });

function expectRejected(result: CaseResult, reason: string | RegExp, code = 'ERR_LAYER_EXTRACTION'): void {
  expect(result.error).toMatchObject({ code });
  const details = (result.error as { details: { reason?: string } }).details;
  if (typeof reason === 'string') expect(details.reason).toBe(reason);
  else expect(String((result.error as Error).message)).toMatch(reason);
  // a rejected image leaves no rootfs (the bundle dir was created by the call, so it is gone too)
  expect(existsSync(result.rootfs)).toBe(false);
}

const read = (p: string): string => readFileSync(p, 'utf8');

describe('attack corpus: paths (§5.5 1)', () => {
  it('absolute names are re-rooted', async () => {
    const r = await runCase(async ({ canary }) => [await tarLayer([{ name: `${canary}/pwned`, content: 'x' }, { name: '/etc/passwd', content: 'root' }])]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, r.canary, 'pwned'))).toBe('x');
    expect(read(join(r.rootfs, 'etc/passwd'))).toBe('root');
  });

  it('leading .. segments are clamped at the root', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: '../../../../../../../../canary/pwned', content: 'x' }, { name: '../canary/file', content: 'overwritten?' }])]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, 'canary/pwned'))).toBe('x');
    expect(read(join(r.rootfs, 'canary/file'))).toBe('overwritten?');
  });

  it('interior .. segments cannot climb out', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'a/b/../../../../canary/pwned', content: 'x' }])]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, 'canary/pwned'))).toBe('x');
  });

  it('Windows drive, UNC and backslash forms stay literal names inside the root', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'C:\\..\\..\\canary\\pwned', content: 'w' }, { name: '\\\\server\\share\\x', content: 'u' }, { name: 'C:../../canary/p2', content: 'd' }])]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, 'C:\\..\\..\\canary\\pwned'))).toBe('w');
    expect(read(join(r.rootfs, '\\\\server\\share\\x'))).toBe('u');
    expect(read(join(r.rootfs, 'canary/p2'))).toBe('d');
  });
});

describe('attack corpus: root entry type change (§5.5 2, CVE-2021-29136)', () => {
  for (const [name, entry] of [
    ['symlink named .', { name: '.', type: 'symlink', linkname: '/' }],
    ['symlink named ./', { name: './', type: 'symlink', linkname: '../canary' }],
    ['file named /', { name: '/', content: 'x' }],
    ['hardlink named .', { name: '.', type: 'link', linkname: 'etc' }],
  ] as const) {
    it(`rejects a ${name}`, async () => {
      const r = await runCase(async ({ canary }) => [
        await tarLayer([{ name: 'etc/', type: 'directory' }, { ...(entry as FixtureEntry), ...(entry.type === 'symlink' ? { linkname: canary } : {}) }, { name: 'pwned', content: 'x' }]),
      ]);
      expectRejected(r, 'root type change');
    });
  }
});

describe('attack corpus: writing through symlinks (§5.5 3)', () => {
  it('an absolute symlink parent is resolved inside the root', async () => {
    const r = await runCase(async ({ canary }) => [await tarLayer([{ name: 'evil', type: 'symlink', linkname: canary }, { name: 'evil/pwned', content: 'x' }, { name: 'evil/file', content: 'over' }])]);
    expect(r.error).toBeUndefined();
    expect(lstatSync(join(r.rootfs, 'evil')).isSymbolicLink()).toBe(true);
    expect(read(join(r.rootfs, r.canary, 'pwned'))).toBe('x');
  });

  it('chained relative symlinks that climb past the root are clamped', async () => {
    const r = await runCase(async () => [
      await tarLayer([
        { name: 'a', type: 'symlink', linkname: '../../../..' },
        { name: 'b', type: 'symlink', linkname: 'a/canary' },
        { name: 'c', type: 'symlink', linkname: 'b/dir' },
        { name: 'c/pwned', content: 'x' },
      ]),
    ]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, 'canary/dir/pwned'))).toBe('x');
  });

  it('a symlink from a lower layer is resolved inside the root (etc -> host dir)', async () => {
    const r = await runCase(async ({ canary }) => [
      await tarLayer([{ name: 'etc', type: 'symlink', linkname: canary }]),
      await tarLayer([{ name: 'etc/pwned', content: 'x' }, { name: 'etc/dir/', type: 'directory', mode: 0o777 }]),
    ]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, r.canary, 'pwned'))).toBe('x');
  });

  it('a /dev symlink does not redirect device and file creation (CVE-2026-41579 class)', async () => {
    const r = await runCase(async ({ canary }) => [
      await tarLayer([{ name: 'dev', type: 'symlink', linkname: canary }]),
      await tarLayer([{ name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 }, { name: 'dev/ptmx', type: 'symlink', linkname: 'pts/ptmx' }]),
    ]);
    expect(r.error).toBeUndefined();
    expect(lstatSync(join(r.rootfs, r.canary, 'ptmx')).isSymbolicLink()).toBe(true);
  });

  it('a file entry replaces a final-component symlink instead of writing through it', async () => {
    const r = await runCase(async ({ canary }) => [
      await tarLayer([{ name: 'link', type: 'symlink', linkname: join(canary, 'file') }]),
      await tarLayer([{ name: 'link', content: 'replaced', mode: 0o777 }]),
    ]);
    expect(r.error).toBeUndefined();
    expect(lstatSync(join(r.rootfs, 'link')).isFile()).toBe(true);
    expect(read(join(r.rootfs, 'link'))).toBe('replaced');
  });

  it('a directory entry over a symlink never chmods the symlink target (CVE-2021-32760 class)', async () => {
    const r = await runCase(async ({ canary }) => [
      await tarLayer([{ name: 'd', type: 'symlink', linkname: join(canary, 'dir') }]),
      await tarLayer([{ name: 'd/', type: 'directory', mode: 0o777, uid: 1234 }]),
    ]);
    expect(r.error).toBeUndefined();
    expect(lstatSync(join(r.rootfs, 'd')).isDirectory()).toBe(true);
  });

  it('a directory replaced by a symlink in the same layer cannot redirect later entries', async () => {
    const r = await runCase(async ({ canary }) => [
      await tarLayer([
        { name: 'd/', type: 'directory' },
        { name: 'd/x', content: '1' },
        { name: 'd', type: 'symlink', linkname: canary },
        { name: 'd/pwned', content: 'x' },
      ]),
    ]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, r.canary, 'pwned'))).toBe('x');
  });

  it('a symlink loop in a parent is rejected', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'a', type: 'symlink', linkname: 'b' }, { name: 'b', type: 'symlink', linkname: 'a' }, { name: 'a/x', content: 'x' }])]);
    expectRejected(r, 'symlink loop');
  });
});

describe('attack corpus: hardlinks (§5.5 4)', () => {
  it('a hardlink to a host path outside the root is rejected', async () => {
    const r = await runCase(async ({ canary }) => [await tarLayer([{ name: 'hl', type: 'link', linkname: join(canary, 'file') }])]);
    expectRejected(r, 'invalid hardlink');
  });

  it('a hardlink with .. segments is rejected when its in-root target does not exist', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'hl', type: 'link', linkname: '../../canary/file' }])]);
    expectRejected(r, 'invalid hardlink');
  });

  it('a hardlink through a symlinked directory resolves inside the root', async () => {
    const r = await runCase(async ({ canary }) => [await tarLayer([{ name: 's', type: 'symlink', linkname: canary }, { name: 'hl', type: 'link', linkname: 's/file' }])]);
    expectRejected(r, 'invalid hardlink');
  });

  it('a hardlink to a directory is rejected', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'etc/', type: 'directory' }, { name: 'hl', type: 'link', linkname: 'etc' }])]);
    expectRejected(r, 'invalid hardlink');
  });

  it('a hardlink then a regular file of the same name never writes into the shared inode', async () => {
    const r = await runCase(async ({ canary }) => [
      await tarLayer([
        { name: 'a', content: 'A' },
        { name: 'b', type: 'link', linkname: 'a' },
        { name: 'b', content: 'B' },
        { name: 's', type: 'symlink', linkname: join(canary, 'file') },
        { name: 'h', type: 'link', linkname: 's' },
        { name: 'h', content: 'through the link?' },
      ]),
    ]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, 'a'))).toBe('A');
    expect(read(join(r.rootfs, 'b'))).toBe('B');
    expect(lstatSync(join(r.rootfs, 's')).isSymbolicLink()).toBe(true);
  });
});

describe('attack corpus: whiteouts (§5.5 5)', () => {
  for (const name of ['.wh.', '.wh..', '.wh...']) {
    it(`rejects the whiteout '${name}'`, async () => {
      const r = await runCase(async () => [await tarLayer([{ name: 'etc/', type: 'directory' }]), await tarLayer([{ name: `etc/${name}`, content: '' }])]);
      expectRejected(r, 'invalid whiteout');
    });
  }

  it('whiteouts that try to escape only touch the rootfs', async () => {
    const r = await runCase(async ({ base }) => [
      await tarLayer([{ name: 'canary/keep', content: 'k' }, { name: 's', type: 'symlink', linkname: base }]),
      await tarLayer([{ name: '../.wh.canary', content: '' }, { name: 's/.wh.canary', content: '' }, { name: `${base}/.wh.canary`, content: '' }]),
    ]);
    expect(r.error).toBeUndefined();
    expect(existsSync(join(r.rootfs, 'canary'))).toBe(false);
  });

  it('whiteouts only remove lower-layer content; opaque applies regardless of position', async () => {
    const r = await runCase(async () => [
      await tarLayer([{ name: 'd/old', content: 'old' }, { name: 'keep/x', content: 'x' }]),
      await tarLayer([{ name: 'y', content: 'same layer' }, { name: '.wh.y', content: '' }, { name: 'd/new', content: 'new' }, { name: 'd/.wh..wh..opq', content: '' }, { name: '.wh.keep', content: '' }]),
    ]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, 'y'))).toBe('same layer');
    expect(readdirSync(join(r.rootfs, 'd'))).toEqual(['new']);
    expect(existsSync(join(r.rootfs, 'keep'))).toBe(false);
  });
});

describe('attack corpus: devices, setuid, xattrs (§5.5 6, 7)', () => {
  it('rootless: device nodes become empty regular files (umoci semantics), FIFOs stay FIFOs', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'kmem', type: 'character-device', devmajor: 1, devminor: 2, mode: 0o666 }, { name: 'sda', type: 'block-device', devmajor: 8, devminor: 0 }, { name: 'pipe', type: 'fifo' }])], { rootless: true });
    expect(r.error).toBeUndefined();
    expect(lstatSync(join(r.rootfs, 'pipe')).isFIFO()).toBe(true);
    for (const n of ['kmem', 'sda']) {
      const st = lstatSync(join(r.rootfs, n));
      expect(st.isFile()).toBe(true);
      expect(st.size).toBe(0);
      expect(st.mode & 0o7777).toBe(n === 'kmem' ? 0o666 : 0o644);
    }
  });

  it('setuid/setgid bits are dropped when not allowed', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'su', content: 'x', mode: 0o6755 }, { name: 'sticky/', type: 'directory', mode: 0o1777 }])], { allowSetuid: false });
    expect(r.error).toBeUndefined();
    expect(lstatSync(join(r.rootfs, 'su')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(r.rootfs, 'sticky')).mode & 0o7777).toBe(0o1777);
    expect(lstatSync(join(r.rootfs, '..')).mode & 0o777).toBe(0o700);
  });

  it.skipIf(missing({ tools: ['setfattr', 'getfattr'] }))('dangerous xattrs are dropped, ordinary ones kept', async () => {
    const r = await runCase(async () => [
      await tarLayer([
        {
          name: 'f',
          content: 'x',
          pax: {
            'SCHILY.xattr.security.selinux': 'system_u:object_r:shadow_t:s0',
            'SCHILY.xattr.trusted.overlay.opaque': 'y',
            'SCHILY.xattr.user.overlay.redirect': '/etc',
            'SCHILY.xattr.system.nfs4_acl': 'x',
            'SCHILY.xattr.user.ok': 'fine',
          },
        },
      ]),
    ]);
    expect(r.error).toBeUndefined();
    const attrs = snapshotTree(r.rootfs, { xattrs: true })['f']?.xattrs;
    expect(attrs).toEqual({ 'user.ok': `0x${Buffer.from('fine').toString('hex')}` });
  });
});

describe.skipIf(missing({ root: true, tools: ['setfattr', 'getfattr'] }))('attack corpus: rootless mode and file capabilities (issue #14)', () => {
  // vfs_cap_data v2, permitted+effective cap_setgid | cap_sys_admin (bytes < 0x80 survive tar-stream's UTF-8 PAX)
  const capability = Buffer.from([0x01, 0, 0, 0x02, 0x40, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]).toString('latin1');
  const layer = (): Promise<FixtureLayer> =>
    tarLayer([
      { name: 'bin/', type: 'directory', pax: { 'SCHILY.xattr.trusted.dir': 't' } },
      { name: 'bin/tool', content: 'x', mode: 0o755, uid: 1000, gid: 1000, pax: { 'SCHILY.xattr.security.capability': capability, 'SCHILY.xattr.trusted.x': 'y', 'SCHILY.xattr.user.ok': 'fine' } },
    ]);
  const recording = (): Logger & { warnings: string[] } => {
    const warnings: string[] = [];
    const log = (): void => undefined;
    return { warnings, debug: log, info: log, error: log, warn: (fields: unknown, message?: string) => void warnings.push(`${message ?? ''} ${JSON.stringify(fields)}`) };
  };
  const xattrsOf = (rootfs: string): Record<string, Record<string, string> | undefined> => {
    const tree = snapshotTree(rootfs, { xattrs: true });
    return { bin: tree['bin']?.xattrs, tool: tree['bin/tool']?.xattrs };
  };

  it('a rootless unpack by root drops security.capability and trusted.* with a warning; root mode keeps them', async () => {
    const logger = recording();
    const rootless = await runCase(async () => [await layer()], { rootless: true, logger });
    expect(rootless.error).toBeUndefined();
    expect(xattrsOf(rootless.rootfs)).toEqual({ bin: undefined, tool: { 'user.ok': `0x${Buffer.from('fine').toString('hex')}`, 'user.rootlesscontainers': '0x08e80710e807' } });
    expect(logger.warnings.filter((w) => w.includes('rootless')).join('\n')).toMatch(/security\.capability/);
    const root = await runCase(async () => [await layer()], { rootless: false });
    expect(root.error).toBeUndefined();
    expect(xattrsOf(root.rootfs).tool?.['security.capability']).toBe(`0x${Buffer.from(capability, 'latin1').toString('hex')}`);
    expect(xattrsOf(root.rootfs).bin).toEqual({ 'trusted.dir': `0x${Buffer.from('t').toString('hex')}` });
  });

  it('a rootless layer cache never carries them either (cached layer and copied rootfs)', async () => {
    const base = join(work, `case-${++caseNo}`);
    writeImageLayout(join(base, 'image'), [await layer()]);
    const image = await (await openImageLayout(join(base, 'image'))).resolve('latest');
    const cache = new LayerCache({ root: join(base, 'cache') });
    const handle = await cache.createRootfs(image, join(base, 'ctr'), { rootless: true });
    try {
      expect(handle.mode).toBe('copy');
      for (const tree of [join(cache.layerPath(image.chainIds[0] as string, true), 'diff'), handle.path]) {
        const attrs = xattrsOf(tree);
        expect(attrs.bin).toBeUndefined();
        expect(Object.keys(attrs.tool ?? {}).sort()).toEqual(['user.ok', 'user.rootlesscontainers']);
      }
    } finally {
      await handle.release();
    }
  });
});

describe('attack corpus: collisions and type changes (§5.5 8)', () => {
  it('unicode look-alikes and duplicates stay distinct files inside the root', async () => {
    const r = await runCase(async () => [
      await tarLayer([
        { name: 'caf\u00e9', content: 'nfc' },
        { name: 'cafe\u0301', content: 'nfd' },
        { name: 'dup', content: 'first' },
        { name: 'dup', content: 'second' },
      ]),
    ]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, 'caf\u00e9'))).toBe('nfc');
    expect(read(join(r.rootfs, 'cafe\u0301'))).toBe('nfd');
    expect(read(join(r.rootfs, 'dup'))).toBe('second');
  });

  it('a directory replaced by a symlink to the host, then written into, stays inside the root', async () => {
    const r = await runCase(async ({ canary }) => [
      await tarLayer([{ name: 'usr/lib/x', content: 'x' }]),
      await tarLayer([{ name: 'usr/lib', type: 'symlink', linkname: canary }, { name: 'usr/lib/pwned', content: 'p' }]),
    ]);
    expect(r.error).toBeUndefined();
    expect(read(join(r.rootfs, r.canary, 'pwned'))).toBe('p');
  });
});

describe('attack corpus: resource exhaustion (§5.5 9)', () => {
  it('a compression bomb is stopped at maxLayerBytes', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'zeros', content: Buffer.alloc(64 * 1024 * 1024) }])], { limits: { maxLayerBytes: 4 * 1024 * 1024 } });
    expectRejected(r, 'limit exceeded');
  });

  it('a zstd bomb (1 GiB of zeros in 32 KiB) is stopped in the worker without buffering it', async () => {
    const bomb = zstdZeroBomb(1024 ** 3);
    expect(bomb.blob.length).toBeLessThan(40_000);
    const rssBefore = process.memoryUsage().rss;
    const r = await runCase(() => [{ tar: Buffer.alloc(0), blob: bomb.blob, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', diffId: bomb.diffId }], {
      limits: { maxLayerBytes: 64 * 1024 * 1024, maxInflationRatio: 0 },
    });
    expectRejected(r, 'limit exceeded');
    expect(String(r.error)).toMatch(/maxLayerBytes/);
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(512 * 1024 * 1024);
  }, 60_000);
  it('an image of many layers is stopped at maxImageBytes', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'a', content: Buffer.alloc(3 << 20) }]), await tarLayer([{ name: 'b', content: Buffer.alloc(3 << 20) }])], {
      limits: { maxImageBytes: 5 << 20 },
    });
    expectRejected(r, 'limit exceeded');
  });

  it('an entry flood is stopped at maxEntries', async () => {
    const r = await runCase(async () => [await tarLayer(Array.from({ length: 300 }, (_, i) => ({ name: `f${i}`, content: '' })))], { limits: { maxEntries: 100 } });
    expectRejected(r, 'limit exceeded');
  });

  it('absurdly deep and long paths are rejected', async () => {
    const deep = await runCase(async () => [await tarLayer([{ name: `${'d/'.repeat(40)}f`, content: '' }])], { limits: { maxPathDepth: 32 } });
    expectRejected(deep, 'limit exceeded');
    const long = await runCase(async () => [await tarLayer([{ name: `${'n'.repeat(200)}/${'m'.repeat(200)}`, content: '' }])], { limits: { maxPathBytes: 256 } });
    expectRejected(long, 'limit exceeded');
  });

  it('an oversized PAX header is rejected', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'f', content: '', pax: { comment: 'c'.repeat(300_000) } }])], { limits: { maxMetaBytes: 64 * 1024 } });
    expectRejected(r, 'limit exceeded');
  });

  it('trailing garbage is hashed: it must be covered by the DiffID', async () => {
    const tarData = await packTar([{ name: 'f', content: 'x' }]);
    const r = await runCase(() => [{ tar: Buffer.concat([tarData, Buffer.from('garbage'.repeat(100))]), compression: 'none', diffId: `sha256:${'0'.repeat(64)}` }]);
    expectRejected(r, 'diffid mismatch');
  });
});

/** Unpacks one bomb layer, recording the most uncompressed bytes any progress report saw. */
async function runBomb(layer: FixtureLayer, options: UnpackImageOptions = {}): Promise<CaseResult & { maxBytes: number; maxEntries: number }> {
  let maxBytes = 0;
  let maxEntries = 0;
  const r = await runCase(() => [layer], {
    ...options,
    onProgress: (p) => {
      maxBytes = Math.max(maxBytes, p.bytes);
      maxEntries = Math.max(maxEntries, p.entries);
    },
  });
  return { ...r, maxBytes, maxEntries };
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

describe('attack corpus: bombs and floods with the default limits (issue #14)', () => {
  it('a 10 MiB gzip layer of one 10 GiB file of zeros is stopped by the inflation-ratio guard at 1 GiB', async () => {
    const bomb = gzipZeroBomb(10 * GiB);
    expect(bomb.blob.length).toBeLessThan(11 * MiB);
    const r = await runBomb({ tar: Buffer.alloc(0), blob: bomb.blob, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', diffId: bomb.diffId });
    expectRejected(r, 'limit exceeded');
    expect(String(r.error)).toMatch(/compression bomb.*maxInflationRatio/);
    // the worker stops at 1 GiB: what reached the disk is at most that (and the rootfs is gone)
    expect(r.maxBytes).toBeLessThanOrEqual(GiB);
  }, 120_000);

  it('a 0.3 MiB zstd layer of 10 GiB of zeros is stopped by the same guard (floor lowered to keep the test short)', async () => {
    const bomb = zstdZeroBomb(10 * GiB);
    expect(bomb.blob.length).toBeLessThan(400_000);
    const r = await runBomb({ tar: Buffer.alloc(0), blob: bomb.blob, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', diffId: bomb.diffId }, { limits: { inflationRatioAfterBytes: 64 * MiB } });
    expectRejected(r, 'limit exceeded');
    expect(String(r.error)).toMatch(/100 times its compressed size/);
    expect(r.maxBytes).toBeLessThanOrEqual(64 * MiB);
  });

  it('the ratio guard lets ordinary data past its floor and stops zeros; 0 turns it off', async () => {
    const limits = { inflationRatioAfterBytes: MiB, maxInflationRatio: 100 };
    const text = randomBytes(3 * MiB).toString('base64');
    const ok = await runCase(async () => [await tarLayer([{ name: 'text', content: text }])], { limits });
    expect(ok.error).toBeUndefined();
    expect(read(join(ok.rootfs, 'text'))).toBe(text);
    const zeros = await runCase(async () => [await tarLayer([{ name: 'zeros', content: Buffer.alloc(8 * MiB) }])], { limits });
    expectRejected(zeros, 'limit exceeded');
    const off = await runCase(async () => [await tarLayer([{ name: 'zeros', content: Buffer.alloc(8 * MiB) }])], { limits: { ...limits, maxInflationRatio: 0 } });
    expect(off.error).toBeUndefined();
  });

  it('an entry flood (150,000 empty files in 150 directories, 8 bytes each compressed) is refused after 50,000 entries, not at maxEntries', async () => {
    const flood = entryFlood(150, 1000);
    expect(flood.blob.length / 150_000).toBeLessThan(10);
    const r = await runBomb({ tar: flood.tar, blob: flood.blob, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', diffId: flood.diffId });
    expectRejected(r, 'limit exceeded');
    expect(String(r.error)).toMatch(/entry flood.*minCompressedBytesPerEntry/);
    // refused one 1 MiB batch (2048 headers) after the floor, not at maxEntries
    expect(r.maxEntries).toBeLessThanOrEqual(50_000 + 2048);
  }, 120_000);

  it('the density guard passes layers whose entries carry content, and maxEntries still applies', async () => {
    const limits = { entryDensityAfter: 1000 };
    const real = await runCase(async () => [await tarLayer(Array.from({ length: 3000 }, (_, i) => ({ name: `d${i % 30}/file-${i}.conf`, content: `setting-${i}=${randomBytes(12).toString('hex')}\n` })))], { limits });
    expect(real.error).toBeUndefined();
    expect(readdirSync(join(real.rootfs, 'd0'))).toHaveLength(100);
    const flood = entryFlood(3, 1000);
    const refused = await runCase(() => [{ tar: flood.tar, blob: flood.blob, diffId: flood.diffId }], { limits });
    expectRejected(refused, 'limit exceeded');
    const capped = await runCase(() => [{ tar: flood.tar, blob: flood.blob, diffId: flood.diffId }], { limits: { maxEntries: 2000, minCompressedBytesPerEntry: 0 } });
    expectRejected(capped, 'limit exceeded');
    expect(String(capped.error)).toMatch(/more than 2000 entries/);
  });

  it('the free-space guard refuses before writing when the target filesystem is under the reserve', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'f', content: 'x' }])], { limits: { minFreeBytes: Number.MAX_SAFE_INTEGER } });
    expectRejected(r, 'no space');
    expect(r.error).toMatchObject({ grpcStatus: 'ResourceExhausted' });
    const inodes = await runCase(async () => [await tarLayer([{ name: 'f', content: 'x' }])], { limits: { minFreeInodes: Number.MAX_SAFE_INTEGER } });
    if (statfsSync(work).files > 0) expectRejected(inodes, 'no space');
  });

  it.skipIf(missing({ root: true, tools: ['mount', 'umount'] }))('the free-space guard stops a layer before a small filesystem fills up', async () => {
    const small = join(work, `tmpfs-${++caseNo}`);
    mkdirSync(small);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=48m', 'tmpfs', small]);
    try {
      const tarData = await packTar([{ name: 'big', content: randomBytes(64 * MiB) }]);
      writeImageLayout(`${small}-image`, [{ tar: tarData, compression: 'none' }]);
      const image = await (await openImageLayout(`${small}-image`)).resolve('latest');
      const error = await unpackImage(image, join(small, 'bundle'), { limits: { minFreeBytes: 8 * MiB } }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'ERR_LAYER_EXTRACTION', details: { reason: 'no space' } });
      expect(existsSync(join(small, 'bundle'))).toBe(false);
      // stopped before ENOSPC, with about the reserve left
      expect(statfsSync(small).bavail * statfsSync(small).bsize).toBeGreaterThan(6 * MiB);
    } finally {
      execFileSync('umount', [small]);
    }
  }, 60_000);
});

describe('attack corpus: integrity (§5.5 10)', () => {
  it('a tampered layer blob fails its digest', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'f', content: 'good' }], { compression: 'none', tamper: (b) => Buffer.from(b.toString('latin1').replace('good', 'evil'), 'latin1') })]);
    expect(r.error).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'digest mismatch' } });
    expect(existsSync(r.rootfs)).toBe(false);
  });

  it('a layer blob with the wrong size is rejected', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'f', content: 'good' }], { tamper: (b) => Buffer.concat([b, Buffer.from('more')]) })]);
    expect(r.error).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'size mismatch' } });
  });

  it('a DiffID that does not match the uncompressed stream is rejected', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'f', content: 'x' }], { compression: 'zstd', diffId: `sha256:${'a'.repeat(64)}` })]);
    expectRejected(r, 'diffid mismatch');
  });

  it('a malformed layer digest is rejected before any path is built', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'f', content: 'x' }], { digest: 'sha256:../../../../canary/file' })]);
    expect(r.error).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'malformed digest' } });
  });

  it('an unknown layer media type is rejected', async () => {
    const r = await runCase(async () => [await tarLayer([{ name: 'f', content: 'x' }], { mediaType: 'application/vnd.oci.image.layer.v1.tar+lz4' })]);
    expect(r.error).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'unsupported media type' } });
  });

  it('rootfs.type other than layers and a diff_ids count mismatch are rejected', async () => {
    const a = await runCase(async () => [await tarLayer([{ name: 'f', content: 'x' }])], {}, { config: { rootfs: { type: 'zfs', diff_ids: [] } } });
    expect(a.error).toMatchObject({ code: 'ERR_IMAGE' });
    const b = await runCase(async () => [await tarLayer([{ name: 'f', content: 'x' }])], {}, { config: { rootfs: { type: 'layers', diff_ids: [] } } });
    expect(b.error).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'layer count mismatch' } });
  });

  it('a corrupt gzip stream, a truncated tar, a bad checksum and sparse/unknown types are rejected', async () => {
    const good = await packTar([{ name: 'f', content: 'x'.repeat(2000) }]);
    const gz = await runCase(() => [{ tar: good, compression: 'none', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]);
    expectRejected(gz, 'decompression');
    const truncated = await runCase(() => [{ tar: good.subarray(0, 1000), compression: 'gzip' }]);
    expectRejected(truncated, 'truncated archive');
    const badSum = Buffer.from(good);
    badSum[0] = 0x67;
    expectRejected(await runCase(() => [{ tar: badSum, compression: 'none' }]), 'invalid header');
    for (const flag of ['S', 'V']) {
      const patched = Buffer.from(good);
      patched[156] = flag.charCodeAt(0);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (patched[i] as number);
      patched.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
      expectRejected(await runCase(() => [{ tar: patched, compression: 'none' }]), 'unsupported entry type');
    }
  });

  it.skipIf(missing({ tools: ['mkfifo'] }))('a layer blob that is a symlink or a FIFO is refused: opened without following links, never blocking', async () => {
    for (const kind of ['symlink', 'fifo'] as const) {
      const base = join(work, `case-${++caseNo}`);
      const { layerDigests } = writeImageLayout(join(base, 'image'), [await tarLayer([{ name: 'f', content: 'x' }])]);
      const blob = join(base, 'image', 'blobs', 'sha256', (layerDigests[0] as string).slice(7));
      // the same bytes elsewhere: only how the blob is reached differs
      renameSync(blob, join(base, 'elsewhere'));
      if (kind === 'symlink') symlinkSync(join(base, 'elsewhere'), blob);
      else execFileSync('mkfifo', [blob]);
      const image = await (await openImageLayout(join(base, 'image'))).resolve('latest');
      const error = await unpackImage(image, join(base, 'bundle'), { rootless: !asRoot }).catch((e: unknown) => e);
      expect(error, kind).toMatchObject({ code: 'ERR_IMAGE', details: { reason: 'not a regular file' } });
      expect(existsSync(join(base, 'bundle'))).toBe(false);
    }
  });

  it('gzip trailing garbage after the stream is rejected by zlib', async () => {
    const data = await packTar([{ name: 'f', content: 'x' }]);
    const r = await runCase(() => [{ tar: data, blob: Buffer.concat([gzipSync(data), Buffer.from('junkjunk')]), mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }]);
    expectRejected(r, 'decompression');
    expect(existsSync(r.rootfs)).toBe(false);
  });
});

describe('attack corpus: abort', () => {
  it('an unpack aborted in the middle of a layer removes what it made', async () => {
    const controller = new AbortController();
    const big = Array.from({ length: 40 }, (_, i) => ({ name: `d/f${i}`, content: Buffer.alloc(256 * 1024, i) }));
    const r = await runCase(async () => [await tarLayer(big)], {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.entries > 3) controller.abort(new Error('stop'));
      },
    });
    expect(r.error).toMatchObject({ code: 'ERR_ABORTED' });
    expect(existsSync(r.rootfs)).toBe(false);
  });

  it('an aborted unpack removes what it made', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    const r = await runCase(async () => [await tarLayer([{ name: 'f', content: 'x' }])], { signal: controller.signal });
    expect(r.error).toMatchObject({ code: 'ERR_ABORTED' });
    expect(existsSync(r.rootfs)).toBe(false);
  });
});
