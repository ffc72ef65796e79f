/**
 * Shifts the owners of a copied rootfs into a user namespace's host id range, so the container's
 * root (e.g. host uid 100000) owns what the image's root owned.
 *
 * @module
 */
import { chmod, chown, lchown, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from '../../errors.js';
import type { OciIdMapping } from '../spec/runtime-spec.js';

/** Maps a container id to its host id, or `undefined` when no mapping covers it. */
export function mapToHost(id: number, mappings: readonly OciIdMapping[]): number | undefined {
  for (const m of mappings) {
    if (id >= m.containerID && id < m.containerID + m.size) return m.hostID + (id - m.containerID);
  }
  return undefined;
}

/**
 * Walks `rootfs` (without following symlinks) and changes each entry's uid/gid from container ids
 * to host ids. Ids no mapping covers are left alone (they show up as the overflow id inside).
 * Each inode is shifted once (hard links), and setuid/setgid bits — which `chown` clears — are
 * put back. Returns the number of entries changed.
 */
export async function shiftOwnership(
  rootfs: string,
  uidMappings: readonly OciIdMapping[],
  gidMappings: readonly OciIdMapping[],
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const seen = new Set<string>();
  let changed = 0;
  const visit = async (path: string): Promise<void> => {
    throwIfAborted(options.signal, 'shifting the rootfs ownership');
    const st = await lstat(path, { bigint: true });
    const key = `${st.dev}:${st.ino}`;
    if (!seen.has(key)) {
      seen.add(key);
      const uid = mapToHost(Number(st.uid), uidMappings) ?? Number(st.uid);
      const gid = mapToHost(Number(st.gid), gidMappings) ?? Number(st.gid);
      if (uid !== Number(st.uid) || gid !== Number(st.gid)) {
        if (st.isSymbolicLink()) await lchown(path, uid, gid);
        else {
          await chown(path, uid, gid);
          const mode = Number(st.mode) & 0o7777;
          if (mode & 0o6000) await chmod(path, mode);
        }
        changed++;
      }
    }
    if (st.isDirectory()) {
      for (const name of await readdir(path)) await visit(join(path, name));
    }
  };
  await visit(rootfs);
  return changed;
}
