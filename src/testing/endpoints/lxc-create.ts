/**
 * `POST /nodes/{node}/lxc`: PVE's `pct create` as named steps. The synchronous part (permissions,
 * a free VMID, parameter checks, the template volume, the root-only options, the mount plan, the
 * config lock) answers with PVE's errors; the `vzcreate` worker then allocates the volumes, reads
 * the template, builds the config and, on failure, removes what it made.
 *
 * @module
 */
import { stat } from 'node:fs/promises';
import { handlerError, paramError, permissionError } from '../api-error.js';
import { MP_FORMAT, ROOTFS_FORMAT } from '../param-rules.js';
import { TaskExitError, type PveSimulatorState, type SimulatedCt, type TaskContext } from '../state.js';
import { TemplateReadError, readTemplate, type TemplateContents } from '../template.js';
import { readPropertyString, type ParamValues } from '../validate-params.js';
import { lockPath, nodeOrDie, requirePrivilege } from './checks.js';
import { checkRootOnly, formatSize, withNetDefaults } from './ct-config.js';
import type { EndpointAuth, EndpointCall, EndpointResult } from './types.js';

/** Parameters of create that are no config options. */
const CREATE_ONLY = new Set([
  'node', 'vmid', 'ostemplate', 'password', 'ssh-public-keys', 'storage', 'start', 'force', 'restore', 'unique', 'pool', 'bwlimit',
  'ignore-unpack-errors', 'ha-managed',
]);

const SSH_KEY_RE = /^(?:(?:[\w-]+=\S*|[\w-]+="[^"]*")(?:,\S+)?\s+)?(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s+[A-Za-z0-9+/]+={0,3}(?:\s.*)?$/;

/** A volume the create allocates (`storage:size` in `rootfs` or `mpN`). */
interface PlannedVolume {
  key: string;
  volid: string;
  storage: string;
  sizeBytes: number;
  rest: string;
}

/** What the synchronous checks settled: everything the worker needs. */
interface CreatePlan {
  node: string;
  vmid: number;
  unprivileged: boolean;
  ostemplate: string;
  /** The config options given (every parameter but the create-only ones). */
  changes: Record<string, string | number>;
  /** The volumes to allocate. */
  volumes: PlannedVolume[];
  /** `rootfs` and `mpN` as the config will hold them. */
  mounts: Record<string, string>;
  start: boolean;
}

/** Creates a CT: the checks PVE runs before it answers, then the `vzcreate` worker. */
export async function createCt(call: EndpointCall): Promise<EndpointResult> {
  const { state, params, auth } = call;
  const { node, vmid, unprivileged } = checkCreatePermissions(state, auth, params);
  checkVmidFree(state, vmid);
  checkCreateOptions(params);
  const ostemplate = checkTemplateVolume(state, String(params['ostemplate']));
  const changes = configChanges(params);
  checkRootOnly(state, auth, vmid, changes, {}, unprivileged);
  const { volumes, mounts } = planMounts(state, params, vmid);
  for (const sid of new Set(volumes.map((p) => p.storage))) requirePrivilege(state, auth, `/storage/${sid}`, 'Datastore.AllocateSpace');
  const plan: CreatePlan = { node, vmid, unprivileged, ostemplate, changes, volumes, mounts, start: params['start'] === 1 };

  const release = await lockNewConfig(state, vmid);
  const ct: SimulatedCt = { vmid, node, config: { lock: 'create' }, status: 'stopped', volumes: [] };
  state.cts.set(vmid, ct);
  // The worker holds the config lock for the whole create.
  const task = state.startTask(node, 'vzcreate', String(vmid), auth.authId, (ctx) => runCreateTask(state, ctx, ct, plan, release));
  return { data: task.upid, upid: task.upid };
}

// ---------------------------------------------------------------------------------------------
// before the answer

/** The node exists and the caller may allocate the VMID (privileged CTs and HA need more). */
function checkCreatePermissions(state: PveSimulatorState, auth: EndpointAuth, params: ParamValues): { node: string; vmid: number; unprivileged: boolean } {
  const node = String(params['node']);
  const vmid = Number(params['vmid']);
  nodeOrDie(state, node);
  requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Allocate');
  const unprivileged = params['unprivileged'] === undefined ? true : params['unprivileged'] === 1;
  if (!unprivileged) requirePrivilege(state, auth, '/', 'Sys.Modify');
  if (params['ha-managed'] === 1) requirePrivilege(state, auth, '/', 'Sys.Console');
  return { node, vmid, unprivileged };
}

function checkVmidFree(state: PveSimulatorState, vmid: number): void {
  const existing = state.cts.get(vmid);
  if (existing) throw handlerError(`CT ${vmid} already exists on node '${existing.node}'`);
}

/** SSH public keys must parse; the simulator has no pools. */
function checkCreateOptions(params: ParamValues): void {
  const keys = params['ssh-public-keys'];
  if (keys !== undefined) {
    for (const line of String(keys).split('\n')) {
      if (line.trim() === '') continue;
      if (!SSH_KEY_RE.test(line.trim())) throw handlerError('SSH public key validation error');
    }
  }
  if (params['pool'] !== undefined) throw handlerError(`pool '${String(params['pool'])}' does not exist`);
}

/** `ostemplate` must be a `vztmpl` volume on a storage that holds templates. */
function checkTemplateVolume(state: PveSimulatorState, ostemplate: string): string {
  const templateMatch = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i.exec(ostemplate);
  if (!templateMatch) throw handlerError(`unable to parse volume ID '${ostemplate}'`);
  const templateStorage = state.storages.find((s) => s.id === templateMatch[1]);
  if (!templateStorage) throw handlerError(`storage '${templateMatch[1] ?? ''}' does not exist`);
  if (!templateStorage.content.includes('vztmpl') || !/^vztmpl\//.test(templateMatch[2] ?? '')) {
    throw permissionError(`volume '${ostemplate}' is not a container template`);
  }
  return ostemplate;
}

function configChanges(params: ParamValues): Record<string, string | number> {
  const changes: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(params)) if (!CREATE_ONLY.has(key)) changes[key] = value;
  return changes;
}

