/**
 * Storage endpoints: the storages of a node, their contents (template files on disk and CT
 * volumes), one volume, and volume deletion.
 *
 * @module
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { handlerError } from '../api-error.js';
import { MP_FORMAT, ROOTFS_FORMAT } from '../param-rules.js';
import type { PveSimulatorState } from '../state.js';
import { readPropertyString } from '../validate-params.js';
import { nodeOrDie, requirePrivilege, storageOrDie } from './checks.js';
import { parseSize } from './ct-config.js';
import type { EndpointCall, EndpointResult } from './types.js';


function templateFormat(name: string): string {
  if (/\.tar\.zst$/i.test(name)) return 'tzst';
  if (/\.tar\.gz$|\.tgz$/i.test(name)) return 'tgz';
  if (/\.tar\.xz$/i.test(name)) return 'txz';
  if (/\.tar\.bz2$/i.test(name)) return 'tbz2';
  if (/\.tar$/i.test(name)) return 'tar';
  if (/\.iso$/i.test(name)) return 'iso';
  return 'raw';
}

export async function storageEntries(state: PveSimulatorState, node: string): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  for (const storage of state.storages) {
    const used = (await listVolumes(state, node, storage.id)).reduce((sum, v) => sum + Number(v['size'] ?? 0), 0);
    out.push({
      storage: storage.id,
      type: storage.type,
      content: storage.content.join(','),
      shared: storage.shared ? 1 : 0,
      active: 1,
      enabled: 1,
      total: storage.size,
      used,
      avail: Math.max(0, storage.size - used),
      used_fraction: used / storage.size,
    });
  }
  return out;
}

const CONTENT_DIRS: readonly [string, string, string][] = [
  ['vztmpl', 'template/cache', 'vztmpl'],
  ['iso', 'template/iso', 'iso'],
  ['import', 'import', 'import'],
];

/** Every volume on a storage of a node: files on disk for file-based storages, and CT disks. */
export async function listVolumes(state: PveSimulatorState, node: string, storageId: string): Promise<Record<string, unknown>[]> {
  const storage = storageOrDie(state, storageId);
  const out: Record<string, unknown>[] = [];
  if (['dir', 'nfs', 'cifs'].includes(storage.type)) {
    for (const [content, sub, prefix] of CONTENT_DIRS) {
      if (!storage.content.includes(content)) continue;
      const dir = join(state.storagePath(node, storageId), sub);
      let names: string[] = [];
      try {
        names = (await readdir(dir)).sort();
      } catch {
        names = [];
      }
      for (const name of names) {
        const info = await stat(join(dir, name)).catch(() => undefined);
        if (!info?.isFile()) continue;
        out.push({
          volid: `${storageId}:${prefix}/${name}`,
          content,
          format: templateFormat(name),
          size: info.size,
          ctime: Math.floor(info.mtimeMs / 1000),
        });
      }
    }
  }
  for (const ct of state.cts.values()) {
    if (!storage.shared && ct.node !== node) continue;
    for (const [key, value] of Object.entries(ct.config)) {
      if (key !== 'rootfs' && !/^mp\d+$/.test(key)) continue;
      const parsed = readPropertyString(key === 'rootfs' ? ROOTFS_FORMAT : MP_FORMAT, value, state.version);
      const volid = String(parsed?.['volume'] ?? '');
      if (!volid.startsWith(`${storageId}:`) || !ct.volumes.includes(volid)) continue;
      out.push({
        volid,
        content: 'rootdir',
        format: storage.type === 'zfspool' ? 'subvol' : 'raw',
        size: parseSize(String(parsed?.['size'] ?? '0')),
        vmid: ct.vmid,
        ctime: Math.floor(state.clock.now() / 1000),
      });
    }
  }
  return out;
}

export async function getStorages({ state, params }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  nodeOrDie(state, node);
  const contents = params['content'] === undefined ? undefined : String(params['content']).split(/[\0,;\s]+/).filter((c) => c !== '');
  let list = await storageEntries(state, node);
  if (params['storage'] !== undefined) list = list.filter((s) => s['storage'] === params['storage']);
  if (contents) list = list.filter((s) => String(s['content']).split(',').some((c) => contents.includes(c)));
  return { data: list };
}

function volidOf(storageId: string, volume: string): string {
  return volume.includes(':') ? volume : `${storageId}:${volume}`;
}

export async function getContent({ state, params }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  nodeOrDie(state, node);
  let list = await listVolumes(state, node, String(params['storage']));
  if (params['content'] !== undefined) list = list.filter((v) => v['content'] === params['content']);
  if (params['vmid'] !== undefined) list = list.filter((v) => v['vmid'] === params['vmid']);
  return { data: list };
}

export async function getVolume({ state, params }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  const storageId = String(params['storage'] ?? '');
  const volid = volidOf(storageId, String(params['volume']));
  const sid = volid.split(':')[0] ?? '';
  const entry = (await listVolumes(state, node, sid)).find((v) => v['volid'] === volid);
  if (!entry) throw handlerError(`volume '${volid}' does not exist`);
  const path = state.volumePath(node, volid) ?? `/dev/pve/${volid.split(':')[1] ?? ''}`;
  return { data: { path, size: entry['size'], used: entry['size'], format: entry['format'] } };
}

export async function deleteVolume({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  const storageId = String(params['storage'] ?? '');
  const volid = volidOf(storageId, String(params['volume']));
  const sid = volid.split(':')[0] ?? '';
  requirePrivilege(state, auth, `/storage/${sid}`, 'Datastore.Allocate');
  const entry = (await listVolumes(state, node, sid)).find((v) => v['volid'] === volid);
  if (!entry) throw handlerError(`volume '${volid}' does not exist`);
  if (entry['vmid'] !== undefined) throw handlerError(`unable to delete '${volid}' - volume is still in use (guest ${String(entry['vmid'])})`);
  const path = state.volumePath(node, volid);
  const task = state.startTask(node, 'imgdel', '', auth.authId, async (ctx) => {
    await ctx.wait();
    if (path) await rm(path, { force: true });
    ctx.log(`Removed volume '${volid}'`);
  });
  const delay = params['delay'] as number | undefined;
  if (delay !== undefined) {
    const finished = await Promise.race([task.done.then(() => true), state.sleep(delay * 1000).then(() => false)]);
    if (finished && task.exitstatus === 'OK') return { data: null, upid: task.upid };
    if (finished) throw handlerError(task.exitstatus ?? 'unexpected status');
  }
  return { data: task.upid, upid: task.upid };
}

