/**
 * Files and symlinks get their owner and mode at creation when that is certain (the chown and
 * chmod are then skipped): these cases must still end with exactly the header's owner and mode —
 * a setgid directory of another group (new entries would inherit its group), modes the umask
 * would narrow, setuid/setgid files (a chown after the chmod would clear those bits), owners
 * other than the creator's, and a lower layer's setgid directory a later layer writes into.
 */
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { unpackImage } from '../../../../src/oci/layers/unpack-image.js';
import { packTar, writeImageLayout, type FixtureEntry } from '../../../helpers/oci-fixtures.js';
import { missing } from '../../../helpers/requirements.js';

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-owner-mode-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(missing({ root: true }))('owner and mode at creation (as root)', () => {
  it('ends with the header owner and mode in every case', async () => {
    const layers: FixtureEntry[][] = [
      [
        { name: 'plain/', type: 'directory', mode: 0o755 },
        { name: 'plain/a', content: 'a', mode: 0o644 },
        { name: 'plain/wide', content: 'w', mode: 0o666 },
        { name: 'plain/none', content: '', mode: 0o400 },
        { name: 'plain/suid', content: 'x', mode: 0o4755 },
        { name: 'plain/sgid', content: 'x', mode: 0o2755, gid: 0 },
        { name: 'plain/sticky', content: 'x', mode: 0o1644 },
        { name: 'plain/other', content: 'o', mode: 0o640, uid: 0, gid: 42 },
        { name: 'plain/user', content: 'u', mode: 0o600, uid: 1000, gid: 0 },
        { name: 'plain/link', type: 'symlink', linkname: 'a' },
        { name: 'plain/userlink', type: 'symlink', linkname: 'a', uid: 7, gid: 8 },
        // a setgid directory of group 50: new entries would inherit 50, the headers say 0
        { name: 'mail/', type: 'directory', mode: 0o2775, gid: 50 },
        { name: 'mail/box', content: 'm', mode: 0o660, gid: 0 },
        { name: 'mail/link', type: 'symlink', linkname: 'box', gid: 0 },
        { name: 'mail/sub/', type: 'directory', mode: 0o755, gid: 0 },
        { name: 'mail/sub/f', content: 'f', mode: 0o644, gid: 0 },
      ],
      [
        // a later layer writes into the lower layer's setgid directory
        { name: 'mail/late', content: 'l', mode: 0o644, gid: 0 },
        { name: 'mail/late50', content: 'l', mode: 0o644, gid: 50 },
      ],
    ];
    const layout = join(work, 'image');
    writeImageLayout(layout, await Promise.all(layers.map(async (entries) => ({ tar: await packTar(entries) }))));
    const image = await (await openImageLayout(layout)).resolve('latest');
    const { rootfs } = await unpackImage(image, join(work, 'out'));
    const check = (rel: string, mode: number, uid: number, gid: number): void => {
      const st = lstatSync(join(rootfs, rel));
      expect({ rel, mode: st.isSymbolicLink() ? 0 : st.mode & 0o7777, uid: st.uid, gid: st.gid }).toEqual({ rel, mode, uid, gid });
    };
    check('plain/a', 0o644, 0, 0);
    check('plain/wide', 0o666, 0, 0);
    check('plain/none', 0o400, 0, 0);
    check('plain/suid', 0o4755, 0, 0);
    check('plain/sgid', 0o2755, 0, 0);
    check('plain/sticky', 0o1644, 0, 0);
    check('plain/other', 0o640, 0, 42);
    check('plain/user', 0o600, 1000, 0);
    check('plain/link', 0, 0, 0);
    check('plain/userlink', 0, 7, 8);
    check('mail', 0o2775, 0, 50);
    check('mail/box', 0o660, 0, 0);
    check('mail/link', 0, 0, 0);
    check('mail/sub', 0o755, 0, 0);
    check('mail/sub/f', 0o644, 0, 0);
    check('mail/late', 0o644, 0, 0);
    check('mail/late50', 0o644, 0, 50);
  });
});
