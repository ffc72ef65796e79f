/**
 * Version, nodes, cluster status, resources and tasks, next free VMID, node status, the storage
 * configuration and pools.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { handlerError, paramError } from '../api-error.js';
import type { PveSimulatorState } from '../state.js';
import { nodeOrDie, privilegesOf } from './checks.js';
import { ctResource } from './lxc.js';
import { storageEntries } from './storage.js';
import { taskEntry } from './tasks.js';
import type { EndpointCall, EndpointResult } from './types.js';

export async function getVersion({ state }: EndpointCall): Promise<EndpointResult> {
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

export async function getNodes({ state }: EndpointCall): Promise<EndpointResult> {
  return { data: state.nodes.map((n) => nodeEntry(state, n.name)) };
}

export async function getClusterResources({ state, params }: EndpointCall): Promise<EndpointResult> {
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

export async function getNextId({ state, params }: EndpointCall): Promise<EndpointResult> {
  const wanted = params['vmid'] as number | undefined;
  if (wanted !== undefined) {
    if (state.cts.has(wanted)) throw paramError({ vmid: `VM ${wanted} already exists` });
    return { data: String(wanted) };
  }
  const { lower, upper } = state.options.nextId;
  for (let id = lower; id < upper; id++) if (!state.cts.has(id)) return { data: String(id) };
  throw handlerError('unable to get any free VMID in range');
}

export async function getNodeStatus({ state, params }: EndpointCall): Promise<EndpointResult> {
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

export async function getClusterStatus({ state }: EndpointCall): Promise<EndpointResult> {
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

export async function getClusterTasks({ state, auth }: EndpointCall): Promise<EndpointResult> {
  const privs = privilegesOf(state, auth);
  const auditor = privs === 'all' || privs.has('Sys.Audit');
  const list = [...state.tasks.values()]
    .filter((t) => auditor || t.user === auth.userid)
    .sort((a, b) => b.starttime - a.starttime || b.pid - a.pid)
    .slice(0, 1000)
    .map(taskEntry);
  return { data: list };
}

export async function getStorageConfig({ state, params }: EndpointCall): Promise<EndpointResult> {
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

export async function getPools({ params }: EndpointCall): Promise<EndpointResult> {
  // the simulator has no pools (see docs/simulator.md)
  if (params['poolid'] !== undefined) throw handlerError(`pool '${String(params['poolid'])}' does not exist`);
  return { data: [] };
}

