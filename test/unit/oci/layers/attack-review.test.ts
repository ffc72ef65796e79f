/**
 * Attacks found by an adversarial review of the layer extraction and the layer cache. Each case
 * builds real layers with tar-stream, extracts them with the real code and checks that a canary
 * directory beside the target keeps its content, modes, owners, times and xattrs.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerCache, openImageLayout, type ResolvedImage } from '../../../../src/index.js';
import { unpackImage } from '../../../../src/exports/oci.js';
import { available, missing } from '../../../helpers/requirements.js';

// canary snapshots include xattrs when getfattr is there (printed otherwise; required in CI)
const withXattrs = available({ tools: ['getfattr', 'setfattr'] }, 'xattrs in the canary snapshots and compared trees');
// the Go archive/tar cases also compare with umoci when it is there (printed otherwise; required in CI)
const withUmoci = (): boolean => available({ tools: ['umoci'] }, 'the same archive unpacked by umoci');
import { packTar, snapshotTree, writeImageLayout, type FixtureEntry } from '../../../helpers/oci-fixtures.js';

let work: string;
let caseNo = 0;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-review-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** A canary dir (with a sub dir, old times, mode 0755) beside an image layout of the given layers. */
async function setup(layers: (canary: string) => FixtureEntry[][]): Promise<{ base: string; canary: string; image: ResolvedImage; before: ReturnType<typeof snapshotTree> }> {
  const base = join(work, `case-${++caseNo}`);
  const canary = join(base, 'canary');
  mkdirSync(join(canary, 'dir'), { recursive: true, mode: 0o755 });
  writeFileSync(join(canary, 'file'), 'canary content');
  utimesSync(join(canary, 'dir'), 1_000_000, 1_000_000);
  const before = snapshotTree(canary, { xattrs: withXattrs, mtimes: true });
  const tars = await Promise.all(layers(canary).map((entries) => packTar(entries)));
  writeImageLayout(join(base, 'image'), tars.map((tar) => ({ tar })));
  const image = await (await openImageLayout(join(base, 'image'))).resolve('latest');
  return { base, canary, image, before };
}

const snapshot = (canary: string): ReturnType<typeof snapshotTree> => snapshotTree(canary, { xattrs: withXattrs, mtimes: true });

describe('review: layer cache', () => {
  it('an implicit directory replaced by a symlink later in the same layer never gets attributes copied through it', async () => {
    // layer 0 has a/dir (mode 0777, owner 4242, an xattr); layer 1 has `a/` and writes a/dir/f
    // (a/dir becomes an implicit dir of layer 1), then replaces `a` with a symlink to the host
    // canary, which has `dir` too: the lower attributes must not be copied through that symlink
    const { base, canary, image, before } = await setup((c) => [
      [
        { name: 'a/', type: 'directory', mode: 0o755 },
        { name: 'a/dir/', type: 'directory', mode: 0o777, uid: 4242, gid: 4242, mtime: new Date(1_600_000_000_000), pax: withXattrs ? { 'SCHILY.xattr.user.review': 'lower' } : {} },
      ],
      [
        { name: 'a/', type: 'directory', mode: 0o755 },
        { name: 'a/dir/f', content: 'x' },
        { name: 'a', type: 'symlink', linkname: c },
      ],
    ]);
    const cache = new LayerCache({ root: join(base, 'cache') });
    const rootless = process.getuid?.() !== 0;
    const handle = await cache.createRootfs(image, join(base, 'ctr'), { mode: 'copy', rootless }).catch((error: unknown) => error);
    expect(snapshot(canary)).toEqual(before);
    if (!('release' in (handle as object))) throw handle;
    try {
      expect(lstatSync(join((handle as { path: string }).path, 'a')).isSymbolicLink()).toBe(true);
      // the implicit dir that was removed is not in the layer's record any more
      const info = await cache.getLayer(image.chainIds[1] as string, rootless);
      expect(info?.implicitDirs).not.toContain('a/dir');
    } finally {
      await (handle as { release(): Promise<void> }).release();
    }
  });
});

