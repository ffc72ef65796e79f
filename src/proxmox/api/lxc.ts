/**
 * LXC endpoints: list, create, config get/put, status current/start/stop/shutdown, destroy.
 * Typed property-string objects (`net`, `mp`, `dev` indexed; `rootfs`, `features`, `startup`)
 * are encoded here; raw strings pass through.
 *
 * @module
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../../errors.js';
import { expandPath, type ParamValue, type Params } from '../transport/encode.js';
import {
  INDEXED_PARAM_LIMITS,
  encodeIndexedParams,
  encodePropertyString,
  type DeviceProperty,
  type FeaturesProperty,
  type MountPointProperty,
  type NetProperty,
  type RootfsProperty,
  type StartupProperty,
} from '../property-string.js';
import { boolLike, intLike, nullResponse, numLike, upidResponse, type CallOptions, type Endpoint, type EndpointSender } from './endpoint.js';

/** Indexed values: an array (index = position) or a sparse record (`{ 3: … }`). */
export type Indexed<T> = readonly (T | undefined)[] | Readonly<Record<number, T | undefined>>;

/** Parameters shared by create and config update. Keys are PVE's; typed where PVE uses property strings. */
export interface LxcConfigParams {
  hostname?: string | undefined;
  description?: string | undefined;
  memory?: number | undefined;
  swap?: number | undefined;
  cores?: number | undefined;
  cpulimit?: number | undefined;
  cpuunits?: number | undefined;
  arch?: 'amd64' | 'i386' | 'arm64' | 'armhf' | 'riscv32' | 'riscv64' | undefined;
  ostype?: string | undefined;
  cmode?: 'shell' | 'console' | 'tty' | undefined;
  console?: boolean | undefined;
  tty?: number | undefined;
  onboot?: boolean | undefined;
  protection?: boolean | undefined;
  template?: boolean | undefined;
  debug?: boolean | undefined;
  nameserver?: string | undefined;
  searchdomain?: string | undefined;
  timezone?: string | undefined;
  /** Joined with `;`. */
  tags?: string | readonly string[] | undefined;
  /** PVE 9.1+: the init command. */
  entrypoint?: string | undefined;
  /** PVE 9.1+: environment, sent NUL-joined as `KEY=value`. */
  env?: string | Readonly<Record<string, string>> | undefined;
  hookscript?: string | undefined;
  lock?: string | undefined;
  rootfs?: RootfsProperty | string | undefined;
  features?: FeaturesProperty | string | undefined;
  startup?: StartupProperty | string | undefined;
  /** `net0..net31`. */
  net?: Indexed<NetProperty | string> | undefined;
  /** `mp0..mp255`. */
  mp?: Indexed<MountPointProperty | string> | undefined;
  /** `dev0..dev255`. */
  dev?: Indexed<DeviceProperty | string> | undefined;
  /** Parameters not modelled above, sent as given (e.g. `{ 'net0': 'name=eth0,…' }`). */
  extra?: Params | undefined;
}

/** Parameters of `POST /nodes/{node}/lxc`. */
export interface LxcCreateParams extends LxcConfigParams {
  /** 100..999999999. */
  vmid: number;
  /** Template volid, e.g. `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`. */
  ostemplate: string;
  /** Default storage for `rootfs`/`mp` given as a size. */
  storage?: string | undefined;
  /**
   * PVE creates unprivileged CTs unless this is `false` (the schema's default of 0 is wrong for
   * create; privileged needs Sys.Modify on `/`).
   */
  unprivileged?: boolean | undefined;
  /** Start after creation (same task). */
  start?: boolean | undefined;
  /** Root password of the CT (a secret: scrubbed from errors and logs). */
  password?: string | undefined;
  /** One key per array item (joined with newlines). */
  'ssh-public-keys'?: string | readonly string[] | undefined;
  pool?: string | undefined;
  'ha-managed'?: boolean | undefined;
  'ignore-unpack-errors'?: boolean | undefined;
  bwlimit?: number | undefined;
  force?: boolean | undefined;
  restore?: boolean | undefined;
  unique?: boolean | undefined;
}

/** Parameters of `PUT /nodes/{node}/lxc/{vmid}/config`. */
export interface LxcConfigUpdateParams extends LxcConfigParams {
  /** Settings to delete (joined with `,`). */
  delete?: string | readonly string[] | undefined;
  /** Refuse the change if the config's SHA1 differs (optimistic concurrency). */
  digest?: string | undefined;
  /** Revert pending changes (joined with `,`). */
  revert?: string | readonly string[] | undefined;
}


