/**
 * The one step of bundle writing that changes the host outside the bundle: containerd's creation
 * of missing mount sources. Spec input collection (`collectSpecInputs`) only reads.
 *
 * @module
 */
import { lstat, mkdir } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { NormalizedCreateContainerRequest } from '../../cri/types.js';
import { throwIfAborted } from '../../errors.js';

/**
 * Creates each missing absolute mount source directory of `request` (mode 0755), as containerd
 * and CRI-O do, and pushes the top-most directory made for each onto `created` (so a caller can
 * remove them on failure). The CRI comment says a missing host path is an error: call this only
 * when asked for containerd's behaviour, before `collectSpecInputs`.
 */
export async function createMissingHostPaths(request: NormalizedCreateContainerRequest, created: string[], signal?: AbortSignal): Promise<void> {
  for (const m of request.config.mounts) {
    if (m.hostPath === '' || m.image || !isAbsolute(m.hostPath)) continue;
    throwIfAborted(signal, 'creating missing host paths');
    if (await lstat(m.hostPath).then(() => true, () => false)) continue;
    // containerd: MkdirAll(0755). A failure shows up as collectSpecInputs' missing host path.
    const first = await mkdir(m.hostPath, { recursive: true, mode: 0o755 }).catch(() => undefined);
    if (first !== undefined) created.push(first);
  }
}

