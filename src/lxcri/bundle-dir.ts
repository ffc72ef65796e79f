/**
 * Removing a bundle directory that an earlier process made (after a restart there is no
 * `OciBundle` object with its `remove()`): the overlay rootfs is unmounted, then the directory is
 * deleted — never through another mount left inside.
 *
 * @module
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BundleError } from '../errors.js';
import { mountsBelow } from '../oci/bundle/write-bundle.js';
import { runCommand } from '../internal/run-command.js';

/** Unmounts `<dir>/rootfs` when it is a mount and removes `dir`. Idempotent; refuses while another mount is inside. */
export async function removeBundleDir(dir: string): Promise<void> {
  const rootfs = join(dir, 'rootfs');
  const mounts = await mountsBelow(dir);
  if (mounts.includes(rootfs)) {
    const result = await runCommand('umount', [rootfs]);
    if (result.code !== 0) throw new BundleError(`cannot unmount ${rootfs}: ${result.stderr.trim()}`, { path: dir, reason: 'umount failed' });
  }
  const left = await mountsBelow(dir);
  if (left.length > 0) throw new BundleError(`cannot remove bundle ${dir}: still mounted: ${left.join(', ')}`, { path: dir, reason: 'mounted' });
  await rm(dir, { recursive: true, force: true });
}
