/**
 * Device nodes, FIFOs and overlay whiteouts are made a run at a time (`oci/layers/mknod.ts`: one
 * perl process per run instead of one `mknod` per node). The helper must make exactly the nodes
 * asked for, and the applier must never let an entry see a node that is not made yet: an entry
 * with a node's name, a hardlink to it, an entry elsewhere (a directory of the run replaced by a
 * symlink must not get the node through it) and the end of the layer all make the run first.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { LayerCache } from '../../../../src/oci/layers/layer-cache.js';
import { makeNodes } from '../../../../src/oci/layers/mknod.js';
import { unpackImage } from '../../../../src/oci/layers/unpack-image.js';
import { available, missing } from '../../../helpers/requirements.js';
import { packTar, snapshotTree, writeImageLayout, type FixtureEntry } from '../../../helpers/oci-fixtures.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-node-runs-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** glibc's `major()`/`minor()` of a 64-bit `st_rdev`. */
const devOf = (rdev: number): [number, number] => {
  const r = BigInt(rdev);
  return [Number(((r >> 8n) & 0xfffn) | ((r >> 32n) & ~0xfffn)), Number((r & 0xffn) | ((r >> 12n) & ~0xffn))];
};
const mtime = new Date('2024-05-06T07:08:09Z');
const which = (tool: string): string => execFileSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim();

/**
 * Runs `fn` with a `perl` first on PATH that logs how many nodes each call makes (the helper's
 * arguments: `-e SCRIPT NR` and then three per node) before it runs the real perl.
 */
