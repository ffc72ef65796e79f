/**
 * The attack corpus: crafted layers for every class of notes §5.5, each generated here with
 * tar-stream (or by patching bytes), written into a real image layout and unpacked with
 * `unpackImage`. Every archive must be rejected with a typed error or neutralised (what it tried
 * lands inside the rootfs), and a canary directory beside the target must stay byte-for-byte and
 * mode-for-mode untouched. Rejections must also leave no rootfs behind.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openImageLayout } from '../../../../src/index.js';
import { unpackImage, type UnpackImageOptions } from '../../../../src/exports/oci.js';
import { hasTool } from '../../../helpers/requirements.js';
import { packTar, snapshotTree, writeImageLayout, zstdZeroBomb, type FixtureEntry, type FixtureLayer } from '../../../helpers/oci-fixtures.js';

// some archives are large (bombs, floods): generous time on a busy machine
vi.setConfig({ testTimeout: 60_000 });

const asRoot = process.getuid?.() === 0;
const haveAttr = hasTool('setfattr');

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

  it.skipIf(!haveAttr)('dangerous xattrs are dropped, ordinary ones kept', async () => {
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

  it.skipIf(!hasTool('zstd'))('a zstd bomb (1 GiB of zeros in a few KiB) is stopped in the worker without buffering it', async () => {
    const bomb = await zstdZeroBomb(1024 ** 3);
    expect(bomb.blob.length).toBeLessThan(200_000);
    const rssBefore = process.memoryUsage().rss;
    const r = await runCase(() => [{ tar: Buffer.alloc(0), blob: bomb.blob, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', diffId: bomb.diffId }], {
      limits: { maxLayerBytes: 64 * 1024 * 1024 },
    });
    expectRejected(r, 'limit exceeded');
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