function encodeIndexedMixed<K extends 'net' | 'mp' | 'dev'>(kind: K, values: Indexed<unknown>): Record<string, string> {
  const entries = Array.isArray(values) ? values.map((v, i) => [i, v] as const) : Object.entries(values).map(([k, v]) => [Number(k), v] as const);
  const out: Record<string, string> = {};
  for (const [index, value] of entries) {
    if (value === undefined) continue;
    if (typeof value === 'string') {
      if (!Number.isInteger(index) || index < 0 || index >= INDEXED_PARAM_LIMITS[kind]) {
        throw InvalidArgumentError.forField(`${kind}${index}`, `index must be an integer from 0 to ${INDEXED_PARAM_LIMITS[kind] - 1}`);
      }
      out[`${kind}${index}`] = value;
    } else {
      Object.assign(out, encodeIndexedParams(kind, { [index]: value as never }));
    }
  }
  return out;
}

/** Converts typed LXC params into PVE wire params. The input is not mutated. */
export function toLxcWireParams(params: LxcConfigParams & Record<string, unknown>): Record<string, ParamValue> {
  const out: Record<string, ParamValue> = {};
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined) continue;
    switch (key) {
      case 'extra':
        break;
      case 'net':
      case 'mp':
      case 'dev':
        Object.assign(out, encodeIndexedMixed(key, value as Indexed<unknown>));
        break;
      case 'rootfs':
      case 'features':
      case 'startup':
        out[key] = typeof value === 'string' ? value : encodePropertyString(key, value as never);
        break;
      case 'env': {
        if (typeof value === 'string') out[key] = value;
        else {
          const pairs = Object.entries(value as Record<string, string>).map(([k, v]) => {
            if (!/^\w+$/.test(k)) throw InvalidArgumentError.forField(`env.${k}`, 'variable names must match \\w+');
            if (/[\0\n\r]/.test(v)) throw InvalidArgumentError.forField(`env.${k}`, 'value must not contain NUL or newlines');
            return `${k}=${v}`;
          });
          if (pairs.length > 0) out[key] = pairs.join('\0');
        }
        break;
      }
      case 'tags':
        out[key] = typeof value === 'string' ? value : (value as readonly string[]).join(';');
        break;
      case 'ssh-public-keys':
        out[key] = typeof value === 'string' ? value : (value as readonly string[]).join('\n');
        break;
      case 'delete':
      case 'revert':
        out[key] = typeof value === 'string' ? value : (value as readonly string[]).join(',');
        break;
      default:
        out[key] = value as ParamValue;
    }
  }
  const extra = params.extra;
  if (extra) {
    for (const [key, value] of Object.entries(extra)) {
      if (key in out) throw InvalidArgumentError.forField(key, 'given both typed and in extra');
      out[key] = value;
    }
  }
  return out;
}

/** True when a `rootfs`/`mp[n]` value asks PVE to allocate a new volume (`<storage>:<size in GiB>`). */
export function allocatesVolume(wire: Readonly<Record<string, ParamValue>>): boolean {
  return Object.entries(wire).some(([key, value]) => {
    if (!/^(?:rootfs|mp\d+)$/.test(key) || typeof value !== 'string') return false;
    const parts = value.split(',');
    const volume = parts.find((p) => p.startsWith('volume='))?.slice('volume='.length) ?? (parts[0]?.includes('=') ? undefined : parts[0]);
    return volume !== undefined && /^(?:[^:=]+:)?\d+(?:\.\d+)?$/.test(volume);
  });
}

/** One entry of `GET /nodes/{node}/lxc`. */
export const lxcListEntrySchema = z.looseObject({
  vmid: intLike,
  status: z.string(),
  name: z.string().optional(),
  lock: z.string().optional(),
  tags: z.string().optional(),
  template: boolLike.optional(),
  mem: numLike.optional(),
  maxmem: numLike.optional(),
  uptime: numLike.optional(),
});
/** A CT as listed. */
export type LxcListEntry = z.output<typeof lxcListEntrySchema>;

/** `GET …/status/current`. */
export const lxcStatusSchema = z.looseObject({
  status: z.string(),
  vmid: intLike.optional(),
  name: z.string().optional(),
  lock: z.string().optional(),
  ha: z.unknown().optional(),
  uptime: numLike.optional(),
  mem: numLike.optional(),
  maxmem: numLike.optional(),
  template: boolLike.optional(),
});
/** Current CT status. */
export type LxcStatus = z.output<typeof lxcStatusSchema>;

