/**
 * CT config helpers shared by create and `PUT config`: the digest, typed values, the root@pam-only
 * options, sizes, and network interface defaults.
 *
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';
import { permissionError } from '../api-error.js';
import { ENDPOINT_RULES, FEATURES_FORMAT, MP_FORMAT, NET_FORMAT, ROOTFS_FORMAT, type EndpointRules, type ParamRule } from '../param-rules.js';
import type { PveSimulatorState } from '../state.js';
import { findRule, readPropertyString } from '../validate-params.js';
import { requirePrivilege } from './checks.js';
import type { EndpointAuth } from './types.js';

/** The config text PVE would write (sorted `key: value` lines); its SHA-1 is the digest. */
export function configDigest(config: Readonly<Record<string, string>>): string {
  const text = Object.keys(config)
    .sort()
    .map((k) => `${k}: ${config[k]}\n`)
    .join('');
  return createHash('sha1').update(text).digest('hex');
}

export const CONFIG_RULES = (ENDPOINT_RULES.find((r) => r.method === 'PUT' && r.path === '/nodes/{node}/lxc/{vmid}/config') as EndpointRules).params;

/** A config value typed as PVE returns it (integers, numbers and booleans as JSON numbers). */
export function typedConfig(config: Readonly<Record<string, string>>): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(config)) {
    const rule: ParamRule | undefined = findRule(CONFIG_RULES, key);
    out[key] = rule && rule.type !== 'string' && /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  }
  return out;
}

function isBindOrDevice(volume: string): 'bind' | 'device' | undefined {
  if (volume.startsWith('/dev/')) return 'device';
  if (volume.startsWith('/')) return 'bind';
  return undefined;
}

/** `check_ct_modify_config_perm`: the root@pam-only options. */
export function checkRootOnly(
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
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([KMGT])?$/.exec(text);
  if (!match) return 0;
  return Math.floor(Number(match[1]) * (SIZE_UNITS[match[2] ?? ''] ?? 1));
}
export function formatSize(bytes: number): string {
  for (const [unit, factor] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return String(bytes);
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
export function withNetDefaults(state: PveSimulatorState, value: string, extra: Record<string, string> = {}): string {
  const parsed = readPropertyString(NET_FORMAT, value, state.version);
  if (!parsed) return value;
  const net: Record<string, string | number> = { ...parsed };
  net['type'] ??= 'veth';
  net['hwaddr'] ??= randomHwaddr();
  for (const [k, v] of Object.entries(extra)) net[k] ??= v;
  return printPropertyString(net, ['name']);
}

