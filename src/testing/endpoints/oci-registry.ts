/**
 * The OCI registry endpoints of PVE 9.1: pull an image into a template storage, list a
 * repository's tags (from the images the simulator was given).
 *
 * @module
 */
import { copyFile, rename, stat } from 'node:fs/promises';
import { handlerError } from '../api-error.js';
import type { PveSimulatorState } from '../state.js';
import { nodeOrDie, requirePrivilege, storageOrDie } from './checks.js';
import type { EndpointCall, EndpointResult } from './types.js';
import { normalizeUploadFilename } from './upload.js';

/** `docker.io/library/alpine:3.20` for `alpine:3.20`, as skopeo resolves short names. */
function canonicalReference(reference: string): string {
  const slash = reference.indexOf('/');
  const first = slash < 0 ? '' : reference.slice(0, slash);
  if (slash < 0) return `docker.io/library/${reference}`;
  if (!first.includes('.') && !first.includes(':') && first !== 'localhost') return `docker.io/${reference}`;
  return reference;
}

function findOciImage(state: PveSimulatorState, reference: string): string | undefined {
  const wanted = canonicalReference(reference);
  for (const [ref, path] of state.ociImages) if (canonicalReference(ref) === wanted) return path;
  return undefined;
}

export async function postOciRegistryPull({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  nodeOrDie(state, node);
  const storage = storageOrDie(state, String(params['storage']));
  requirePrivilege(state, auth, `/storage/${storage.id}`, 'Datastore.AllocateTemplate');
  requirePrivilege(state, auth, `/nodes/${node}`, 'Sys.AccessNetwork');
  if (!['dir', 'nfs', 'cifs'].includes(storage.type)) throw handlerError(`can't upload to storage type '${storage.type}', not a file based storage!`);
  if (!storage.content.includes('vztmpl')) throw handlerError(`storage '${storage.id}' does not support 'vztmpl' content`);
  const reference = String(params['reference']);
  const name = `${normalizeUploadFilename(String(params['filename'] ?? reference))}.tar`;
  const volid = `${storage.id}:vztmpl/${name}`;
  const dest = state.volumePath(node, volid);
  if (!dest) throw handlerError(`storage '${storage.id}' has no template directory`);
  if (await stat(dest).then(() => true, () => false)) throw handlerError(`refusing to override existing file '${dest}'`);
  const task = state.startTask(node, 'ociregistrypull', '', auth.authId, async (ctx) => {
    const tmp = `${dest}.tmp.${task.pid}`;
    ctx.log(`skopeo copy docker://${reference} oci-archive:${tmp}`);
    const source = findOciImage(state, reference);
    await ctx.wait();
    if (!source) {
      const [repo, tag] = [reference.slice(0, reference.lastIndexOf(':')), reference.slice(reference.lastIndexOf(':') + 1)];
      ctx.log(`time="${new Date(state.clock.now()).toISOString()}" level=fatal msg="initializing source docker://${canonicalReference(reference)}: reading manifest ${tag} in ${canonicalReference(repo)}: manifest unknown"`);
      throw new Error(`command 'skopeo copy docker://${reference} oci-archive:${tmp}' failed: exit code 1`);
    }
    ctx.log('Getting image source signatures');
    ctx.log('Writing manifest to image destination');
    await copyFile(source, tmp);
    await rename(tmp, dest);
  });
  return { data: task.upid, upid: task.upid };
}

export async function getOciRepoTags({ state, params }: EndpointCall): Promise<EndpointResult> {
  nodeOrDie(state, String(params['node']));
  const repo = canonicalReference(String(params['reference']));
  const tags = [...state.ociImages.keys()]
    .map((ref) => canonicalReference(ref))
    .filter((ref) => ref.slice(0, ref.lastIndexOf(':')) === repo)
    .map((ref) => ref.slice(ref.lastIndexOf(':') + 1))
    .sort();
  if (tags.length === 0) throw handlerError(`failed to query tags of '${String(params['reference'])}' - repository not found`);
  return { data: [...new Set(tags)] };
}