describe('review: layer cache gc while a rootfs is being made', () => {
  it('gc during createRootfs never removes a layer that rootfs needs (the layers below the one being extracted included)', async () => {
    const big = Array.from({ length: 24 }, (_, i): FixtureEntry => ({ name: `data/f${i}`, content: Buffer.alloc(512 * 1024, i) }));
    const { base, image } = await setup(() => [[{ name: 'base/file', content: 'from layer 0' }], big]);
    const cache = new LayerCache({ root: join(base, 'cache') });
    const rootless = process.getuid?.() !== 0;
    let gc: ReturnType<LayerCache['gc']> | undefined;
    const handle = await cache.createRootfs(image, join(base, 'ctr'), {
      mode: 'copy',
      rootless,
      onProgress: (p) => {
        if (p.layer === 1 && gc === undefined) gc = cache.gc();
      },
    });
    try {
      expect(gc).toBeDefined();
      const result = await gc;
      expect(result?.removed).toEqual([]);
      expect(readFileSync(join(handle.path, 'base/file'), 'utf8')).toBe('from layer 0');
      for (const chainId of image.chainIds) expect(existsSync(join(cache.layerPath(chainId, rootless), 'layer.json'))).toBe(true);
      // and gc right after the rootfs was made, before release(), keeps them too
      expect((await cache.gc()).removed).toEqual([]);
    } finally {
      await handle.release();
    }
    // released: now they may go
    expect((await cache.gc()).removed.sort()).toEqual([...image.chainIds].sort());
  });
});

