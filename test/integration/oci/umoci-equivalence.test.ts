/**
 * `lxcri unpack` produces the same tree as `umoci unpack` for images built with umoci from real
 * files: several layers, whiteouts (files and directories), opaque directories, hardlinks,
 * symlinks (relative, absolute, dangling), setuid/setgid/sticky bits, special modes, owners,
 * device nodes, FIFOs and xattrs (user.*, trusted.*, security.capability).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import type { CliIo } from '../../../src/cli/types.js';
import { openImageLayout, unpackImage } from '../../../src/index.js';
import { buildUmociImage, snapshotTree } from '../../helpers/oci-fixtures.js';
import { missing } from '../../helpers/requirements.js';

function io(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {}, cwd: process.cwd(), out: () => out, err: () => err };
}

const setfattr = (path: string, name: string, value: string): void => {
  execFileSync('setfattr', ['-h', '-n', name, '-v', value, path]);
};

/** Layer 1: a small system with every kind of entry. */
function layerBase(rootfs: string): void {
  for (const d of ['bin', 'etc', 'usr/bin', 'usr/lib', 'var/empty', 'opt/app/lib', 'dev', 'home/user', 'shared', 'old/dir/deep']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(rootfs, 'bin/sh'));
  symlinkSync('/bin/busybox', join(rootfs, 'usr/bin/env'));
  symlinkSync('../nowhere/at/all', join(rootfs, 'usr/bin/dangling'));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/motd'), 'hello\n');
  writeFileSync(join(rootfs, 'etc/shadow'), 'root:*:1::::::\n');
  chmodSync(join(rootfs, 'etc/shadow'), 0o640);
  chownSync(join(rootfs, 'etc/shadow'), 0, 42);
  writeFileSync(join(rootfs, 'bin/suid'), '#!/bin/sh\n');
  chmodSync(join(rootfs, 'bin/suid'), 0o4755);
  writeFileSync(join(rootfs, 'bin/sgid'), '#!/bin/sh\n');
  chmodSync(join(rootfs, 'bin/sgid'), 0o2711);
  mkdirSync(join(rootfs, 'tmp'));
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  chmodSync(join(rootfs, 'shared'), 0o2775);
  chownSync(join(rootfs, 'shared'), 0, 100);
  writeFileSync(join(rootfs, 'home/user/secret'), 'x'.repeat(70_000));
  chmodSync(join(rootfs, 'home/user/secret'), 0o600);
  chownSync(join(rootfs, 'home/user/secret'), 1000, 1000);
  chownSync(join(rootfs, 'home/user'), 1000, 1000);
  writeFileSync(join(rootfs, 'var/empty/nomode'), '');
  chmodSync(join(rootfs, 'var/empty/nomode'), 0);
  writeFileSync(join(rootfs, 'usr/lib/libfoo.so.1'), Buffer.alloc(200_000, 7));
  linkSync(join(rootfs, 'usr/lib/libfoo.so.1'), join(rootfs, 'usr/lib/libfoo-hardlink.so'));
  linkSync(join(rootfs, 'usr/lib/libfoo.so.1'), join(rootfs, 'bin/libfoo-other-dir'));
  writeFileSync(join(rootfs, 'opt/app/lib/a.txt'), 'a');
  writeFileSync(join(rootfs, 'opt/app/b.txt'), 'b');
  writeFileSync(join(rootfs, 'old/dir/deep/file'), 'deep');
  execFileSync('mknod', ['-m', '0666', join(rootfs, 'dev/null'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '0660', join(rootfs, 'dev/loop9'), 'b', '7', '9']);
  execFileSync('mkfifo', ['-m', '0620', join(rootfs, 'dev/fifo')]);
  writeFileSync(join(rootfs, 'bin/ping'), 'ping');
  setfattr(join(rootfs, 'bin/ping'), 'security.capability', '0x0100000200200000000000000000000000000000');
  setfattr(join(rootfs, 'etc/motd'), 'user.comment', 'greeting');
  setfattr(join(rootfs, 'etc/passwd'), 'trusted.test', '0x00ff10');
  setfattr(join(rootfs, 'opt'), 'user.dir-attr', 'on a directory');
}

/** Layer 2: deletions (file, dir tree), modifications, type changes, owner/mode changes. */
function layerChanges(rootfs: string): void {
  unlinkSync(join(rootfs, 'etc/shadow'));
  rmSync(join(rootfs, 'old'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  chmodSync(join(rootfs, 'bin/suid'), 0o6755);
  chownSync(join(rootfs, 'etc/motd'), 1000, 1000);
  unlinkSync(join(rootfs, 'usr/bin/env'));
  writeFileSync(join(rootfs, 'usr/bin/env'), 'now a file');
  rmSync(join(rootfs, 'var/empty'), { recursive: true });
  symlinkSync('/tmp', join(rootfs, 'var/empty'));
  mkdirSync(join(rootfs, 'srv/www'), { recursive: true });
  writeFileSync(join(rootfs, 'srv/www/index.html'), '<html></html>');
  linkSync(join(rootfs, 'srv/www/index.html'), join(rootfs, 'srv/www/index.htm'));
  unlinkSync(join(rootfs, 'usr/lib/libfoo-hardlink.so'));
  setfattr(join(rootfs, 'srv/www/index.html'), 'user.mime', 'text/html');
}

describe.skipIf(missing({ root: true, tools: ['umoci', 'setfattr', 'getfattr', 'mknod'] }))('lxcri unpack ≡ umoci unpack', () => {
  let work: string;
  let layout: string;

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'lxcri-equiv-'));
    layout = join(work, 'image');
    buildUmociImage(layout, 'test', work, [layerBase, layerChanges]);
    // Layer 3: an opaque directory (umoci insert --opaque) and an explicit whiteout.
    const optNew = join(work, 'opt-new');
    mkdirSync(join(optNew, 'fresh'), { recursive: true });
    writeFileSync(join(optNew, 'fresh/new.txt'), 'new');
    execFileSync('umoci', ['insert', '--image', `${layout}:test`, '--opaque', optNew, '/opt']);
    execFileSync('umoci', ['insert', '--image', `${layout}:test`, '--whiteout', '/etc/motd']);
    // Layer 5: re-add a deleted path and a whiteout of a dir re-created in the same layer
    const readd = join(work, 'readd');
    mkdirSync(readd);
    writeFileSync(join(readd, 'shadow'), 'new shadow');
    execFileSync('umoci', ['insert', '--image', `${layout}:test`, join(readd, 'shadow'), '/etc/shadow']);
  }, 120_000);

  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('builds a multi-layer image', async () => {
    const image = await (await openImageLayout(layout)).resolve('test');
    expect(image.layers.length).toBeGreaterThanOrEqual(5);
  });

  it('writes the same paths, types, modes, owners, link targets, contents, hardlinks and xattrs', async () => {
    execFileSync('umoci', ['unpack', '--image', `${layout}:test`, join(work, 'by-umoci')]);
    const cli = io();
    const code = await main(['unpack', '--image', `${layout}:test`, join(work, 'by-lxcri')], cli);
    expect(cli.err()).toBe('');
    expect(code).toBe(0);
    const summary = JSON.parse(cli.out()) as { rootfs: string; layers: number; entries: number };
    expect(summary.rootfs).toBe(join(work, 'by-lxcri', 'rootfs'));
    expect(summary.layers).toBeGreaterThanOrEqual(5);

    const expected = snapshotTree(join(work, 'by-umoci', 'rootfs'), { xattrs: true });
    const actual = snapshotTree(join(work, 'by-lxcri', 'rootfs'), { xattrs: true });
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