async function countingPerlRuns<T>(name: string, fn: () => Promise<T>): Promise<{ result: T; runs: number[] }> {
  const bin = join(work, `bin-${name}`);
  mkdirSync(bin);
  const log = join(bin, 'runs.log');
  writeFileSync(join(bin, 'perl'), `#!/bin/sh\necho $(( ($# - 3) / 3 )) >> '${log}'\nexec '${which('perl')}' "$@"\n`, { mode: 0o755 });
  const path = process.env['PATH'];
  process.env['PATH'] = `${bin}:${path ?? ''}`;
  try {
    const result = await fn();
    return { result, runs: existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').map(Number) : [] };
  } finally {
    process.env['PATH'] = path;
  }
}

/** A directory holding only links to `tools`, for a PATH without everything else. */
function toolBin(name: string, tools: readonly string[]): string {
  const bin = join(work, `bin-${name}`);
  mkdirSync(bin);
  for (const tool of tools) symlinkSync(which(tool), join(bin, tool));
  return bin;
}

describe.skipIf(missing({ root: true, tools: ['perl', 'mknod'] }))('makeNodes', () => {
  it('makes a run of character and block devices and FIFOs, each exactly 0600, whatever the umask', () => {
    const dir = join(work, 'run');
    mkdirSync(dir);
    const old = process.umask(0o077);
    try {
      expect(
        makeNodes([
          { path: join(dir, 'null'), type: 'char', major: 1, minor: 3 },
          { path: join(dir, 'sda'), type: 'block', major: 8, minor: 0 },
          { path: join(dir, 'pipe'), type: 'fifo', major: 0, minor: 0 },
          // the largest numbers of the kernel's 32-bit encoding
          { path: join(dir, 'big'), type: 'char', major: 0xfff, minor: 0xfffff },
          { path: join(dir, 'wh'), type: 'char', major: 0, minor: 0 },
        ]),
      ).toBeUndefined();
    } finally {
      process.umask(old);
    }
    const st = (name: string) => lstatSync(join(dir, name));
    expect([st('null').isCharacterDevice(), st('sda').isBlockDevice(), st('pipe').isFIFO(), st('big').isCharacterDevice(), st('wh').isCharacterDevice()]).toEqual([true, true, true, true, true]);
    expect(devOf(st('null').rdev)).toEqual([1, 3]);
    expect(devOf(st('sda').rdev)).toEqual([8, 0]);
    expect(devOf(st('big').rdev)).toEqual([0xfff, 0xfffff]);
    expect(devOf(st('wh').rdev)).toEqual([0, 0]);
    for (const name of ['null', 'sda', 'pipe', 'big', 'wh']) expect((st(name).mode & 0o7777).toString(8)).toBe('600');
  });

  it('reports the first node that cannot be made, with the ones before it made and none after', () => {
    const dir = join(work, 'fail');
    mkdirSync(dir);
    const failed = makeNodes([
      { path: join(dir, 'a'), type: 'fifo', major: 0, minor: 0 },
      { path: join(dir, 'missing-dir', 'b'), type: 'fifo', major: 0, minor: 0 },
      { path: join(dir, 'c'), type: 'fifo', major: 0, minor: 0 },
    ]);
    expect(failed).toMatchObject({ index: 1, message: expect.stringMatching(/^mknod failed: .*No such file or directory/) });
    expect(readdirSync(dir)).toEqual(['a']);
  });

  it('a device number past the 32-bit encoding is left to mknod, whose error is reported', () => {
    const dir = join(work, 'overflow');
    mkdirSync(dir);
    const failed = makeNodes([
      { path: join(dir, 'ok'), type: 'char', major: 1, minor: 5 },
      { path: join(dir, 'huge'), type: 'char', major: 0x1000, minor: 0 },
    ]);
    expect(failed).toMatchObject({ index: 1, message: expect.stringMatching(/^mknod failed: /) });
    expect(devOf(lstatSync(join(dir, 'ok')).rdev)).toEqual([1, 5]);
  });

  it('a run is one perl process: it needs no mknod', () => {
    const dir = join(work, 'perl-only');
    mkdirSync(dir);
    const path = process.env['PATH'];
    process.env['PATH'] = toolBin('perl-only', ['perl']);
    try {
      expect(
        makeNodes([
          { path: join(dir, 'null'), type: 'char', major: 1, minor: 3 },
          { path: join(dir, 'pipe'), type: 'fifo', major: 0, minor: 0 },
        ]),
      ).toBeUndefined();
    } finally {
      process.env['PATH'] = path;
    }
    expect(devOf(lstatSync(join(dir, 'null')).rdev)).toEqual([1, 3]);
    expect(lstatSync(join(dir, 'pipe')).isFIFO()).toBe(true);
  });

  it('without perl on PATH, each node is made by mknod', () => {
    const dir = join(work, 'no-perl');
    mkdirSync(dir);
    const path = process.env['PATH'];
    process.env['PATH'] = toolBin('no-perl', ['mknod']);
    try {
      expect(
        makeNodes([
          { path: join(dir, 'null'), type: 'char', major: 1, minor: 3 },
          { path: join(dir, 'pipe'), type: 'fifo', major: 0, minor: 0 },
        ]),
      ).toBeUndefined();
    } finally {
      process.env['PATH'] = path;
    }
    expect(devOf(lstatSync(join(dir, 'null')).rdev)).toEqual([1, 3]);
    expect(lstatSync(join(dir, 'pipe')).isFIFO()).toBe(true);
  });
});

describe.skipIf(missing({ root: true, tools: ['perl', 'mknod'] }))('a layer with runs of nodes', () => {
  it('makes every node with its header, before any entry that could see it, and never through a replaced directory', async () => {
    const outside = join(work, 'outside');
    mkdirSync(outside);
    const dev = (name: string, major: number, minor: number, extra: Partial<FixtureEntry> = {}): FixtureEntry => ({ name, type: 'character-device', devmajor: major, devminor: minor, mode: 0o666, mtime, ...extra });
    const entries: FixtureEntry[] = [
      { name: 'dev/', type: 'directory', mtime },
      dev('dev/console', 5, 1, { mode: 0o600 }),
      { name: 'dev/fd', type: 'symlink', linkname: '/proc/self/fd', mtime },
      dev('dev/full', 1, 7),
      { name: 'dev/pts/', type: 'directory', mtime },
      { name: 'dev/pts/note', content: 'in another directory\n', mtime },
      dev('dev/null', 1, 3, { uid: 5, gid: 6, mode: 0o640 }),
      // a hardlink to a node of the run
      { name: 'dev/null-link', type: 'link', linkname: 'dev/null', mtime },
      { name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o660, gid: 6, mtime },
      { name: 'dev/initctl', type: 'fifo', mode: 0o600, mtime },
      dev('dev/zero', 1, 5),
      // the same name again: the file replaces the node
      { name: 'dev/zero', content: 'not a device\n', mtime },
      { name: 'd/', type: 'directory', mtime },
      dev('d/n', 1, 3),
      // the run's directory replaced by a symlink out of the root: the node must not follow it
      { name: 'd', type: 'symlink', linkname: outside, mtime },
      { name: 'tail', type: 'directory', mtime },
      // a run that ends the layer
      dev('tail/a', 1, 8),
      dev('tail/b', 1, 9),
    ];
    const layout = join(work, 'layout');
    writeImageLayout(layout, [{ tar: await packTar(entries) }]);
    const image = await (await openImageLayout(layout)).resolve('latest');
    const { result: unpacked, runs } = await countingPerlRuns('apply', () => unpackImage(image, join(work, 'out')));
    const { rootfs } = unpacked;
    // one process per run: console+full (ended by dev/pts/note), null (by the hardlink),
    // sda+initctl+zero (by dev/zero again), d/n (by the symlink d), tail/a+tail/b (by the end)
    expect(runs).toEqual([2, 1, 3, 1, 2]);

    const st = (rel: string) => lstatSync(join(rootfs, rel));
    expect(devOf(st('dev/console').rdev)).toEqual([5, 1]);
    expect(devOf(st('dev/full').rdev)).toEqual([1, 7]);
    const nul = st('dev/null');
    expect({ char: nul.isCharacterDevice(), dev: devOf(nul.rdev), uid: nul.uid, gid: nul.gid, mode: (nul.mode & 0o7777).toString(8), mtime: nul.mtimeMs }).toEqual({
      char: true,
      dev: [1, 3],
      uid: 5,
      gid: 6,
      mode: '640',
      mtime: mtime.getTime(),
    });
    expect(st('dev/null-link').ino).toBe(nul.ino);
    expect(st('dev/sda').isBlockDevice() && st('dev/sda').gid === 6).toBe(true);
    expect(st('dev/initctl').isFIFO()).toBe(true);
    expect(st('dev/zero').isFile()).toBe(true);
    expect(st('d').isSymbolicLink()).toBe(true);
    expect(readdirSync(outside)).toEqual([]);
    expect(devOf(st('tail/b').rdev)).toEqual([1, 9]);
    // directory times are set after the nodes are made in them
    expect(st('dev').mtimeMs).toBe(mtime.getTime());
    expect(st('tail').mtimeMs).toBe(mtime.getTime());

    if (available({ root: true, tools: ['umoci'] }, 'the same tree as umoci unpack')) {
      execFileSync('umoci', ['unpack', '--image', `${layout}:latest`, join(work, 'umoci')], { stdio: 'ignore' });
      expect(snapshotTree(rootfs, { mtimes: true })).toEqual(snapshotTree(join(work, 'umoci', 'rootfs'), { mtimes: true }));
    }
  });

  it('overlay whiteouts in the layer cache: a run per directory, and an entry of a whited-out name made after it', async () => {
    const files = (dir: string, names: readonly string[]): FixtureEntry[] => names.map((n) => ({ name: `${dir}/${n}`, content: `${dir}/${n}\n`, mtime }));
    const lower: FixtureEntry[] = [{ name: 'a/', type: 'directory', mtime }, ...files('a', ['1', '2', '3', '4', '5']), { name: 'b/', type: 'directory', mtime }, ...files('b', ['x', 'y'])];
    const upper: FixtureEntry[] = [
      { name: 'a/', type: 'directory', mtime },
      { name: 'a/.wh.1', mtime },
      { name: 'a/.wh.2', mtime },
      { name: 'a/.wh.5', mtime },
      // the same name as a whiteout of the run, in the same layer
      { name: 'a/5', content: 'five again\n', mtime },
      { name: 'b/', type: 'directory', mtime },
      { name: 'b/.wh.x', mtime },
      { name: 'b/.wh.y', mtime },
    ];
    const layout = join(work, 'layout-wh');
    writeImageLayout(layout, [{ tar: await packTar(lower) }, { tar: await packTar(upper) }]);
    const image = await (await openImageLayout(layout)).resolve('latest');
    const cache = new LayerCache({ root: join(work, 'cache') });
    const { result: handle, runs } = await countingPerlRuns('overlay', () => cache.createRootfs(image, join(work, 'ctr'), { mode: 'overlay' }));
    // a/.wh.1, .wh.2, .wh.5 (ended by a/5), then b/.wh.x, .wh.y (by the end of the layer)
    expect(runs).toEqual([3, 2]);
    try {
      const diff = join(cache.layerPath(image.chainIds[1] as string), 'diff');
      for (const rel of ['a/1', 'a/2', 'b/x', 'b/y']) {
        const st = lstatSync(join(diff, rel));
        expect([rel, st.isCharacterDevice(), devOf(st.rdev)]).toEqual([rel, true, [0, 0]]);
      }
      expect(lstatSync(join(diff, 'a/5')).isFile()).toBe(true);
      const { rootfs } = await unpackImage(image, join(work, 'merged'));
      expect(snapshotTree(handle.path)).toEqual(snapshotTree(rootfs));
      expect(readdirSync(join(handle.path, 'a')).sort()).toEqual(['3', '4', '5']);
      expect(readdirSync(join(handle.path, 'b'))).toEqual([]);
    } finally {
      await handle.release();
    }
  });
});
