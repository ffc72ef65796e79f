/**
 * The endpoint implementations of the simulator: what each served PVE API call does to the state,
 * with PVE's synchronous errors (HTTP answers) and worker tasks (UPIDs) where PVE has them.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { PveApiError, handlerError, paramError, permissionError } from './api-error.js';
import { PVE_PRIVILEGES } from './param-formats.js';
import {
  ENDPOINT_RULES,
  FEATURES_FORMAT,
  MP_FORMAT,
  NET_FORMAT,
  ROOTFS_FORMAT,
  type EndpointRules,
  type ParamRule,
} from './param-rules.js';
import type { SimulatedCt, PveSimulatorState, SimulatedTask } from './state.js';
import { TaskExitError } from './state.js';
import { verifyTotp } from './totp.js';
import { TemplateReadError, readTemplate, type TemplateContents } from './template.js';
import { handleUpload, normalizeUploadFilename } from './upload.js';
import { findRule, readPropertyString, type ParamValues, type RawParamValue } from './validate-params.js';

/** Who calls an endpoint. */
export interface EndpointAuth {
  kind: 'none' | 'ticket' | 'token';
  /** `user@realm` ('' when unauthenticated). */
  userid: string;
  /** `user@realm!name` for tokens. */
  tokenId?: string;
  /** The id tasks and permission checks use: the token id for tokens, else the user id. */
  authId: string;
}

/** What an endpoint implementation receives. */
export interface EndpointCall {
  state: PveSimulatorState;
  /** Verified, typed parameters. */
  params: ParamValues;
  /** The raw parameters (for uploads: query and path only, before verification). */
  raw: Record<string, RawParamValue>;
  auth: EndpointAuth;
  /** The multipart request of the upload endpoint. */
  upload?: {
    headers: Readonly<Record<string, string | undefined>>;
    body: AsyncIterable<Uint8Array> | null;
    /** Adds the multipart fields (in the order received) to the request log entry. */
    logFields(fields: Record<string, unknown>): void;
  };
}

/** What an endpoint implementation returns. */
export interface EndpointResult {
  data: unknown;
  /** Extra top-level fields of the answer (e.g. `total`). */
  extra?: Record<string, unknown>;
  /** The UPID when a worker task was started. */
  upid?: string;
}

/** A served endpoint. */
export interface Endpoint {
  rules: EndpointRules;
  /** No authentication needed (`POST /access/ticket`). */
  noAuth?: boolean;
  /** No CSRF check for ticket sessions (uploads). */
  skipCsrf?: boolean;
  /** Multipart body parsed by the endpoint itself. */
  upload?: boolean;
  /** pveproxy forwards it to `{node}` (an offline node answers 595/596). */
  proxied?: boolean;
  handle(call: EndpointCall): Promise<EndpointResult>;
}

// ---------------------------------------------------------------------------------------------
// helpers

const lockPath = (vmid: number): string => `/run/lock/lxc/pve-config-${vmid}.lock`;

async function withConfigLock<T>(state: PveSimulatorState, vmid: number, timeoutMs: number, fn: (release: () => void) => Promise<T> | T): Promise<T> {
  const release = await state.acquireConfigLock(vmid, timeoutMs);
  if (!release) throw handlerError(`can't lock file '${lockPath(vmid)}' - got timeout`);
  try {
    return await fn(release);
  } finally {
    release();
  }
}

function privilegesOf(state: PveSimulatorState, auth: EndpointAuth): ReadonlySet<string> | 'all' {
  if (auth.authId === 'root@pam') return 'all';
  const user = state.users.get(auth.userid);
  if (!user) return new Set();
  const userPrivs: ReadonlySet<string> | 'all' = auth.userid === 'root@pam' || user.privileges === 'all' ? 'all' : new Set(user.privileges);
  if (auth.tokenId === undefined) return userPrivs;
  const token = user.tokens.find((t) => `${user.userid}!${t.name}` === auth.tokenId);
  if (!token || !token.privsep) return userPrivs;
  const tokenPrivs = new Set(token.privileges);
  return userPrivs === 'all' ? tokenPrivs : new Set([...tokenPrivs].filter((p) => userPrivs.has(p)));
}

function requirePrivilege(state: PveSimulatorState, auth: EndpointAuth, path: string, privilege: string): void {
  const privs = privilegesOf(state, auth);
  if (privs !== 'all' && !privs.has(privilege)) throw permissionError(`${path}, ${privilege}`);
}

function ctOrDie(state: PveSimulatorState, node: string, vmid: number): SimulatedCt {
  const ct = state.cts.get(vmid);
  if (!ct || ct.node !== node) throw handlerError(`Configuration file 'nodes/${node}/lxc/${vmid}.conf' does not exist`);
  return ct;
}

function checkLock(ct: SimulatedCt): void {
  const lock = ct.config['lock'];
  if (lock !== undefined) throw handlerError(`CT ${ct.vmid} is locked (${lock})`);
}

function nodeOrDie(state: PveSimulatorState, node: string): void {
  if (!state.nodes.some((n) => n.name === node)) {
    throw handlerError(`hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`);
  }
}

/** The config text PVE would write (sorted `key: value` lines); its SHA-1 is the digest. */
function configDigest(config: Readonly<Record<string, string>>): string {
  const text = Object.keys(config)
    .sort()
    .map((k) => `${k}: ${config[k]}\n`)
    .join('');
  return createHash('sha1').update(text).digest('hex');
}

const CONFIG_RULES = (ENDPOINT_RULES.find((r) => r.method === 'PUT' && r.path === '/nodes/{node}/lxc/{vmid}/config') as EndpointRules).params;

/** A config value typed as PVE returns it (integers, numbers and booleans as JSON numbers). */
function typedConfig(config: Readonly<Record<string, string>>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(config)) {
    const rule: ParamRule | undefined = findRule(CONFIG_RULES, key);
    out[key] = rule && rule.type !== 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  }
  return out;
}

const CREATE_ONLY = new Set([
  'node', 'vmid', 'ostemplate', 'password', 'ssh-public-keys', 'storage', 'start', 'force', 'restore', 'unique', 'pool', 'bwlimit',
  'ignore-unpack-errors', 'ha-managed',
]);

function isBindOrDevice(volume: string): 'bind' | 'device' | undefined {
  if (volume.startsWith('/dev/')) return 'device';
  if (volume.startsWith('/')) return 'bind';
  return undefined;
}

