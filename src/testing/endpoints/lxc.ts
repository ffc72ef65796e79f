/**
 * The CT endpoints other than create: list, config (read and change), status, power actions,
 * destroy, indexes and interfaces.
 *
 * @module
 */
import { handlerError, paramError } from '../api-error.js';
import { NET_FORMAT, ROOTFS_FORMAT } from '../param-rules.js';
import type { PveSimulatorState, SimulatedCt, SimulatedTask } from '../state.js';
import { findRule, readPropertyString } from '../validate-params.js';
import { checkLock, ctOrDie, lockPath, nodeOrDie, requirePrivilege, withConfigLock } from './checks.js';
import { CONFIG_RULES, checkRootOnly, configDigest, parseSize, typedConfig, withNetDefaults } from './ct-config.js';
import type { EndpointCall, EndpointResult } from './types.js';

export function ctResource(state: PveSimulatorState, ct: SimulatedCt): Record<string, unknown> {
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

export async function listCts({ state, params }: EndpointCall): Promise<EndpointResult> {
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

export async function getConfig({ state, params }: EndpointCall): Promise<EndpointResult> {
  const ct = ctOrDie(state, String(params['node']), Number(params['vmid']));
  if (params['snapshot'] !== undefined) throw handlerError(`snapshot '${String(params['snapshot'])}' does not exist`);
  return { data: { ...typedConfig(ct.config), digest: configDigest(ct.config) } };
}

export async function putConfig({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
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

export async function getStatusCurrent({ state, params }: EndpointCall): Promise<EndpointResult> {
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

export function powerAction(type: 'vzstart' | 'vzstop' | 'vzshutdown' | 'vzreboot') {
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

export async function destroyCt({ state, params, auth }: EndpointCall): Promise<EndpointResult> {
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

export async function getCtIndex({ state, params }: EndpointCall): Promise<EndpointResult> {
  ctOrDie(state, String(params['node']), Number(params['vmid']));
  const subdirs = ['config', 'pending', 'status', 'vncproxy', 'termproxy', 'vncwebsocket', 'spiceproxy', 'migrate', 'clone', 'rrd', 'rrddata', 'firewall', 'snapshot', 'resize', 'interfaces'];
  return { data: subdirs.map((subdir) => ({ subdir })) };
}

export async function getCtStatusIndex({ state, params }: EndpointCall): Promise<EndpointResult> {
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

export async function getCtInterfaces({ state, params }: EndpointCall): Promise<EndpointResult> {
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