function newVolumeId(state: PveSimulatorState, storageId: string, vmid: number, index: number): string {
  const storage = state.storages.find((s) => s.id === storageId);
  if (storage?.type === 'zfspool') return `${storageId}:subvol-${vmid}-disk-${index}`;
  if (storage && ['dir', 'nfs', 'cifs'].includes(storage.type)) return `${storageId}:${vmid}/vm-${vmid}-disk-${index}.raw`;
  return `${storageId}:vm-${vmid}-disk-${index}`;
}

/**
 * `rootfs` (default `<storage>:4`) and the `mpN` mount points: a `storage:size` volume becomes a
 * new volume id with its size; anything else (an existing volume, a bind mount) is kept as given.
 */
function planMounts(state: PveSimulatorState, params: ParamValues, vmid: number): { volumes: PlannedVolume[]; mounts: Record<string, string> } {
  const defaultStorage = String(params['storage'] ?? 'local');
  const mountKeys = Object.keys(params).filter((k) => /^mp\d+$/.test(k));
  if (mountKeys.length > 0 && params['rootfs'] === undefined) throw handlerError("mount points configured, but 'rootfs' not set - aborting");
  const planned: PlannedVolume[] = [];
  const mounts: [string, string][] = [['rootfs', String(params['rootfs'] ?? `${defaultStorage}:4`)], ...mountKeys.map((k): [string, string] => [k, String(params[k])])];
  let diskIndex = 0;
  const storageErrors: Record<string, string> = {};
  const finalMounts: Record<string, string> = {};
  for (const [key, value] of mounts) {
    const withStorage = /^\d+(\.\d+)?$/.test(value) ? `${defaultStorage}:${value}` : /^\d+(\.\d+)?,/.test(value) ? `${defaultStorage}:${value}` : value;
    const parsed = readPropertyString(key === 'rootfs' ? ROOTFS_FORMAT : MP_FORMAT, withStorage, state.version) ?? {};
    const volume = String(parsed['volume'] ?? '');
    const rest = withStorage.split(',').slice(1).filter((p) => !p.startsWith('volume=') && !p.startsWith('size=')).join(',');
    const alloc = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(?:\.\d+)?)$/i.exec(volume);
    if (alloc) {
      const sid = alloc[1] ?? '';
      const storage = state.storages.find((s) => s.id === sid);
      if (!storage) throw handlerError(`storage '${sid}' does not exist`);
      if (!storage.content.includes('rootdir')) {
        storageErrors['storage'] = `storage '${sid}' does not support container directories`;
        continue;
      }
      const sizeBytes = Math.floor(Number(alloc[2]) * 1024 ** 3);
      const volid = newVolumeId(state, sid, vmid, diskIndex++);
      planned.push({ key, volid, storage: sid, sizeBytes, rest });
      finalMounts[key] = [volid, ...(rest ? [rest] : []), `size=${formatSize(sizeBytes)}`].join(',');
    } else {
      finalMounts[key] = withStorage;
    }
  }
  if (Object.keys(storageErrors).length > 0) throw paramError(storageErrors);
  return { volumes: planned, mounts: finalMounts };
}

