import { chmod, chown, link, lstat, mkdir, mkdtemp, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mapToHost, shiftOwnership } from '../../../../src/oci/bundle/shift-ownership.js';
import { missing } from '../../../helpers/requirements.js';

const uidMap = [{ containerID: 0, hostID: 100000, size: 65536 }];
const gidMap = [{ containerID: 0, hostID: 200000, size: 1000 }];

describe('mapToHost', () => {
  it('maps ids inside a range and nothing else', () => {
    expect(mapToHost(0, uidMap)).toBe(100000);
    expect(mapToHost(65535, uidMap)).toBe(165535);
    expect(mapToHost(65536, uidMap)).toBeUndefined();
    expect(mapToHost(5, [{ containerID: 10, hostID: 1, size: 5 }, { containerID: 0, hostID: 500, size: 10 }])).toBe(505);
  });
});

describe.skipIf(missing({ root: true }))('shiftOwnership', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lxcri-shift-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('shifts owners once per inode, keeps setuid bits, does not follow symlinks, leaves unmapped ids', async () => {
    const outside = join(dir, 'outside');
    await writeFile(outside, 'host file');
    const root = join(dir, 'rootfs');
    await mkdir(join(root, 'home/alice'), { recursive: true });
    await chown(join(root, 'home/alice'), 1000, 1000);
    await writeFile(join(root, 'suid'), '#!/bin/sh\n');
    await chmod(join(root, 'suid'), 0o4755);
    await link(join(root, 'suid'), join(root, 'suid-hardlink'));
    await symlink(outside, join(root, 'escape'));
    await writeFile(join(root, 'unmapped'), '');
    await chown(join(root, 'unmapped'), 70000, 5000);

    const changed = await shiftOwnership(root, uidMap, gidMap);
    expect(changed).toBe(5); // rootfs, home, home/alice, suid (+ its hard link once), escape
    expect(await stat(root)).toMatchObject({ uid: 100000, gid: 200000 });
    expect(await stat(join(root, 'home/alice'))).toMatchObject({ uid: 101000, gid: 1000 }); // gid 1000 is outside the gid range
    const suid = await stat(join(root, 'suid'));
    expect([suid.uid, suid.gid, suid.mode & 0o7777]).toEqual([100000, 200000, 0o4755]);
    expect((await lstat(join(root, 'escape'))).uid).toBe(100000);
    expect(await stat(outside)).toMatchObject({ uid: 0, gid: 0 });
    expect(await stat(join(root, 'unmapped'))).toMatchObject({ uid: 70000, gid: 5000 });
  });

  it('honours an aborted signal', async () => {
    await expect(shiftOwnership(dir, uidMap, gidMap, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});