/** One entry of `GET …/interfaces` (a running CT's network interfaces, as the kernel sees them). */
export const lxcInterfaceSchema = z.looseObject({
  name: z.string(),
  hwaddr: z.string(),
  'hardware-address': z.string().optional(),
  /** IPv4 address with prefix, e.g. `10.0.0.5/24` (a DHCP lease shows here). */
  inet: z.string().optional(),
  inet6: z.string().optional(),
  'ip-addresses': z
    .array(z.looseObject({ 'ip-address': z.string().optional(), 'ip-address-type': z.string().optional(), prefix: intLike.optional() }))
    .optional(),
});
/** A CT network interface. */
export type LxcInterface = z.output<typeof lxcInterfaceSchema>;

/** `GET …/config`: the CT config (keys as PVE writes them, plus `digest`). */
export const lxcConfigSchema = z.looseObject({ digest: z.string().optional() });
/** A CT config. */
export type LxcConfig = z.output<typeof lxcConfigSchema>;

const vmidPath = (node: string, vmid: number, suffix = ''): string => {
  if (!Number.isInteger(vmid) || vmid < 100 || vmid > 999_999_999) throw InvalidArgumentError.forField('vmid', 'must be an integer from 100 to 999999999');
  return expandPath(`/nodes/{node}/lxc/{vmid}${suffix}`, { node, vmid });
};

/** Endpoint builders (pure). */
export const lxcEndpoints = {
  list: (node: string): Endpoint<LxcListEntry[]> => ({
    method: 'GET',
    path: expandPath('/nodes/{node}/lxc', { node }),
    response: z.array(lxcListEntrySchema),
    retry: 'idempotent',
  }),
  create: (node: string, params: LxcCreateParams): Endpoint<string> => {
    if (!Number.isInteger(params.vmid) || params.vmid < 100 || params.vmid > 999_999_999) throw InvalidArgumentError.forField('vmid', 'must be an integer from 100 to 999999999');
    if (typeof params.ostemplate !== 'string' || params.ostemplate === '') throw InvalidArgumentError.forField('ostemplate', 'is required');
    return {
      method: 'POST',
      path: expandPath('/nodes/{node}/lxc', { node }),
      params: toLxcWireParams(params as unknown as LxcConfigParams & Record<string, unknown>),
      response: upidResponse,
      retry: 'never',
      ...(params.password ? { secrets: [params.password] } : {}),
    };
  },
  config: (node: string, vmid: number, options: { current?: boolean; snapshot?: string } = {}): Endpoint<LxcConfig> => ({
    method: 'GET',
    path: vmidPath(node, vmid, '/config'),
    params: { current: options.current, snapshot: options.snapshot },
    response: lxcConfigSchema,
    retry: 'idempotent',
  }),
  updateConfig: (node: string, vmid: number, params: LxcConfigUpdateParams): Endpoint<null> => {
    const wire = toLxcWireParams(params as unknown as LxcConfigParams & Record<string, unknown>);
    return {
      method: 'PUT',
      path: vmidPath(node, vmid, '/config'),
      params: wire,
      response: nullResponse,
      // `mp0: local-lvm:8` allocates a new volume: re-sending it after a lost answer would allocate a second one
      retry: allocatesVolume(wire) ? 'not-executed' : 'idempotent',
    };
  },
  status: (node: string, vmid: number): Endpoint<LxcStatus> => ({
    method: 'GET',
    path: vmidPath(node, vmid, '/status/current'),
    response: lxcStatusSchema,
    retry: 'idempotent',
  }),
  start: (node: string, vmid: number, params: { debug?: boolean; skiplock?: boolean } = {}): Endpoint<string> => ({
    method: 'POST',
    path: vmidPath(node, vmid, '/status/start'),
    params,
    response: upidResponse,
    retry: 'not-executed',
  }),
  stop: (node: string, vmid: number, params: { skiplock?: boolean; 'overrule-shutdown'?: boolean } = {}): Endpoint<string> => ({
    method: 'POST',
    path: vmidPath(node, vmid, '/status/stop'),
    params,
    response: upidResponse,
    retry: 'not-executed',
  }),
  shutdown: (node: string, vmid: number, params: { timeout?: number; forceStop?: boolean } = {}): Endpoint<string> => ({
    method: 'POST',
    path: vmidPath(node, vmid, '/status/shutdown'),
    params,
    response: upidResponse,
    retry: 'not-executed',
  }),
  reboot: (node: string, vmid: number, params: { timeout?: number } = {}): Endpoint<string> => ({
    method: 'POST',
    path: vmidPath(node, vmid, '/status/reboot'),
    params,
    response: upidResponse,
    retry: 'not-executed',
  }),
  interfaces: (node: string, vmid: number): Endpoint<LxcInterface[]> => ({
    method: 'GET',
    path: vmidPath(node, vmid, '/interfaces'),
    response: z.array(lxcInterfaceSchema),
    retry: 'idempotent',
  }),
  destroy: (node: string, vmid: number, params: { force?: boolean; purge?: boolean; 'destroy-unreferenced-disks'?: boolean } = {}): Endpoint<string> => ({
    method: 'DELETE',
    path: vmidPath(node, vmid),
    params,
    response: upidResponse,
    retry: 'not-executed',
  }),
};