/** `create_and_lock_config`: flock (5 s), check again that the VMID is free; the caller writes `lock: create`. */
async function lockNewConfig(state: PveSimulatorState, vmid: number): Promise<() => void> {
  const release = await state.acquireConfigLock(vmid, state.options.createLockTimeoutMs);
  if (!release) throw handlerError(`unable to create CT ${vmid} - can't lock file '${lockPath(vmid)}' - got timeout`);
  try {
    const existing = state.cts.get(vmid);
    if (existing) throw handlerError(`unable to create CT ${vmid} - CT ${vmid} already exists on node '${existing.node}'`);
  } catch (error) {
    release();
    throw error;
  }
  return release;
}

// ---------------------------------------------------------------------------------------------
// the vzcreate worker

/** The worker: on failure the CT and its volumes go, and the error reads `unable to create CT …`. */
async function runCreateTask(state: PveSimulatorState, ctx: TaskContext, ct: SimulatedCt, plan: CreatePlan, release: () => void): Promise<void> {
  const { vmid } = plan;
  try {
    allocateVolumes(ctx, ct, plan.volumes);
    const templatePath = await findTemplateFile(state, plan);
    const config = initialConfig(plan);
    // the template is read as pct create unpacks it: a broken one fails the task as tar / the OCI reader would
    const contents = await unpackTemplate(state, ctx, templatePath, plan);
    const hostManaged = applyTemplateContents(ctx, config, contents, templatePath);
    detectArch(ctx, config, contents);
    detectOstype(ctx, config, contents, vmid);
    for (const key of Object.keys(config).filter((k) => /^net\d+$/.test(k))) {
      config[key] = withNetDefaults(state, config[key] ?? '', hostManaged ? { 'host-managed': '1' } : {});
    }
    await ctx.wait();
    ct.config = config;
    if (plan.start) {
      ctx.log(`starting CT ${vmid}`);
      ct.status = 'running';
      ct.startedAt = state.clock.now();
    }
  } catch (error) {
    state.cts.delete(vmid);
    ctx.log(`  Logical volume(s) removed: ${ct.volumes.join(' ') || 'none'}`);
    if (error instanceof TaskExitError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(message.startsWith('unable to create CT') ? message : `unable to create CT ${vmid} - ${message}`);
  } finally {
    release();
  }
}

function allocateVolumes(ctx: TaskContext, ct: SimulatedCt, volumes: readonly PlannedVolume[]): void {
  for (const volume of volumes) {
    ctx.log(`  Logical volume "${volume.volid.split(':')[1] ?? ''}" created.`);
    ct.volumes.push(volume.volid);
  }
}

async function findTemplateFile(state: PveSimulatorState, { node, vmid, ostemplate }: CreatePlan): Promise<string> {
  const templatePath = state.volumePath(node, ostemplate);
  const found = templatePath ? await stat(templatePath).then((i) => i.isFile(), () => false) : false;
  if (!templatePath || !found) throw new Error(`unable to create CT ${vmid} - can't find file '${ostemplate}'`);
  return templatePath;
}

/** The given options and mount points, with PVE's defaults for hostname, memory and swap. */
function initialConfig({ changes, mounts, vmid, unprivileged }: CreatePlan): Record<string, string> {
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(changes)) config[key] = String(value);
  Object.assign(config, mounts);
  config['hostname'] ??= `CT${vmid}`;
  config['memory'] ??= '512';
  config['swap'] ??= '512';
  config['unprivileged'] = unprivileged ? '1' : '0';
  if (!unprivileged) delete config['unprivileged'];
  return config;
}

