import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BundleError } from '../../../../src/exports/errors.js';
import { parseGroup, parsePasswd, readImageUserDb } from '../../../../src/exports/oci.js';
import { readRootfsFile, resolveInRootfs } from '../../../../src/oci/spec/user-db.js';
import { GROUP, PASSWD } from './fixtures.js';

let base: string;
let rootfs: string;
let outside: string;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), 'lxcri-userdb-'));
  rootfs = join(base, 'rootfs');
  outside = join(base, 'host-secret');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(outside, 'evil:x:0:0::/:/bin/sh\n');
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

describe('reading /etc/passwd and /etc/group inside a rootfs', () => {
  it('reads plain files', async () => {
    await writeFile(join(rootfs, 'etc/passwd'), PASSWD);
    await writeFile(join(rootfs, 'etc/group'), GROUP);
    expect(await readImageUserDb(rootfs)).toEqual({ passwd: PASSWD, group: GROUP });
  });

  it('missing files are undefined, not the host’s', async () => {
    expect(await readImageUserDb(rootfs)).toEqual({ passwd: undefined, group: undefined });
  });

  it('an absolute symlink is resolved inside the rootfs', async () => {
    await mkdir(join(rootfs, 'usr/lib'), { recursive: true });
    await writeFile(join(rootfs, 'usr/lib/passwd'), PASSWD);
    await symlink('/usr/lib/passwd', join(rootfs, 'etc/passwd'));
    expect(await readRootfsFile(rootfs, '/etc/passwd')).toBe(PASSWD);
  });

  it('never follows a symlink out of the rootfs (relative ../.. or absolute host path)', async () => {
    await symlink('../../host-secret', join(rootfs, 'etc/passwd'));
    await symlink(outside, join(rootfs, 'etc/group'));
    expect(await resolveInRootfs(rootfs, '/etc/passwd')).toBeUndefined();
    expect(await readImageUserDb(rootfs)).toEqual({ passwd: undefined, group: undefined });
    // the same names inside the rootfs are what the links really mean
    await writeFile(join(rootfs, 'host-secret'), 'inside:x:1:1::/:/bin/sh\n');
    expect(await readRootfsFile(rootfs, '/etc/passwd')).toBe('inside:x:1:1::/:/bin/sh\n');
  });

  it('a symlinked /etc directory pointing out of the rootfs stays inside', async () => {
    await rm(join(rootfs, 'etc'), { recursive: true });
    await symlink(base, join(rootfs, 'etc'));
    expect(await resolveInRootfs(rootfs, '/etc/host-secret')).toBeUndefined();
  });

  it('refuses symlink loops, directories, FIFOs and oversized files', async () => {
    await symlink('passwd', join(rootfs, 'etc/passwd'));
    await expect(readRootfsFile(rootfs, '/etc/passwd')).rejects.toBeInstanceOf(BundleError);
    await mkdir(join(rootfs, 'etc/group'));
    await expect(readRootfsFile(rootfs, '/etc/group')).rejects.toThrow(/not a regular file/);
    execFileSync('mkfifo', [join(rootfs, 'etc/fifo')]);
    await expect(readRootfsFile(rootfs, '/etc/fifo')).rejects.toThrow(/not a regular file/);
    await writeFile(join(rootfs, 'etc/big'), 'x'.repeat(100));
    await expect(readRootfsFile(rootfs, '/etc/big', { maxBytes: 99 })).rejects.toThrow(/larger than 99 bytes/);
  });

  it('honours an aborted signal', async () => {
    await expect(readRootfsFile(rootfs, '/etc/passwd', { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});

describe('parsing', () => {
  it('parses passwd, skipping comments and malformed or out-of-range lines', () => {
    expect(parsePasswd(`${PASSWD}huge:x:4294967296:0::/:/bin/sh\nneg:x:-1:0::/:\n`)).toEqual([
      { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/sh' },
      { name: 'alice', uid: 1000, gid: 1000, home: '/home/alice', shell: '/bin/sh' },
      { name: 'bob', uid: 1001, gid: 1001, home: '/home/bob', shell: '/bin/sh' },
    ]);
  });
  it('parses group members', () => {
    expect(parseGroup(GROUP).find((g) => g.name === 'staff')).toEqual({ name: 'staff', gid: 50, members: ['alice', 'bob'] });
    expect(parseGroup('x:x:5\n')).toEqual([{ name: 'x', gid: 5, members: [] }]);
  });
});