/** `check_ct_modify_config_perm`: the root@pam-only options. */
function checkRootOnly(
  state: PveSimulatorState,
  auth: EndpointAuth,
  vmid: number,
  changes: Readonly<Record<string, string | number>>,
  oldConfig: Readonly<Record<string, string>>,
  unprivileged: boolean,
): void {
  if (auth.authId === 'root@pam') return;
  for (const [key, value] of Object.entries(changes)) {
    if (key === 'features') {
      if (!unprivileged) throw permissionError('changing feature flags for privileged container is only allowed for root@pam');
      const next = readPropertyString(FEATURES_FORMAT, String(value), state.version) ?? {};
      const prev = readPropertyString(FEATURES_FORMAT, oldConfig['features'] ?? '', state.version) ?? {};
      const other = Object.keys(FEATURES_FORMAT).some((k) => k !== 'nesting' && String(next[k] ?? (k === 'mount' ? '' : 0)) !== String(prev[k] ?? (k === 'mount' ? '' : 0)));
      if (other) throw permissionError('changing feature flags (except nesting) is only allowed for root@pam');
      requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Allocate');
    } else if (/^dev\d+$/.test(key)) {
      throw permissionError('configuring device passthrough is only allowed for root@pam');
    } else if (key === 'hookscript') {
      throw permissionError('changing the hookscript is only allowed for root@pam');
    } else if (key === 'rootfs' || /^mp\d+$/.test(key)) {
      const parsed = readPropertyString(key === 'rootfs' ? ROOTFS_FORMAT : MP_FORMAT, String(value), state.version);
      const type = isBindOrDevice(String(parsed?.['volume'] ?? ''));
      if (type) throw permissionError(`mount point type ${type} is only allowed for root@pam`);
      requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Config.Disk');
    } else if (/^net\d+$/.test(key)) {
      requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Config.Network');
    } else if (key === 'cores' || key === 'cpulimit' || key === 'cpuunits') {
      requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Config.CPU');
    } else if (key === 'memory' || key === 'swap') {
      requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Config.Memory');
    } else {
      requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Config.Options');
    }
  }
}