/** `client.lxc`. Methods that start work return the task's UPID; wait with `client.tasks.wait`. */
export class LxcApi {
  readonly #send: EndpointSender;
  /** @internal */
  constructor(send: EndpointSender) {
    this.#send = send;
  }
  /** Lists the CTs of a node. */
  list(node: string, options?: CallOptions): Promise<LxcListEntry[]> {
    return this.#send(lxcEndpoints.list(node), options);
  }
  /** Creates a CT (never re-sent automatically). Returns the `vzcreate` UPID. */
  create(node: string, params: LxcCreateParams, options?: CallOptions): Promise<string> {
    return this.#send(lxcEndpoints.create(node, params), options);
  }
  /** Reads a CT config. */
  config(node: string, vmid: number, options: CallOptions & { current?: boolean; snapshot?: string } = {}): Promise<LxcConfig> {
    return this.#send(lxcEndpoints.config(node, vmid, options), options);
  }
  /** Updates a CT config. */
  updateConfig(node: string, vmid: number, params: LxcConfigUpdateParams, options?: CallOptions): Promise<null> {
    return this.#send(lxcEndpoints.updateConfig(node, vmid, params), options);
  }
  /** Current status (`running` / `stopped`, lock, memory, …). */
  status(node: string, vmid: number, options?: CallOptions): Promise<LxcStatus> {
    return this.#send(lxcEndpoints.status(node, vmid), options);
  }
  /** Starts a CT; returns the UPID. */
  start(node: string, vmid: number, options: CallOptions & { debug?: boolean; skiplock?: boolean } = {}): Promise<string> {
    const { signal: _s, timeoutMs: _t, ...params } = options;
    return this.#send(lxcEndpoints.start(node, vmid, params), options);
  }
  /** Stops a CT immediately; returns the UPID. */
  stop(node: string, vmid: number, options: CallOptions & { skiplock?: boolean; 'overrule-shutdown'?: boolean } = {}): Promise<string> {
    const { signal: _s, timeoutMs: _t, ...params } = options;
    return this.#send(lxcEndpoints.stop(node, vmid, params), options);
  }
  /** Shuts a CT down cleanly; returns the UPID. */
  shutdown(node: string, vmid: number, options: CallOptions & { timeout?: number; forceStop?: boolean } = {}): Promise<string> {
    const { signal: _s, timeoutMs: _t, ...params } = options;
    return this.#send(lxcEndpoints.shutdown(node, vmid, params), options);
  }
  /** Reboots a running CT (shutdown, then start); returns the UPID. Never re-sent after a lost answer. */
  reboot(node: string, vmid: number, options: CallOptions & { timeout?: number } = {}): Promise<string> {
    const { signal: _s, timeoutMs: _t, ...params } = options;
    return this.#send(lxcEndpoints.reboot(node, vmid, params), options);
  }
  /** The network interfaces of a running CT (how to find the address DHCP gave it). */
  interfaces(node: string, vmid: number, options: CallOptions = {}): Promise<LxcInterface[]> {
    return this.#send(lxcEndpoints.interfaces(node, vmid), options);
  }
  /** Destroys a CT; returns the UPID. */
  destroy(node: string, vmid: number, options: CallOptions & { force?: boolean; purge?: boolean; 'destroy-unreferenced-disks'?: boolean } = {}): Promise<string> {
    const { signal: _s, timeoutMs: _t, ...params } = options;
    return this.#send(lxcEndpoints.destroy(node, vmid, params), options);
  }
}