/** Reads the template; a broken one logs what tar or the OCI reader would, and fails the task. */
async function unpackTemplate(state: PveSimulatorState, ctx: TaskContext, templatePath: string, { vmid, unprivileged }: CreatePlan): Promise<TemplateContents> {
  try {
    return await readTemplateCached(state, templatePath, { version: state.version, vmid, unprivileged });
  } catch (error) {
    if (!(error instanceof TemplateReadError)) throw error;
    if (error.stage === 'tar') ctx.log(`extracting archive '${templatePath}'`);
    if (error.stage === 'oci') ctx.log('Detected OCI archive');
    for (const line of error.log) ctx.log(line);
    throw new Error(error.message);
  }
}

/**
 * Logs the unpacking; an OCI image's entrypoint makes an application container (`cmode: console`,
 * host-managed network) and its env goes into the config. Returns whether the CT is host-managed.
 */
function applyTemplateContents(ctx: TaskContext, config: Record<string, string>, contents: TemplateContents, templatePath: string): boolean {
  const oci = contents.oci;
  let hostManaged = false;
  if (contents.format === 'oci' && oci) {
    ctx.log('Detected OCI archive');
    ctx.log(`unpacking OCI image (${oci.layers} layer${oci.layers === 1 ? '' : 's'})`);
    if (oci.entrypoint !== undefined) {
      config['entrypoint'] = oci.entrypoint;
      config['cmode'] = 'console';
      hostManaged = true;
    }
    if (oci.env.length > 0) config['env'] = oci.env.join('\0');
  } else {
    ctx.log(`extracting archive '${templatePath}'`);
    ctx.log(`Total bytes read: ${contents.bytesRead} (${(contents.bytesRead / 1024 ** 2).toFixed(1)}MiB)`);
  }
  return hostManaged;
}

/** `arch` from the template's `/bin/sh` unless given; amd64 when it cannot be read. */
function detectArch(ctx: TaskContext, config: Record<string, string>, contents: TemplateContents): void {
  if (config['arch'] !== undefined) return;
  if (contents.arch) {
    config['arch'] = contents.arch;
    ctx.log(`Detected container architecture: ${contents.arch}`);
  } else {
    config['arch'] = 'amd64';
    ctx.log(`Architecture detection failed: ${contents.archError ?? 'unknown'}`);
    ctx.log('Falling back to amd64.');
    ctx.log('Use `pct set VMID --arch ARCH` to change.');
  }
}

/** ostype from the contents (Setup.pm); `unmanaged` skips detection. */
function detectOstype(ctx: TaskContext, config: Record<string, string>, contents: TemplateContents, vmid: number): void {
  if (config['ostype'] === 'unmanaged') return;
  const detected = contents.ostype ?? (contents.format === 'oci' ? 'unmanaged' : undefined);
  if (detected === undefined) throw new Error(`unable to create CT ${vmid} - unable to detect OS distribution`);
  if (config['ostype'] !== undefined && config['ostype'] !== detected) ctx.warn(`got unexpected ostype (${detected} != ${config['ostype']})`);
  config['ostype'] ??= detected;
}

/** Templates already read, per state: path + size + mtime → contents (failures are not kept). */
const templateCache = new WeakMap<PveSimulatorState, Map<string, TemplateContents>>();

/** {@link readTemplate}, remembering what an unchanged file gave (many CTs from one template stay fast). */
async function readTemplateCached(state: PveSimulatorState, path: string, options: Parameters<typeof readTemplate>[1]): Promise<TemplateContents> {
  const info = await stat(path);
  const key = `${path}\0${info.size}\0${info.mtimeMs}`;
  let cache = templateCache.get(state);
  if (!cache) templateCache.set(state, (cache = new Map()));
  const known = cache.get(key);
  if (known) return known;
  const contents = await readTemplate(path, options);
  if (cache.size > 64) cache.clear();
  cache.set(key, contents);
  return contents;
}