const SIZE_UNITS: Record<string, number> = { K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };
function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT])?$/.exec(text);
  if (!match) return 0;
  return Math.floor(Number(match[1]) * (SIZE_UNITS[match[2] ?? ''] ?? 1));
}
function formatSize(bytes: number): string {
  for (const [unit, factor] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
}

function templateFormat(name: string): string {
  if (/\.tar\.zst$/i.test(name)) return 'tzst';
  if (/\.tar\.gz$|\.tgz$/i.test(name)) return 'tgz';
  if (/\.tar\.xz$/i.test(name)) return 'txz';
  if (/\.tar\.bz2$/i.test(name)) return 'tbz2';
  if (/\.tar$/i.test(name)) return 'tar';
  if (/\.iso$/i.test(name)) return 'iso';
  return 'raw';
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

/** A random locally administered unicast MAC (`PVE::Tools::random_ether_addr` without a prefix). */
function randomHwaddr(): string {
  const bytes = randomBytes(6);
  bytes[0] = ((bytes[0] ?? 0) & 0xfe) | 0x02;
  return [...bytes].map((b) => b.toString(16).toUpperCase().padStart(2, '0')).join(':');
}

/** `print_property_string`: required keys first, then the rest sorted. */
function printPropertyString(values: Readonly<Record<string, string | number>>, required: readonly string[]): string {
  const keys = [...required.filter((k) => values[k] !== undefined), ...Object.keys(values).filter((k) => !required.includes(k)).sort()];
  return keys.map((k) => `${k}=${String(values[k])}`).join(',');
}

/**
 * `parse_lxc_network` + `print_lxc_network`: every interface gets `type=veth` and a random
 * `hwaddr` when it has none (also `host-managed=1` for OCI application containers).
 */
function withNetDefaults(state: PveSimulatorState, value: string, extra: Record<string, string> = {}): string {
  const parsed = readPropertyString(NET_FORMAT, value, state.version);
  if (!parsed) return value;
  const net: Record<string, string | number> = { ...parsed };
  net['type'] ??= 'veth';
  net['hwaddr'] ??= randomHwaddr();
  for (const [k, v] of Object.entries(extra)) net[k] ??= v;
  return printPropertyString(net, ['name']);
}

const SSH_KEY_RE = /^(?:(?:[\w-]+=\S*|[\w-]+="[^"]*")(?:,\S+)?\s+)?(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)\s+[A-Za-z0-9+/]+={0,3}(?:\s.*)?$/;

// ---------------------------------------------------------------------------------------------
// access

async function postTicket({ state, params }: EndpointCall): Promise<EndpointResult> {
  const fail = (reason: string): PveApiError => {
    state.logger.debug({ reason }, 'simulated authentication failure');
    return new PveApiError(401, 'authentication failure\n');
  };
  let username = String(params['username']);
  if (params['realm'] !== undefined && !username.includes('@')) username = `${username}@${String(params['realm'])}`;
  const user = state.users.get(username);
  if (!user) throw fail(`no such user '${username}'`);
  const password = String(params['password']);
  const issue = (): EndpointResult => ({
    data: {
      username,
      ticket: state.createTicket(username),
      CSRFPreventionToken: state.createCsrfToken(username),
      clustername: state.options.clusterName,
      cap: capabilities(state, username),
    },
  });

  if (params['tfa-challenge'] !== undefined) {
    if (params['otp'] !== undefined) throw fail("TFA response should be in 'password', not 'otp' when 'tfa-challenge' is set");
    const data = state.verifyTicket(String(params['tfa-challenge']), username, 300_000);
    if (data === undefined || !data.startsWith('!tfa!')) throw fail('invalid tfa challenge');
    if (!verifySecondFactor(state, user.totpSecret, password)) throw fail('invalid tfa response');
    return issue();
  }
  // Renewal: a valid ticket of the same user as password (else it is tried as a password).
  if (password.startsWith('PVE:') && state.verifyTicket(password) === username) return issue();
  if (password !== user.password) throw fail('invalid password');
  if (user.totpSecret !== undefined) {
    if (params['otp'] !== undefined) {
      if (!verifySecondFactor(state, user.totpSecret, String(params['otp']))) throw fail('invalid tfa response');
      return issue();
    }
    const challenge = `!tfa!${JSON.stringify({ totp: true }).replace(/%/g, '%25').replace(/:/g, '%3A')}`;
    return {
      data: {
        username,
        ticket: state.createTicket(challenge, username),
        CSRFPreventionToken: state.createCsrfToken(username),
        NeedTFA: 1,
      },
    };
  }
  return issue();
}

function verifySecondFactor(state: PveSimulatorState, secret: string | undefined, response: string): boolean {
  if (secret === undefined) return false;
  const match = /^totp:(\d{6})$/.exec(response);
  if (!match) return false;
  return verifyTotp(secret, match[1] ?? '', state.clock.now());
}

function capabilities(state: PveSimulatorState, userid: string): Record<string, Record<string, number>> {
  const privs = privilegesOf(state, { kind: 'ticket', userid, authId: userid });
  const has = (p: string): number => (privs === 'all' || privs.has(p) ? 1 : 0);
  const group = (prefix: string[]): Record<string, number> => {
    const out: Record<string, number> = {};
    for (const p of PVE_PRIVILEGES) if (prefix.some((x) => p.startsWith(x)) && has(p)) out[p] = 1;
    return out;
  };
  return {
    vms: group(['VM.']),
    storage: group(['Datastore.']),
    nodes: group(['Sys.']),
    access: group(['User.', 'Group.', 'Permissions.', 'Realm.']),
    dc: group(['SDN.', 'Sys.Audit']),
    sdn: group(['SDN.']),
    mapping: group(['Mapping.']),
  };
}

// ---------------------------------------------------------------------------------------------
// version, nodes, cluster

async function getVersion({ state }: EndpointCall): Promise<EndpointResult> {
  const version = state.version === '8.4' ? '8.4.14' : state.authErrorStyle === 'unified' ? '9.1.5' : '9.1.3';
  return { data: { version, release: state.version, repoid: state.version === '8.4' ? 'b3c3a5b6' : 'c1d2e3f4a5b6' } };
}

function nodeEntry(state: PveSimulatorState, name: string): Record<string, unknown> {
  const offline = state.isNodeOffline(name);
  return {
    node: name,
    id: `node/${name}`,
    type: 'node',
    status: offline ? 'offline' : 'online',
    level: '',
    ...(offline
      ? {}
      : {
          cpu: 0.02,
          maxcpu: 8,
          mem: 2 * 1024 ** 3,
          maxmem: 32 * 1024 ** 3,
          disk: 10 * 1024 ** 3,
          maxdisk: 100 * 1024 ** 3,
          uptime: Math.floor(state.clock.now() / 1000) % 1_000_000,
          ...(state.fingerprint256 ? { ssl_fingerprint: state.fingerprint256 } : {}),
        }),
  };
}

async function getNodes({ state }: EndpointCall): Promise<EndpointResult> {
  return { data: state.nodes.map((n) => nodeEntry(state, n.name)) };
}

function ctResource(state: PveSimulatorState, ct: SimulatedCt): Record<string, unknown> {
  const rootfs = readPropertyString(ROOTFS_FORMAT, ct.config['rootfs'] ?? '', state.version);
  return {
    id: `lxc/${ct.vmid}`,
    type: 'lxc',
    vmid: ct.vmid,
    node: ct.node,
    name: ct.config['hostname'] ?? `CT${ct.vmid}`,
    status: ct.status,
    template: ct.config['template'] === '1' ? 1 : 0,
    maxmem: Number(ct.config['memory'] ?? 512) * 1024 ** 2,
    mem: ct.status === 'running' ? 64 * 1024 ** 2 : 0,
    maxdisk: parseSize(String(rootfs?.['size'] ?? '0')),
    disk: 0,
    maxcpu: Number(ct.config['cores'] ?? 1),
    cpu: 0,
    uptime: ct.status === 'running' && ct.startedAt !== undefined ? Math.floor((state.clock.now() - ct.startedAt) / 1000) : 0,
    netin: 0,
    netout: 0,
    diskread: 0,
    diskwrite: 0,
    ...(ct.config['lock'] !== undefined ? { lock: ct.config['lock'] } : {}),
    ...(ct.config['tags'] !== undefined ? { tags: ct.config['tags'] } : {}),
  };
}

async function storageEntries(state: PveSimulatorState, node: string): Promise<Record<string, unknown>[]> {
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

async function getClusterResources({ state, params }: EndpointCall): Promise<EndpointResult> {
  const type = params['type'] as string | undefined;
  const out: Record<string, unknown>[] = [];
  if (type === undefined || type === 'node') for (const n of state.nodes) out.push(nodeEntry(state, n.name));
  if (type === undefined || type === 'storage') {
    for (const n of state.nodes) {
      for (const s of await storageEntries(state, n.name)) {
        out.push({
          id: `storage/${n.name}/${String(s['storage'])}`,
          type: 'storage',
          node: n.name,
          storage: s['storage'],
          content: s['content'],
          plugintype: s['type'],
          shared: s['shared'],
          status: state.isNodeOffline(n.name) ? 'unknown' : 'available',
          disk: s['used'],
          maxdisk: s['total'],
        });
      }
    }
  }
  if (type === undefined || type === 'vm') for (const ct of [...state.cts.values()].sort((a, b) => a.vmid - b.vmid)) out.push(ctResource(state, ct));
  return { data: out };
}

async function getNextId({ state, params }: EndpointCall): Promise<EndpointResult> {
  const wanted = params['vmid'] as number | undefined;
  if (wanted !== undefined) {
    if (state.cts.has(wanted)) throw paramError({ vmid: `VM ${wanted} already exists` });
    return { data: String(wanted) };
  }
  const { lower, upper } = state.options.nextId;
  for (let id = lower; id < upper; id++) if (!state.cts.has(id)) return { data: String(id) };
  throw handlerError('unable to get any free VMID in range');
}

// ---------------------------------------------------------------------------------------------
// lxc

async function listCts({ state, params }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  nodeOrDie(state, node);
  const out = [...state.cts.values()]
    .filter((ct) => ct.node === node)
    .sort((a, b) => a.vmid - b.vmid)
    .map((ct) => {
      const r = ctResource(state, ct);
      return {
        vmid: ct.vmid,
        name: r['name'],
        status: ct.status,
        type: 'lxc',
        maxmem: r['maxmem'],
        mem: r['mem'],
        maxdisk: r['maxdisk'],
        disk: 0,
        cpus: r['maxcpu'],
        cpu: 0,
        uptime: r['uptime'],
        maxswap: Number(ct.config['swap'] ?? 512) * 1024 ** 2,
        swap: 0,
        netin: 0,
        netout: 0,
        ...(r['lock'] !== undefined ? { lock: r['lock'] } : {}),
        ...(r['tags'] !== undefined ? { tags: r['tags'] } : {}),
      };
    });
  return { data: out };
}

interface PlannedVolume {
  key: string;
  volid: string;
  storage: string;
  sizeBytes: number;
  rest: string;
}

function newVolumeId(state: PveSimulatorState, storageId: string, vmid: number, index: number): string {
  const storage = state.storages.find((s) => s.id === storageId);
  if (storage?.type === 'zfspool') return `${storageId}:subvol-${vmid}-disk-${index}`;
  if (storage && ['dir', 'nfs', 'cifs'].includes(storage.type)) return `${storageId}:${vmid}/vm-${vmid}-disk-${index}.raw`;
  return `${storageId}:vm-${vmid}-disk-${index}`;
}

async function createCt(call: EndpointCall): Promise<EndpointResult> {
  const { state, params, auth } = call;
  const node = String(params['node']);
  const vmid = Number(params['vmid']);
  nodeOrDie(state, node);
  requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Allocate');
  const unprivileged = params['unprivileged'] === undefined ? true : params['unprivileged'] === 1;
  if (!unprivileged) requirePrivilege(state, auth, '/', 'Sys.Modify');
  if (params['ha-managed'] === 1) requirePrivilege(state, auth, '/', 'Sys.Console');

  const checkUnused = (): void => {
    const existing = state.cts.get(vmid);
    if (existing) throw handlerError(`CT ${vmid} already exists on node '${existing.node}'`);
  };
  checkUnused();

  const keys = params['ssh-public-keys'];
  if (keys !== undefined) {
    for (const line of String(keys).split('\n')) {
      if (line.trim() === '') continue;
      if (!SSH_KEY_RE.test(line.trim())) throw handlerError('SSH public key validation error');
    }
  }
  if (params['pool'] !== undefined) throw handlerError(`pool '${String(params['pool'])}' does not exist`);

  const ostemplate = String(params['ostemplate']);
  const templateMatch = /^([a-z][a-z0-9\-_.]*[a-z0-9]):(.+)$/i.exec(ostemplate);
  if (!templateMatch) throw handlerError(`unable to parse volume ID '${ostemplate}'`);
  const templateStorage = state.storages.find((s) => s.id === templateMatch[1]);
  if (!templateStorage) throw handlerError(`storage '${templateMatch[1] ?? ''}' does not exist`);
  if (!templateStorage.content.includes('vztmpl') || !/^vztmpl\//.test(templateMatch[2] ?? '')) {
    throw permissionError(`volume '${ostemplate}' is not a container template`);
  }

  // Config options, root-only checks, volumes.
  const changes: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(params)) if (!CREATE_ONLY.has(key)) changes[key] = value;
  checkRootOnly(state, auth, vmid, changes, {}, unprivileged);

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
  for (const sid of new Set(planned.map((p) => p.storage))) requirePrivilege(state, auth, `/storage/${sid}`, 'Datastore.AllocateSpace');

  // create_and_lock_config: flock (5 s), check again, write a config holding only `lock: create`.
  const release = await state.acquireConfigLock(vmid, state.options.createLockTimeoutMs);
  if (!release) throw handlerError(`unable to create CT ${vmid} - can't lock file '${lockPath(vmid)}' - got timeout`);
  try {
    const existing = state.cts.get(vmid);
    if (existing) throw handlerError(`unable to create CT ${vmid} - CT ${vmid} already exists on node '${existing.node}'`);
  } catch (error) {
    release();
    throw error;
  }
  const ct: SimulatedCt = { vmid, node, config: { lock: 'create' }, status: 'stopped', volumes: [] };
  state.cts.set(vmid, ct);

  // The worker holds the config lock for the whole create.
  const task = state.startTask(node, 'vzcreate', String(vmid), auth.authId, async (ctx) => {
    try {
      for (const volume of planned) {
        ctx.log(`  Logical volume "${volume.volid.split(':')[1] ?? ''}" created.`);
        ct.volumes.push(volume.volid);
      }
      const templatePath = state.volumePath(node, ostemplate);
      const found = templatePath ? await stat(templatePath).then((i) => i.isFile(), () => false) : false;
      if (!templatePath || !found) throw new Error(`unable to create CT ${vmid} - can't find file '${ostemplate}'`);
      const config: Record<string, string> = {};
      for (const [key, value] of Object.entries(changes)) config[key] = String(value);
      Object.assign(config, finalMounts);
      config['hostname'] ??= `CT${vmid}`;
      config['memory'] ??= '512';
      config['swap'] ??= '512';
      config['unprivileged'] = unprivileged ? '1' : '0';
      if (!unprivileged) delete config['unprivileged'];
      // the template is read as pct create unpacks it: a broken one fails the task as tar / the OCI reader would
      let contents: TemplateContents;
      try {
        contents = await readTemplateCached(state, templatePath, { version: state.version, vmid, unprivileged });
      } catch (error) {
        if (!(error instanceof TemplateReadError)) throw error;
        if (error.stage === 'tar') ctx.log(`extracting archive '${templatePath}'`);
        if (error.stage === 'oci') ctx.log('Detected OCI archive');
        for (const line of error.log) ctx.log(line);
        throw new Error(error.message);
      }
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
      if (config['arch'] === undefined) {
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
      // ostype from the contents (Setup.pm); `unmanaged` skips detection
      if (config['ostype'] !== 'unmanaged') {
        const detected = contents.ostype ?? (contents.format === 'oci' ? 'unmanaged' : undefined);
        if (detected === undefined) throw new Error(`unable to create CT ${vmid} - unable to detect OS distribution`);
        if (config['ostype'] !== undefined && config['ostype'] !== detected) ctx.warn(`got unexpected ostype (${detected} != ${config['ostype']})`);
        config['ostype'] ??= detected;
      }
      for (const key of Object.keys(config).filter((k) => /^net\d+$/.test(k))) {
        config[key] = withNetDefaults(state, config[key] ?? '', hostManaged ? { 'host-managed': '1' } : {});
      }
      await ctx.wait();
      ct.config = config;
      if (params['start'] === 1) {
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
  });
  return { data: task.upid, upid: task.upid };
}

async function getConfig({ state, params }: EndpointCall): Promise<EndpointResult> {
  const ct = ctOrDie(state, String(params['node']), Number(params['vmid']));
  if (params['snapshot'] !== undefined) throw handlerError(`snapshot '${String(params['snapshot'])}' does not exist`);
  return { data: { ...typedConfig(ct.config), digest: configDigest(ct.config) } };
}

async function putConfig({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  const vmid = Number(params['vmid']);
  ctOrDie(state, node, vmid);
  const deletes = params['delete'] === undefined ? [] : String(params['delete']).split(/[\0,;\s]+/).filter((d) => d !== '');
  const changes: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(params)) if (!['node', 'vmid', 'delete', 'revert', 'digest'].includes(key)) changes[key] = value;
  const errors: Record<string, string> = {};
  for (const key of deletes) {
    if (changes[key] !== undefined) errors[key] = `you can't change and delete the same option`;
    else if (!findRule(CONFIG_RULES, key)) errors['delete'] = `unable to delete '${key}' - unknown option`;
  }
  if (Object.keys(errors).length > 0) throw paramError(errors);
  return withConfigLock(state, vmid, state.options.lockTimeoutMs, () => {
    const ct = ctOrDie(state, node, vmid);
    if (params['digest'] !== undefined && params['digest'] !== configDigest(ct.config)) {
      throw handlerError('detected modified configuration - file changed by other user? Try again.');
    }
    if (changes['lock'] === undefined && !deletes.includes('lock')) checkLock(ct);
    checkRootOnly(state, auth, vmid, changes, ct.config, ct.config['unprivileged'] === '1');
    for (const key of deletes) {
      if (key === 'rootfs') throw handlerError('unable to delete required option \'rootfs\'');
      delete ct.config[key];
    }
    for (const [key, value] of Object.entries(changes)) ct.config[key] = /^net\d+$/.test(key) ? withNetDefaults(state, String(value)) : String(value);
    return { data: null };
  });
}

async function getStatusCurrent({ state, params }: EndpointCall): Promise<EndpointResult> {
  const ct = ctOrDie(state, String(params['node']), Number(params['vmid']));
  const r = ctResource(state, ct);
  return {
    data: {
      vmid: ct.vmid,
      name: r['name'],
      status: ct.status,
      type: 'lxc',
      ha: { managed: 0 },
      cpus: r['maxcpu'],
      cpu: 0,
      maxmem: r['maxmem'],
      mem: r['mem'],
      maxswap: Number(ct.config['swap'] ?? 512) * 1024 ** 2,
      swap: 0,
      maxdisk: r['maxdisk'],
      disk: 0,
      netin: 0,
      netout: 0,
      diskread: 0,
      diskwrite: 0,
      uptime: r['uptime'],
      ...(ct.config['template'] === '1' ? { template: 1 } : {}),
      ...(r['lock'] !== undefined ? { lock: r['lock'] } : {}),
      ...(r['tags'] !== undefined ? { tags: r['tags'] } : {}),
    },
  };
}

function powerAction(type: 'vzstart' | 'vzstop' | 'vzshutdown' | 'vzreboot') {
  return async ({ state, params, auth }: EndpointCall): Promise<EndpointResult> => {
    const node = String(params['node']);
    const vmid = Number(params['vmid']);
    ctOrDie(state, node, vmid);
    requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.PowerMgmt');
    const skiplock = params['skiplock'] === 1;
    if (skiplock && auth.authId !== 'root@pam') throw paramError({ skiplock: 'Only root may use this option.' });
    const ct = ctOrDie(state, node, vmid);
    if (type === 'vzstart') {
      if (ct.status === 'running') throw handlerError(`CT ${vmid} already running`);
      if (ct.config['template'] === '1') throw handlerError("you can't start a CT if it's a template");
    } else if (ct.status !== 'running') {
      throw handlerError(`CT ${vmid} not running`);
    }
    const task = await withConfigLock(state, vmid, state.options.lockTimeoutMs, () => {
      const current = ctOrDie(state, node, vmid);
      if (!skiplock) checkLock(current);
      return state.startTask(node, type, String(vmid), auth.authId, async (ctx) => {
        if (type === 'vzshutdown' || type === 'vzreboot') ctx.log(`shutting down CT ${vmid} (timeout ${String(params['timeout'] ?? 60)} s)`);
        await ctx.wait();
        if (!state.cts.has(vmid)) throw new Error(`Configuration file 'nodes/${node}/lxc/${vmid}.conf' does not exist`);
        if (type === 'vzreboot') {
          ctx.log(`starting CT ${vmid}`);
          current.status = 'running';
          current.startedAt = state.clock.now();
        } else if (type === 'vzstart') {
          current.status = 'running';
          current.startedAt = state.clock.now();
        } else {
          current.status = 'stopped';
          delete current.startedAt;
        }
      });
    });
    return { data: task.upid, upid: task.upid };
  };
}

async function destroyCt({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  const vmid = Number(params['vmid']);
  ctOrDie(state, node, vmid);
  requirePrivilege(state, auth, `/vms/${vmid}`, 'VM.Allocate');
  const release = await state.acquireConfigLock(vmid, state.options.lockTimeoutMs);
  if (!release) throw handlerError(`can't lock file '${lockPath(vmid)}' - got timeout`);
  let task: SimulatedTask;
  try {
    const ct = ctOrDie(state, node, vmid);
    if (ct.config['protection'] === '1') throw handlerError(`can't remove CT ${vmid} - protection mode enabled`);
    if (ct.status === 'running' && params['force'] !== 1) throw handlerError(`unable to destroy CT ${vmid} - container is running`);
    checkLock(ct);
    task = state.startTask(node, 'vzdestroy', String(vmid), auth.authId, async (ctx) => {
      try {
        if (ct.status === 'running') {
          ctx.log(`stopping CT ${vmid}`);
          ct.status = 'stopped';
        }
        await ctx.wait();
        for (const volid of ct.volumes) ctx.log(`  Logical volume "${volid.split(':')[1] ?? ''}" successfully removed.`);
        if (params['purge'] === 1) ctx.log('purging CT from backup jobs, replication and HA');
        state.cts.delete(vmid);
      } finally {
        release();
      }
    });
  } catch (error) {
    release();
    throw error;
  }
  return { data: task.upid, upid: task.upid };
}

// ---------------------------------------------------------------------------------------------
// storage

function storageOrDie(state: PveSimulatorState, storageId: string): NonNullable<ReturnType<typeof findStorage>> {
  const storage = findStorage(state, storageId);
  if (!storage) throw handlerError(`storage '${storageId}' does not exist`);
  return storage;
}
function findStorage(state: PveSimulatorState, storageId: string): PveSimulatorState['storages'][number] | undefined {
  return state.storages.find((s) => s.id === storageId);
}

const CONTENT_DIRS: readonly [string, string, string][] = [
  ['vztmpl', 'template/cache', 'vztmpl'],
  ['iso', 'template/iso', 'iso'],
  ['import', 'import', 'import'],
];

/** Every volume on a storage of a node: files on disk for file-based storages, and CT disks. */
async function listVolumes(state: PveSimulatorState, node: string, storageId: string): Promise<Record<string, unknown>[]> {
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

async function getStorages({ state, params }: EndpointCall): Promise<EndpointResult> {
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

async function getContent({ state, params }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  nodeOrDie(state, node);
  let list = await listVolumes(state, node, String(params['storage']));
  if (params['content'] !== undefined) list = list.filter((v) => v['content'] === params['content']);
  if (params['vmid'] !== undefined) list = list.filter((v) => v['vmid'] === params['vmid']);
  return { data: list };
}

async function getVolume({ state, params }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  const storageId = String(params['storage'] ?? '');
  const volid = volidOf(storageId, String(params['volume']));
  const sid = volid.split(':')[0] ?? '';
  const entry = (await listVolumes(state, node, sid)).find((v) => v['volid'] === volid);
  if (!entry) throw handlerError(`volume '${volid}' does not exist`);
  const path = state.volumePath(node, volid) ?? `/dev/pve/${volid.split(':')[1] ?? ''}`;
  return { data: { path, size: entry['size'], used: entry['size'], format: entry['format'] } };
}

async function deleteVolume({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
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

// ---------------------------------------------------------------------------------------------
// tasks

const UPID_RE = /^UPID:([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$/;

function taskOrDie({ state, params, auth }: EndpointCall): SimulatedTask {
  const upid = String(params['upid']);
  if (!UPID_RE.test(upid)) throw paramError({ upid: 'unable to parse worker upid' });
  const task = state.tasks.get(upid);
  if (!task || task.node !== params['node']) throw paramError({ upid: 'no such task' });
  const owner = task.tokenid === undefined ? task.user : `${task.user}!${task.tokenid}`;
  if (owner !== auth.authId && task.user !== auth.authId) requirePrivilege(state, auth, `/nodes/${task.node}`, 'Sys.Audit');
  return task;
}

/** `WARNINGS: n` is no error; anything but `OK` else is. */
function taskStatusType(exitstatus: string | undefined): 'ok' | 'warning' | 'error' | 'unknown' {
  if (exitstatus === undefined) return 'unknown';
  if (exitstatus === 'OK') return 'ok';
  if (/^WARNINGS: \d+$/.test(exitstatus)) return 'warning';
  return 'error';
}

async function listTasks({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  const source = String(params['source'] ?? 'archive');
  const privs = privilegesOf(state, auth);
  const auditor = privs === 'all' || privs.has('Sys.Audit');
  const statuses = params['statusfilter'] === undefined ? undefined : String(params['statusfilter']).toLowerCase().split(/[\0,;\s]+/).filter((x) => x !== '');
  const userfilter = params['userfilter'] === undefined ? undefined : String(params['userfilter']).toLowerCase();
  const list = [...state.tasks.values()]
    .filter((t) => t.node === node)
    .filter((t) => (source === 'all' ? true : source === 'active' ? t.status === 'running' : t.status === 'stopped'))
    .filter((t) => auditor || t.user === auth.userid)
    .filter((t) => params['vmid'] === undefined || t.id === String(params['vmid']))
    .filter((t) => params['typefilter'] === undefined || t.type === params['typefilter'])
    .filter((t) => userfilter === undefined || `${t.user}${t.tokenid === undefined ? '' : `!${t.tokenid}`}`.toLowerCase().includes(userfilter))
    .filter((t) => params['since'] === undefined || t.starttime >= Number(params['since']))
    .filter((t) => params['until'] === undefined || t.starttime <= Number(params['until']))
    .filter((t) => params['errors'] !== 1 || (t.status === 'stopped' && taskStatusType(t.exitstatus) === 'error'))
    .filter((t) => statuses === undefined || (t.status === 'stopped' && statuses.includes(taskStatusType(t.exitstatus))))
    .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid);
  const start = Number(params['start'] ?? 0);
  const limit = Number(params['limit'] ?? 50);
  const page = list.slice(start, start + limit).map((t) => ({
    upid: t.upid,
    node: t.node,
    pid: t.pid,
    pstart: t.pstart,
    starttime: t.starttime,
    type: t.type,
    id: t.id,
    user: t.user,
    ...(t.tokenid !== undefined ? { tokenid: t.tokenid } : {}),
    ...(t.status === 'stopped' ? { status: t.exitstatus, endtime: t.endtime } : {}),
  }));
  return { data: page, extra: { total: list.length } };
}

async function getTaskStatus(call: EndpointCall): Promise<EndpointResult> {
  const task = taskOrDie(call);
  return {
    data: {
      upid: task.upid,
      node: task.node,
      pid: task.pid,
      pstart: task.pstart,
      starttime: task.starttime,
      type: task.type,
      id: task.id,
      user: task.user,
      ...(task.tokenid !== undefined ? { tokenid: task.tokenid } : {}),
      status: task.status,
      ...(task.status === 'stopped' ? { exitstatus: task.exitstatus } : {}),
    },
  };
}

async function getTaskLog(call: EndpointCall): Promise<EndpointResult> {
  const task = taskOrDie(call);
  const start = Number(call.params['start'] ?? 0);
  const limit = Number(call.params['limit'] ?? 50);
  const lines = task.log.length > 0 ? task.log : ['no content'];
  if (call.params['download'] === 1) return { data: `${lines.join('\n')}\n` };
  const page = lines.slice(start, start + limit).map((t, i) => ({ n: start + i + 1, t }));
  return { data: page, extra: { total: lines.length } };
}


// ---------------------------------------------------------------------------------------------
// node and cluster status, indexes, interfaces, storage config, pools, OCI registry (9.1)

async function getNodeStatus({ state, params }: EndpointCall): Promise<EndpointResult> {
  const node = String(params['node']);
  nodeOrDie(state, node);
  const total = 32 * 1024 ** 3;
  const used = 2 * 1024 ** 3 + [...state.cts.values()].filter((ct) => ct.node === node && ct.status === 'running').length * 64 * 1024 ** 2;
  const release = state.version === '8.4' ? '6.8.12-9-pve' : '6.17.2-1-pve';
  const manager = state.version === '8.4' ? '8.4.14' : state.authErrorStyle === 'unified' ? '9.1.5' : '9.1.3';
  return {
    data: {
      uptime: Math.floor(state.clock.now() / 1000) % 1_000_000,
      cpu: 0.02,
      wait: 0,
      idle: 0,
      loadavg: ['0.08', '0.05', '0.01'],
      cpuinfo: { cpus: 8, cores: 4, sockets: 1, model: 'Simulated CPU', mhz: '2400.000', hvm: '1', flags: 'fpu vme de pse', user_hz: 100 },
      memory: { total, used, free: total - used, available: total - used },
      swap: { total: 8 * 1024 ** 3, used: 0, free: 8 * 1024 ** 3 },
      rootfs: { total: 100 * 1024 ** 3, used: 10 * 1024 ** 3, free: 90 * 1024 ** 3, avail: 85 * 1024 ** 3 },
      ksm: { shared: 0 },
      'boot-info': { mode: 'efi', secureboot: 0 },
      'current-kernel': { sysname: 'Linux', release, version: '#1 SMP PREEMPT_DYNAMIC PMX', machine: 'x86_64' },
      kversion: `Linux ${release} #1 SMP PREEMPT_DYNAMIC PMX`,
      pveversion: `pve-manager/${manager}/0000000000000000`,
    },
  };
}

async function getClusterStatus({ state }: EndpointCall): Promise<EndpointResult> {
  const nodes = state.nodes.map((n, i) => ({
    id: `node/${n.name}`,
    name: n.name,
    type: 'node',
    ip: `127.0.0.${i + 1}`,
    level: '',
    local: i === 0 ? 1 : 0,
    nodeid: i + 1,
    online: state.isNodeOffline(n.name) ? 0 : 1,
  }));
  const online = nodes.filter((n) => n.online === 1).length;
  return {
    data: [
      { id: 'cluster', name: state.options.clusterName, type: 'cluster', nodes: nodes.length, quorate: online * 2 > nodes.length ? 1 : 0, version: nodes.length },
      ...nodes,
    ],
  };
}

async function getClusterTasks({ state, auth }: EndpointCall): Promise<EndpointResult> {
  const privs = privilegesOf(state, auth);
  const auditor = privs === 'all' || privs.has('Sys.Audit');
  const list = [...state.tasks.values()]
    .filter((t) => auditor || t.user === auth.userid)
    .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid)
    .slice(0, 1000)
    .map((t) => ({
      upid: t.upid,
      node: t.node,
      pid: t.pid,
      pstart: t.pstart,
      starttime: t.starttime,
      type: t.type,
      id: t.id,
      user: t.user,
      ...(t.tokenid !== undefined ? { tokenid: t.tokenid } : {}),
      ...(t.status === 'stopped' ? { status: t.exitstatus, endtime: t.endtime } : {}),
    }));
  return { data: list };
}

async function getCtIndex({ state, params }: EndpointCall): Promise<EndpointResult> {
  ctOrDie(state, String(params['node']), Number(params['vmid']));
  const subdirs = ['config', 'pending', 'status', 'vncproxy', 'termproxy', 'vncwebsocket', 'spiceproxy', 'migrate', 'clone', 'rrd', 'rrddata', 'firewall', 'snapshot', 'resize', 'interfaces'];
  return { data: subdirs.map((subdir) => ({ subdir })) };
}

async function getCtStatusIndex({ state, params }: EndpointCall): Promise<EndpointResult> {
  ctOrDie(state, String(params['node']), Number(params['vmid']));
  return { data: ['current', 'start', 'stop', 'shutdown', 'reboot', 'suspend', 'resume'].map((subdir) => ({ subdir })) };
}

/** The address a DHCP server would hand out to a CT's interface (stable per CT and interface). */
function dhcpAddress(vmid: number, index: number): string {
  return `10.${100 + (index % 100)}.${Math.floor(vmid / 250) % 250}.${(vmid % 250) + 2}`;
}

/** The EUI-64 link-local IPv6 address of a MAC. */
function linkLocal(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const eui = [(b[0] ?? 0) ^ 0x02, b[1] ?? 0, b[2] ?? 0, 0xff, 0xfe, b[3] ?? 0, b[4] ?? 0, b[5] ?? 0];
  const groups: string[] = [];
  for (let i = 0; i < 8; i += 2) groups.push((((eui[i] ?? 0) << 8) | (eui[i + 1] ?? 0)).toString(16));
  return `fe80::${groups.join(':')}`;
}

async function getCtInterfaces({ state, params }: EndpointCall): Promise<EndpointResult> {
  const vmid = Number(params['vmid']);
  const ct = ctOrDie(state, String(params['node']), vmid);
  if (ct.status !== 'running') throw handlerError(`CT ${vmid} not running`);
  const entry = (name: string, hwaddr: string, inet: string | undefined, inet6: string | undefined): Record<string, unknown> => {
    const addresses = [
      ...(inet ? [{ 'ip-address': inet.split('/')[0], 'ip-address-type': 'inet', prefix: Number(inet.split('/')[1] ?? 32) }] : []),
      ...(inet6 ? [{ 'ip-address': inet6.split('/')[0], 'ip-address-type': 'inet6', prefix: Number(inet6.split('/')[1] ?? 128) }] : []),
    ];
    return { name, hwaddr, 'hardware-address': hwaddr, ...(inet ? { inet } : {}), ...(inet6 ? { inet6 } : {}), 'ip-addresses': addresses };
  };
  const out = [entry('lo', '00:00:00:00:00:00', '127.0.0.1/8', '::1/128')];
  const keys = Object.keys(ct.config).filter((k) => /^net\d+$/.test(k)).sort((a, b) => Number(a.slice(3)) - Number(b.slice(3)));
  for (const key of keys) {
    const net = readPropertyString(NET_FORMAT, ct.config[key] ?? '', state.version);
    if (!net || net['link_down'] === 1) continue;
    const hwaddr = String(net['hwaddr'] ?? '00:00:00:00:00:00');
    const ip = net['ip'] === undefined ? undefined : String(net['ip']);
    const inet = ip === 'dhcp' ? `${dhcpAddress(vmid, Number(key.slice(3)))}/24` : ip && ip !== 'manual' ? ip : undefined;
    const ip6 = net['ip6'] === undefined ? undefined : String(net['ip6']);
    const inet6 = ip6 && !['dhcp', 'auto', 'manual'].includes(ip6) ? ip6 : `${linkLocal(hwaddr)}/64`;
    out.push(entry(String(net['name']), hwaddr.toLowerCase(), inet, inet6));
  }
  return { data: out };
}

async function getStorageConfig({ state, params }: EndpointCall): Promise<EndpointResult> {
  const type = params['type'] as string | undefined;
  const list = state.storages
    .filter((s) => type === undefined || s.type === type)
    .map((s) => ({
      storage: s.id,
      type: s.type,
      content: [...s.content].sort().join(','),
      ...(s.type === 'dir' ? { path: s.id === 'local' ? '/var/lib/vz' : `/mnt/pve/${s.id}` } : {}),
      ...(s.type === 'lvmthin' ? { thinpool: 'data', vgname: 'pve' } : {}),
      ...(s.shared ? { shared: 1 } : {}),
      digest: createHash('sha1').update(JSON.stringify(state.storages)).digest('hex'),
    }));
  return { data: list };
}

async function getPools({ params }: EndpointCall): Promise<EndpointResult> {
  // the simulator has no pools (see docs/simulator.md)
  if (params['poolid'] !== undefined) throw handlerError(`pool '${String(params['poolid'])}' does not exist`);
  return { data: [] };
}

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

async function postOciRegistryPull({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
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

async function getOciRepoTags({ state, params }: EndpointCall): Promise<EndpointResult> {
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

// ---------------------------------------------------------------------------------------------

const rulesFor = (method: EndpointRules['method'], path: string): EndpointRules => {
  const rules = ENDPOINT_RULES.find((r) => r.method === method && r.path === path);
  if (!rules) throw new Error(`no rules for ${method} ${path}`);
  return rules;
};

/** Every endpoint the simulator serves. */
export const ENDPOINTS: readonly Endpoint[] = [
  { rules: rulesFor('GET', '/version'), handle: getVersion },
  { rules: rulesFor('POST', '/access/ticket'), noAuth: true, handle: postTicket },
  { rules: rulesFor('GET', '/nodes'), handle: getNodes },
  { rules: rulesFor('GET', '/cluster/resources'), handle: getClusterResources },
  { rules: rulesFor('GET', '/cluster/nextid'), handle: getNextId },
  { rules: rulesFor('GET', '/nodes/{node}/lxc'), proxied: true, handle: listCts },
  { rules: rulesFor('POST', '/nodes/{node}/lxc'), proxied: true, handle: createCt },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}/config'), proxied: true, handle: getConfig },
  { rules: rulesFor('PUT', '/nodes/{node}/lxc/{vmid}/config'), proxied: true, handle: putConfig },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}/status/current'), proxied: true, handle: getStatusCurrent },
  { rules: rulesFor('POST', '/nodes/{node}/lxc/{vmid}/status/start'), proxied: true, handle: powerAction('vzstart') },
  { rules: rulesFor('POST', '/nodes/{node}/lxc/{vmid}/status/stop'), proxied: true, handle: powerAction('vzstop') },
  { rules: rulesFor('POST', '/nodes/{node}/lxc/{vmid}/status/shutdown'), proxied: true, handle: powerAction('vzshutdown') },
  { rules: rulesFor('DELETE', '/nodes/{node}/lxc/{vmid}'), proxied: true, handle: destroyCt },
  { rules: rulesFor('GET', '/nodes/{node}/storage'), proxied: true, handle: getStorages },
  { rules: rulesFor('GET', '/nodes/{node}/storage/{storage}/content'), proxied: true, handle: getContent },
  { rules: rulesFor('GET', '/nodes/{node}/storage/{storage}/content/{volume}'), proxied: true, handle: getVolume },
  { rules: rulesFor('DELETE', '/nodes/{node}/storage/{storage}/content/{volume}'), proxied: true, handle: deleteVolume },
  { rules: rulesFor('POST', '/nodes/{node}/storage/{storage}/upload'), upload: true, skipCsrf: true, handle: (call) => handleUpload(call, endpointHelpers) },
  { rules: rulesFor('GET', '/nodes/{node}/tasks'), proxied: true, handle: listTasks },
  { rules: rulesFor('GET', '/nodes/{node}/tasks/{upid}/status'), proxied: true, handle: getTaskStatus },
  { rules: rulesFor('GET', '/nodes/{node}/tasks/{upid}/log'), proxied: true, handle: getTaskLog },
  { rules: rulesFor('GET', '/nodes/{node}/status'), proxied: true, handle: getNodeStatus },
  { rules: rulesFor('GET', '/cluster/status'), handle: getClusterStatus },
  { rules: rulesFor('GET', '/cluster/tasks'), handle: getClusterTasks },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}'), proxied: true, handle: getCtIndex },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}/status'), proxied: true, handle: getCtStatusIndex },
  { rules: rulesFor('GET', '/nodes/{node}/lxc/{vmid}/interfaces'), proxied: true, handle: getCtInterfaces },
  { rules: rulesFor('POST', '/nodes/{node}/lxc/{vmid}/status/reboot'), proxied: true, handle: powerAction('vzreboot') },
  { rules: rulesFor('GET', '/storage'), handle: getStorageConfig },
  { rules: rulesFor('GET', '/pools'), handle: getPools },
  { rules: rulesFor('POST', '/nodes/{node}/storage/{storage}/oci-registry-pull'), proxied: true, handle: postOciRegistryPull },
  { rules: rulesFor('GET', '/nodes/{node}/query-oci-repo-tags'), proxied: true, handle: getOciRepoTags },
];

/** Exported for the upload module: storage lookup and the privilege check. */
const endpointHelpers = { storageOrDie, requirePrivilege, nodeOrDie };
/** The checks the upload handler borrows from the endpoint table. */
export type EndpointHelpers = typeof endpointHelpers;
