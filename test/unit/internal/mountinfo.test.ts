import { describe, expect, it } from 'vitest';
import { mountPointsBelow, parseMountinfo, readMountinfo } from '../../../src/internal/mountinfo.js';

const TEXT = [
  '22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw',
  '36 22 98:0 /mnt1 /srv/with\\040space rw,noatime master:1 - ext3 /dev/root rw',
  '37 36 0:40 / /srv/with\\040space/inner rw - tmpfs tmpfs rw',
  'garbage line',
  '',
].join('\n');

describe('mountinfo', () => {
  it('parses mount points (octal escapes decoded) and optional fields, skipping malformed lines', () => {
    expect(parseMountinfo(TEXT)).toEqual([
      { mountPoint: '/', optionalFields: ['shared:1'] },
      { mountPoint: '/srv/with space', optionalFields: ['master:1'] },
      { mountPoint: '/srv/with space/inner', optionalFields: [] },
    ]);
  });

  it('lists the mount points at or below a directory, not beside it', () => {
    const entries = parseMountinfo(TEXT);
    expect(mountPointsBelow(entries, '/srv/with space')).toEqual(['/srv/with space', '/srv/with space/inner']);
    expect(mountPointsBelow(entries, '/srv/with')).toEqual([]);
  });

  it('reads this process mount table, which has a root mount', async () => {
    expect((await readMountinfo()).some((e) => e.mountPoint === '/')).toBe(true);
  });
});