describe.skipIf(missing({ root: true, tools: ['setfattr', 'getfattr'] }))('review: allowSetuid false', () => {
  // vfs_cap_data v2, effective, permitted = cap_setgid | cap_sys_admin (bytes < 0x80 survive tar-stream's UTF-8 PAX)
  const capability = Buffer.from([0x01, 0, 0, 0x02, 0x40, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const layers = (): FixtureEntry[][] => [[{ name: 'bin/tool', content: 'x', mode: 0o755, pax: { 'SCHILY.xattr.security.capability': capability.toString('latin1') } }]];

  it('drops file capabilities (security.capability) as well as setuid bits', async () => {
    const { base, image } = await setup(layers);
    const allowed = await unpackImage(image, join(base, 'allowed'), { rootless: false, allowSetuid: true });
    expect(snapshotTree(allowed.rootfs, { xattrs: true })['bin/tool']?.xattrs).toEqual({ 'security.capability': `0x${capability.toString('hex')}` });
    const denied = await unpackImage(image, join(base, 'denied'), { rootless: false, allowSetuid: false });
    expect(snapshotTree(denied.rootfs, { xattrs: true })['bin/tool']?.xattrs).toBeUndefined();
  });

  it('a layer cache shared with an allowSetuid cache never hands setuid files or capabilities to a cache that forbids them', async () => {
    const { base, image } = await setup(() => [[...(layers()[0] as FixtureEntry[]), { name: 'bin/su', content: 'x', mode: 0o4755 }]]);
    const permissive = new LayerCache({ root: join(base, 'cache'), allowSetuid: true });
    const strict = new LayerCache({ root: join(base, 'cache'), allowSetuid: false });
    const first = await permissive.createRootfs(image, join(base, 'ctr-1'), { mode: 'overlay' });
    expect(lstatSync(join(first.path, 'bin/su')).mode & 0o7777).toBe(0o4755);
    const second = await strict.createRootfs(image, join(base, 'ctr-2'), { mode: 'overlay' });
    try {
      expect(lstatSync(join(second.path, 'bin/su')).mode & 0o7777).toBe(0o755);
      expect(snapshotTree(second.path, { xattrs: true })['bin/tool']?.xattrs).toBeUndefined();
    } finally {
      await second.release();
      await first.release();
    }
  });
});

/** Unpacks with unpackImage and with a LayerCache copy; both must keep the canary and agree on the tree. */
async function unpackBoth(layers: (canary: string) => FixtureEntry[][], options: { rootless?: boolean } = {}): Promise<{ unpacked: string; cached: string; canary: string; errors: unknown[] }> {
  const { base, canary, image, before } = await setup(layers);
  const rootless = options.rootless ?? process.getuid?.() !== 0;
  const errors: unknown[] = [];
  const unpacked = await unpackImage(image, join(base, 'unpacked'), { rootless }).then(
    (r) => r.rootfs,
    (error: unknown) => {
      errors.push(error);
      return '';
    },
  );
  expect(snapshot(canary)).toEqual(before);
  const cache = new LayerCache({ root: join(base, 'cache') });
  const cached = await cache.createRootfs(image, join(base, 'cached'), { mode: 'copy', rootless }).then(
    (h) => h.path,
    (error: unknown) => {
      errors.push(error);
      return '';
    },
  );
  expect(snapshot(canary)).toEqual(before);
  return { unpacked, cached, canary, errors };
}

const tree = (rootfs: string): ReturnType<typeof snapshotTree> => {
  const { '.': _root, ...rest } = snapshotTree(rootfs, { xattrs: withXattrs });
  return rest;
};

describe('review: symlink games, unpacked and through the layer cache', () => {
  const cases: [string, (canary: string) => FixtureEntry[][]][] = [
    [
      'a symlink replaced by a directory and back, written into each time',
      (c) => [
        [{ name: 'd', type: 'symlink', linkname: c }],
        [{ name: 'd/', type: 'directory', mode: 0o777 }, { name: 'd/x', content: 'x' }],
        [{ name: 'd', type: 'symlink', linkname: c }, { name: 'd/y', content: 'y' }, { name: 'd/dir/z', content: 'z' }, { name: 'd/dir/', type: 'directory', mode: 0o700 }],
      ],
    ],
    [
      'a hardlink to a symlink used as a parent directory',
      (c) => [[{ name: 's', type: 'symlink', linkname: c }, { name: 'h', type: 'link', linkname: 's' }, { name: 'h/pwned', content: 'p' }, { name: 'h/file', content: 'over' }]],
    ],
    [
      'whiteouts and opaque markers through a symlinked directory',
      (c) => [
        [{ name: 's', type: 'symlink', linkname: c }, { name: 'p', type: 'symlink', linkname: join(c, '..') }],
        [{ name: 's/.wh.file', content: '' }, { name: 's/.wh..wh..opq', content: '' }, { name: 'p/canary/.wh.dir', content: '' }, { name: 'p/.wh.canary', content: '' }],
      ],
    ],
    [
      '.. through a chain of relative symlinks in a lower layer',
      () => [
        [{ name: 'a', type: 'symlink', linkname: '..' }, { name: 'b', type: 'symlink', linkname: 'a/a/a/canary' }],
        [{ name: 'b/file', content: 'over' }, { name: 'a/a/canary/dir/', type: 'directory', mode: 0o777 }, { name: 'b/dir/inner', content: 'i' }],
      ],
    ],
    [
      'an entry whose parent is a file, and a file replaced by a directory',
      () => [
        [{ name: 'f', content: 'file' }, { name: 'g', content: 'g' }],
        [{ name: 'f/x', content: 'x' }, { name: 'g/', type: 'directory', mode: 0o750 }],
      ],
    ],
    [
      'a very long PAX path of .. segments',
      () => [[{ name: `${'../'.repeat(1300)}canary/file`, content: 'over' }, { name: `x/${'./'.repeat(1500)}../../../canary/dir/`, type: 'directory', mode: 0o777 }]],
    ],
    [
      'duplicate entries of changing types',
      (c) => [
        [{ name: 'd/', type: 'directory' }, { name: 'd', content: 'now a file' }, { name: 'd/', type: 'directory', mode: 0o711 }, { name: 'd', type: 'symlink', linkname: c }, { name: 'd', type: 'symlink', linkname: 'elsewhere' }, { name: 'd/x', content: 'x' }],
      ],
    ],
    [
      'a lower symlink shadowed by a directory after it was used as a parent',
      (c) => [
        [{ name: 'dir/', type: 'directory' }, { name: 'l', type: 'symlink', linkname: 'dir' }, { name: 'm', type: 'symlink', linkname: c }],
        [{ name: 'l/a', content: 'via link' }, { name: 'l/', type: 'directory', mode: 0o755 }, { name: 'l/b', content: 'in the new dir' }, { name: 'm/c', content: 'c' }, { name: 'm/', type: 'directory' }, { name: 'm/d', content: 'd' }],
      ],
    ],
    [
      'a lower symlink whited out after it was used as a parent',
      () => [
        [{ name: 'dir/', type: 'directory' }, { name: 'l', type: 'symlink', linkname: 'dir' }],
        [{ name: 'l/a', content: 'via link' }, { name: '.wh.l', content: '' }, { name: 'l/b', content: 'in a new dir' }],
      ],
    ],
    [
      'a lower directory whited out and made again in the same layer (entry before and after the whiteout)',
      () => [
        [{ name: 'w/old', content: 'old' }, { name: 'w/sub/deep', content: 'deep' }, { name: 'v/old', content: 'old' }],
        [{ name: 'v/new', content: 'new' }, { name: '.wh.w', content: '' }, { name: 'w/new', content: 'new' }, { name: '.wh.v', content: '' }, { name: 'x/.wh.nothing', content: '' }],
      ],
    ],
    [
      'hardlinks to lower symlinks, lower files and lower symlinked directories',
      (c) => [
        [{ name: 'dir/f', content: 'f' }, { name: 'ls', type: 'symlink', linkname: c }, { name: 'ld', type: 'symlink', linkname: 'dir' }],
        [{ name: 'h1', type: 'link', linkname: 'ls' }, { name: 'h2', type: 'link', linkname: 'dir/f' }, { name: 'h3', type: 'link', linkname: 'ld/f' }, { name: 'h1/pwned', content: 'p' }],
      ],
    ],
  ];
  for (const rootless of process.getuid?.() === 0 ? [false, true] : [true]) {
    for (const [name, layers] of cases) {
      it(`${name}${rootless ? ' (rootless)' : ''}`, async () => {
        const r = await unpackBoth(layers, { rootless });
        expect(r.errors).toEqual([]);
        expect(tree(r.cached)).toEqual(tree(r.unpacked));
      });
    }
  }
});

describe('review: hardlinks whose in-root target exists', () => {
  it('an absolute hardlink target names the file inside the root, never the host file of the same path', async () => {
    const { base, canary, image, before } = await setup((c) => [
      [
        { name: `${c}/file`, content: 'in the root' },
        { name: 'hl', type: 'link', linkname: join(c, 'file') },
        { name: 'rel', type: 'link', linkname: `../../../../../../../..${c}/file` },
      ],
    ]);
    const { rootfs } = await unpackImage(image, join(base, 'bundle'), { rootless: process.getuid?.() !== 0 });
    expect(snapshot(canary)).toEqual(before);
    expect(lstatSync(join(canary, 'file')).nlink).toBe(1);
    const inRoot = lstatSync(join(rootfs, canary, 'file'));
    expect(inRoot.nlink).toBe(3);
    for (const name of ['hl', 'rel']) {
      expect(lstatSync(join(rootfs, name)).ino).toBe(inRoot.ino);
      expect(readFileSync(join(rootfs, name), 'utf8')).toBe('in the root');
    }
  });
});

describe.skipIf(missing({ root: true, tools: ['mount', 'umount'] }))('review: release() and mounts', () => {
  it('release() of a copied rootfs never deletes through a mount left inside it', async () => {
    const { base, canary, image, before } = await setup(() => [[{ name: 'mnt/', type: 'directory' }, { name: 'etc/hostname', content: 'ctr' }]]);
    const cache = new LayerCache({ root: join(base, 'cache') });
    const handle = await cache.createRootfs(image, join(base, 'ctr'), { mode: 'copy', rootless: false });
    execFileSync('mount', ['--bind', canary, join(handle.path, 'mnt')]);
    try {
      const error = await handle.release().catch((e: unknown) => e);
      expect(snapshot(canary)).toEqual(before);
      expect(error).toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
      expect(readFileSync(join(handle.path, 'etc/hostname'), 'utf8')).toBe('ctr');
    } finally {
      execFileSync('umount', [join(handle.path, 'mnt')]);
    }
    await handle.release();
    expect(existsSync(join(base, 'ctr'))).toBe(false);
    expect(snapshot(canary)).toEqual(before);
  });
});

describe('review: duplicate directory entries', () => {
  it('the last entry of a directory sets its mode and mtime, as it sets its owner', async () => {
    const { base, image } = await setup(() => [
      [
        { name: 'd/', type: 'directory', mode: 0o777, uid: 1, gid: 1, mtime: new Date(1_500_000_000_000) },
        { name: 'd/f', content: 'x' },
        { name: 'd/', type: 'directory', mode: 0o750, uid: 2, gid: 2, mtime: new Date(1_600_000_000_000) },
      ],
    ]);
    const { rootfs } = await unpackImage(image, join(base, 'bundle'), { rootless: process.getuid?.() !== 0 });
    const st = lstatSync(join(rootfs, 'd'));
    expect(st.mode & 0o7777).toBe(0o750);
    expect(st.mtimeMs).toBe(1_600_000_000_000);
    if (process.getuid?.() === 0) expect([st.uid, st.gid]).toEqual([2, 2]);
  });
});

describe('review: tar parser agrees with Go archive/tar (umoci) on header-only entries', () => {
  it('a symlink, hardlink or directory header with a size has no data: the entries after it are not swallowed', async () => {
    const { base } = await setup(() => [[{ name: 'x', content: 'x' }]]);
    // each header-only entry claims the next entry (512-byte header + 512 bytes of data) as its data
    const tar = await packTar([
      { name: 'l', type: 'symlink', linkname: 't' },
      { name: 'hidden-1', content: 'seen by Go' },
      { name: 'd/', type: 'directory' },
      { name: 'hidden-2', content: 'seen by Go' },
    ]);
    for (const offset of [0, 1536]) {
      tar.write('00000002000\0', offset + 124, 'latin1');
      let sum = 0;
      for (let i = offset; i < offset + 512; i++) sum += i >= offset + 148 && i < offset + 156 ? 32 : (tar[i] as number);
      tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, offset + 148, 'latin1');
    }
    writeImageLayout(join(base, 'image2'), [{ tar }]);
    const image = await (await openImageLayout(join(base, 'image2'))).resolve('latest');
    const { rootfs } = await unpackImage(image, join(base, 'bundle'), { rootless: process.getuid?.() !== 0 });
    expect(readFileSync(join(rootfs, 'hidden-1'), 'utf8')).toBe('seen by Go');
    expect(readFileSync(join(rootfs, 'hidden-2'), 'utf8')).toBe('seen by Go');
    if (withUmoci()) {
      execFileSync('umoci', ['unpack', '--image', `${join(base, 'image2')}:latest`, join(base, 'by-umoci')]);
      expect(readFileSync(join(base, 'by-umoci', 'rootfs', 'hidden-1'), 'utf8')).toBe('seen by Go');
      expect(readFileSync(join(base, 'by-umoci', 'rootfs', 'hidden-2'), 'utf8')).toBe('seen by Go');
    }
  });
});

describe('review: global PAX headers', () => {
  it('a global PAX header cannot rename, re-own or re-link the entries after it (ignored, as containerd does)', async () => {
    const { base } = await setup(() => [[{ name: 'x', content: 'x' }]]);
    const records = ['path=etc/passwd', 'uid=4242', 'linkpath=/pwned'].map((r) => {
      let len = r.length + 3;
      if (String(len).length + r.length + 2 !== len) len += 1;
      return `${len} ${r}\n`;
    });
    const tar = await packTar([
      { name: 'pax_global_header', content: records.join('') },
      { name: 'usr/share/doc/readme', content: 'root::0:0::/:/bin/sh\n' },
      { name: 'bin/sh', type: 'symlink', linkname: 'busybox' },
    ]);
    tar[156] = 'g'.charCodeAt(0);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (tar[i] as number);
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    writeImageLayout(join(base, 'image2'), [{ tar }]);
    const image = await (await openImageLayout(join(base, 'image2'))).resolve('latest');
    const { rootfs } = await unpackImage(image, join(base, 'bundle'), { rootless: false });
    expect(existsSync(join(rootfs, 'etc/passwd'))).toBe(false);
    expect(readFileSync(join(rootfs, 'usr/share/doc/readme'), 'utf8')).toBe('root::0:0::/:/bin/sh\n');
    expect(lstatSync(join(rootfs, 'bin/sh')).isSymbolicLink()).toBe(true);
    if (process.getuid?.() === 0) expect(lstatSync(join(rootfs, 'usr/share/doc/readme')).uid).toBe(0);
    // (containerd ignores global headers the same way; umoci 0.4.7 rejects the layer: unknown typeflag 'g')
  });
});

describe('review: consecutive PAX headers', () => {
  it('only the last PAX header before an entry applies (Go archive/tar): an earlier one cannot smuggle a path', async () => {
    const { base } = await setup(() => [[{ name: 'x', content: 'x' }]]);
    const smuggle = (await packTar([{ name: 'a', content: '', pax: { path: 'etc/shadow', uid: '4242' } }])).subarray(0, 1024);
    const innocent = await packTar([{ name: 'usr/share/doc/innocent', content: 'root::0:0:::\n', pax: { comment: 'c' } }]);
    expect(smuggle.toString('latin1', 156, 157)).toBe('x');
    expect(innocent.toString('latin1', 156, 157)).toBe('x');
    // tar-stream writes the name into every PAX header: turn that record into an unknown key
    const at = innocent.indexOf(' path=', 512, 'latin1');
    expect(at).toBeGreaterThan(511);
    innocent.write(' pxth=', at, 'latin1');
    // ... and tar-stream names the ustar header of such an entry 'PaxHeader': give it the real name
    expect(innocent.toString('latin1', 1024, 1033)).toBe('PaxHeader');
    innocent.fill(0, 1024, 1124);
    innocent.write('usr/share/doc/innocent', 1024, 'latin1');
    let sum = 0;
    for (let i = 1024; i < 1536; i++) sum += i >= 1024 + 148 && i < 1024 + 156 ? 32 : (innocent[i] as number);
    innocent.write(`${sum.toString(8).padStart(6, '0')}\0 `, 1024 + 148, 'latin1');
    writeImageLayout(join(base, 'image2'), [{ tar: Buffer.concat([smuggle, innocent]) }]);
    const image = await (await openImageLayout(join(base, 'image2'))).resolve('latest');
    const { rootfs } = await unpackImage(image, join(base, 'bundle'), { rootless: process.getuid?.() !== 0 });
    expect(existsSync(join(rootfs, 'etc/shadow'))).toBe(false);
    expect(readFileSync(join(rootfs, 'usr/share/doc/innocent'), 'utf8')).toBe('root::0:0:::\n');
    if (withUmoci()) {
      execFileSync('umoci', ['unpack', '--image', `${join(base, 'image2')}:latest`, join(base, 'by-umoci')]);
      expect(existsSync(join(base, 'by-umoci', 'rootfs', 'etc/shadow'))).toBe(false);
      expect(readFileSync(join(base, 'by-umoci', 'rootfs', 'usr/share/doc/innocent'), 'utf8')).toBe('root::0:0:::\n');
    }
  });
});

describe('review: old-style regular file typeflag', () => {
  it("a NUL typeflag on a name ending in / is a directory, as in Go archive/tar (its size cannot hide data)", async () => {
    const { base } = await setup(() => [[{ name: 'x', content: 'x' }]]);
    const inner = (await packTar([{ name: 'seen-by-go', content: '' }])).subarray(0, 512);
    const tar = await packTar([{ name: 'foo/', content: Buffer.from(inner) }]);
    expect(tar.toString('latin1', 0, 4)).toBe('foo/');
    tar[156] = 0;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (tar[i] as number);
    tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    writeImageLayout(join(base, 'image2'), [{ tar }]);
    const image = await (await openImageLayout(join(base, 'image2'))).resolve('latest');
    const { rootfs } = await unpackImage(image, join(base, 'bundle'), { rootless: process.getuid?.() !== 0 });
    expect(lstatSync(join(rootfs, 'foo')).isDirectory()).toBe(true);
    expect(lstatSync(join(rootfs, 'seen-by-go')).isFile()).toBe(true);
    if (withUmoci()) {
      execFileSync('umoci', ['unpack', '--image', `${join(base, 'image2')}:latest`, join(base, 'by-umoci')]);
      expect(lstatSync(join(base, 'by-umoci', 'rootfs', 'foo')).isDirectory()).toBe(true);
      expect(lstatSync(join(base, 'by-umoci', 'rootfs', 'seen-by-go')).isFile()).toBe(true);
    }
  });
});

describe('review: digest algorithms in the layer cache', () => {
  it('a sha512 DiffID (ChainID of the base layer) is cached, kept while in use and collected afterwards', async () => {
    const base = join(work, `case-${++caseNo}`);
    const tar0 = await packTar([{ name: 'f', content: 'base' }]);
    const tar1 = await packTar([{ name: 'g', content: 'top' }]);
    const sha512 = `sha512:${createHash('sha512').update(tar0).digest('hex')}`;
    writeImageLayout(join(base, 'image'), [{ tar: tar0, diffId: sha512 }, { tar: tar1 }]);
    const image = await (await openImageLayout(join(base, 'image'))).resolve('latest');
    expect(image.chainIds[0]).toBe(sha512);
    const cache = new LayerCache({ root: join(base, 'cache') });
    const rootless = process.getuid?.() !== 0;
    const handle = await cache.createRootfs(image, join(base, 'ctr'), { mode: 'copy', rootless });
    expect(readFileSync(join(handle.path, 'f'), 'utf8')).toBe('base');
    expect((await cache.gc()).kept.sort()).toEqual([...image.chainIds].sort());
    await handle.release();
    expect((await cache.gc()).removed.sort()).toEqual([...image.chainIds].sort());
    expect(existsSync(cache.layerPath(sha512, rootless))).toBe(false);
  });
});

describe.skipIf(missing({ tools: ['setfattr', 'getfattr'] }))('review: xattrs and times on symlinks', () => {
  it('xattrs and mtimes of symlink entries that point out of the root stay on the symlinks', async () => {
    const xattrs = { 'SCHILY.xattr.user.pwned': 'u', ...(process.getuid?.() === 0 ? { 'SCHILY.xattr.trusted.pwned': 't' } : {}) };
    const { base, canary, image, before } = await setup((c) => [
      [
        { name: 'lf', type: 'symlink', linkname: join(c, 'file'), pax: xattrs, mtime: new Date(1_234_000_000) },
        { name: 'ld', type: 'symlink', linkname: join(c, 'dir'), pax: xattrs, mtime: new Date(1_234_000_000) },
      ],
    ]);
    const { rootfs } = await unpackImage(image, join(base, 'bundle'), { rootless: process.getuid?.() !== 0 });
    expect(snapshot(canary)).toEqual(before);
    expect(lstatSync(join(rootfs, 'lf')).mtimeMs).toBe(1_234_000_000);
    const cache = new LayerCache({ root: join(base, 'cache') });
    const handle = await cache.createRootfs(image, join(base, 'ctr'), { mode: 'copy', rootless: process.getuid?.() !== 0 });
    expect(snapshot(canary)).toEqual(before);
    await handle.release();
  });
});

describe('review: layer cache permissions', () => {
  it('a layer being extracted (setuid files, device nodes) is never reachable by other users', async () => {
    const big = Array.from({ length: 8 }, (_, i): FixtureEntry => ({ name: `data/f${i}`, content: Buffer.alloc(512 * 1024, i) }));
    const { base, image } = await setup(() => [[{ name: 'bin/su', content: 'x', mode: 0o4755 }, { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o666 }, ...big]]);
    const cache = new LayerCache({ root: join(base, 'cache') });
    const modes: number[] = [];
    const handle = await cache.createRootfs(image, join(base, 'ctr'), {
      mode: 'copy',
      onProgress: () => {
        for (const name of readdirSync(join(base, 'cache', 'tmp'))) modes.push(lstatSync(join(base, 'cache', 'tmp', name)).mode & 0o777);
      },
    });
    await handle.release();
    expect(modes.length).toBeGreaterThan(0);
    // an extraction in progress sits below a directory only its owner can enter
    for (const mode of modes) expect(mode & 0o077).toBe(0);
    expect(lstatSync(join(base, 'cache', 'tmp')).mode & 0o077).toBe(0);
  });
});

describe('review: createRootfs target permissions', () => {
  it('an existing target dir is closed to other users, as unpackImage does', async () => {
    const { base, image } = await setup(() => [[{ name: 'bin/su', content: 'x', mode: 0o4755 }]]);
    mkdirSync(join(base, 'ctr'), { mode: 0o755 });
    const cache = new LayerCache({ root: join(base, 'cache') });
    const handle = await cache.createRootfs(image, join(base, 'ctr'), { mode: 'auto' });
    try {
      expect(lstatSync(join(base, 'ctr')).mode & 0o777).toBe(0o700);
    } finally {
      await handle.release();
    }
    expect(readdirSync(join(base, 'ctr'))).toEqual([]);
  });
});

describe('review: concurrent createRootfs on one target', () => {
  it('the loser never removes what the winner made', async () => {
    const { base, image } = await setup(() => [[{ name: 'etc/hostname', content: 'ctr' }]]);
    const cache = new LayerCache({ root: join(base, 'cache') });
    await cache.ensureLayers(image);
    const target = join(base, 'ctr');
    const results = await Promise.allSettled([cache.createRootfs(image, target, { mode: 'copy' }), cache.createRootfs(image, target, { mode: 'copy' })]);
    const won = results.filter((r): r is PromiseFulfilledResult<Awaited<ReturnType<LayerCache['createRootfs']>>> => r.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const handle = won[0]?.value;
    expect(readFileSync(join(handle?.path ?? '', 'etc/hostname'), 'utf8')).toBe('ctr');
    await handle?.release();
    // targetDir goes with the winner when the winner made it; when the loser made it, the loser
    // left it (in use by the winner) and the winner did not make it: an empty dir stays
    expect(existsSync(target) ? readdirSync(target) : []).toEqual([]);
  });
});
