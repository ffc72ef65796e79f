/**
 * `lxcri unpack` produces the same tree as `umoci unpack` for images built with umoci from real
 * files: several layers, whiteouts (files and directories), opaque directories, hardlinks,
 * symlinks (relative, absolute, dangling), setuid/setgid/sticky bits, special modes, owners,
 * device nodes, FIFOs and xattrs (user.*, trusted.*, security.capability).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { openImageLayout } from '../../../src/index.js';
import { unpackImage } from '../../../src/exports/oci.js';
import { buildFeatureImage, snapshotTree } from '../../helpers/oci-fixtures.js';
import { missing } from '../../helpers/requirements.js';
import { captureIo as captureIoAt, type CapturedIo } from '../../helpers/cli-io.js';

const io = (): CapturedIo => captureIoAt();

describe.skipIf(missing({ root: true, tools: ['umoci', 'setfattr', 'getfattr', 'mknod'] }))('lxcri unpack ≡ umoci unpack', () => {
  let work: string;
  let layout: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-equiv-'));
    layout = join(work, 'image');
    buildFeatureImage(layout, 'test', work);
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('builds a multi-layer image', async () => {
    const image = await (await openImageLayout(layout)).resolve('test');
    expect(image.layers.length).toBeGreaterThanOrEqual(5);
  });

  it('writes the same paths, types, modes, owners, link targets, contents, hardlinks, xattrs and mtimes', async () => {
    execFileSync('umoci', ['unpack', '--image', `${layout}:test`, join(work, 'by-umoci')]);
    const cli = io();
    const code = await main(['unpack', '--image', `${layout}:test`, join(work, 'by-lxcri')], cli);
    expect(cli.err()).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(cli.out()) as { rootfs: string; layers: number; entries: number };
    expect(summary.rootfs).toBe(join(work, 'by-lxcri', 'rootfs'));
    expect(summary.layers).toBeGreaterThanOrEqual(5);

    const expected = snapshotTree(join(work, 'by-umoci', 'rootfs'), { xattrs: true, mtimes: true });
    const actual = snapshotTree(join(work, 'by-lxcri', 'rootfs'), { xattrs: true, mtimes: true });
    expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
    expect(actual).toEqual(expected);

    // the tree really contains what the layers say (not two equally empty trees)
    expect(actual['bin/suid']).toMatchObject({ type: 'file', mode: '6755' });
    expect(actual['dev/null']).toMatchObject({ type: 'char' });
    expect(actual['dev/fifo']).toMatchObject({ type: 'fifo', mode: '620' });
    expect(actual['var/empty']).toMatchObject({ type: 'symlink', link: '/tmp' });
    expect(actual['usr/lib/libfoo.so.1']?.links).toEqual(['bin/libfoo-other-dir', 'usr/lib/libfoo.so.1']);
    expect(actual['bin/ping']?.xattrs?.['security.capability']).toBe('0x0100000200200000000000000000000000000000');
    expect(actual['etc/motd']).toBeUndefined();
    expect(actual['etc/shadow']).toMatchObject({ type: 'file' });
    expect(actual['old']).toBeUndefined();
    expect(actual['opt/app']).toBeUndefined();
    expect(actual['opt/fresh/new.txt']).toMatchObject({ type: 'file' });
    expect(actual['home/user/secret']).toMatchObject({ uid: 1000, gid: 1000, mode: '600' });
    // the bundle directory is private, like umoci's
    expect(snapshotTree(join(work, 'by-lxcri'), { ignore: (p) => p.startsWith('rootfs') })['.']?.mode).toBe('700');
  });

  it('lxcri unpack --rootless writes the same tree as umoci unpack --rootless (owners in user.rootlesscontainers)', async () => {
    execFileSync('umoci', ['unpack', '--rootless', '--image', `${layout}:test`, join(work, 'rootless-umoci')]);
    const cli = io();
    expect(await main(['unpack', '--rootless', '--image', `${layout}:test`, join(work, 'rootless-lxcri')], cli)).toBe(0);
    const umoci = snapshotTree(join(work, 'rootless-umoci', 'rootfs'), { xattrs: true });
    const actual = snapshotTree(join(work, 'rootless-lxcri', 'rootfs'), { xattrs: true });
    // umoci --rootless run by root still sets security.* and trusted.* (it only drops them on
    // EPERM); lxcri drops them in rootless mode whoever runs it: a file capability set by root in
    // a user namespace would be honoured on the host. Everything else is equal.
    expect(umoci['bin/ping']?.xattrs?.['security.capability']).toBeDefined();
    const expected = Object.fromEntries(
      Object.entries(umoci).map(([path, node]) => {
        const kept = Object.entries(node.xattrs ?? {}).filter(([name]) => !name.startsWith('security.') && !name.startsWith('trusted.'));
        const { xattrs: _dropped, ...rest } = node;
        return [path, kept.length > 0 ? { ...rest, xattrs: Object.fromEntries(kept) } : rest];
      }),
    );
    expect(actual).toEqual(expected);
    expect(actual['bin/ping']?.xattrs).toBeUndefined();
    expect(actual['etc/passwd']?.xattrs).toBeUndefined();
    expect(actual['home/user/secret']?.xattrs?.['user.rootlesscontainers']).toBe('0x08e80710e807');
    expect(actual['dev/null']).toMatchObject({ type: 'file', size: 0 });
  });

  it('unpackImage reports progress for every layer and refuses an existing rootfs', async () => {
    const image = await (await openImageLayout(layout)).resolve('test');
    const seen = new Set<number>();
    let last = 0;
    const result = await unpackImage(image, join(work, 'api'), {
      onProgress: (p) => {
        seen.add(p.layer);
        expect(p.totalCompressedBytes).toBeGreaterThanOrEqual(last);
        last = p.totalCompressedBytes;
      },
    });
    expect(seen.size).toBe(image.layers.length);
    expect(last).toBe(image.layers.reduce((s, l) => s + l.size, 0));
    expect(result.entries).toBeGreaterThan(30);
    await expect(unpackImage(image, join(work, 'api'))).rejects.toMatchObject({ code: 'ERR_ALREADY_EXISTS' });
  });
});
