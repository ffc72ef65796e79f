/**
 * Every endpoint the client builds is checked against the official PVE API schema (9.1.3 and
 * 8.4, read from ../shared through PVE_API_SCHEMA / PVE_API_SCHEMA_84): the path and method
 * exist, every parameter is defined (indexed `net0` as `net[n]`), booleans go out as 1/0,
 * integers as integers, enums within their values, and required parameters are present.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { referencePath } from '../../helpers/requirements.js';
import { clusterResourcesEndpoint, nextIdEndpoint } from '../../../src/proxmox/api/cluster.js';
import { listNodesEndpoint } from '../../../src/proxmox/api/nodes.js';
import { versionEndpoint } from '../../../src/proxmox/api/version.js';
import { lxcEndpoints } from '../../../src/proxmox/api/lxc.js';
import { storageEndpoints } from '../../../src/proxmox/api/storage.js';
import { taskEndpoints } from '../../../src/proxmox/api/tasks.js';
import { ticketEndpoint } from '../../../src/proxmox/api/access.js';
import type { Endpoint } from '../../../src/proxmox/api/endpoint.js';
import { toParamPairs } from '../../../src/proxmox/transport/encode.js';

interface SchemaParam {
  type?: string;
  optional?: number | string;
  enum?: string[];
  minimum?: number | string;
  maximum?: number | string;
}
interface SchemaNode {
  path: string;
  info?: Record<string, { parameters?: { properties?: Record<string, SchemaParam> } }>;
  children?: SchemaNode[];
}

function index(schema: SchemaNode[]): Map<string, Record<string, SchemaParam>> {
  const out = new Map<string, Record<string, SchemaParam>>();
  const walk = (nodes: SchemaNode[]): void => {
    for (const n of nodes) {
      for (const [method, info] of Object.entries(n.info ?? {})) out.set(`${method} ${n.path}`, info.parameters?.properties ?? {});
      walk(n.children ?? []);
    }
  };
  walk(schema);
  return out;
}

const UPID = 'UPID:pve1:0009E9B0:103F1191:660069E7:vzcreate:101:root@pam:';
const NODE = 'pve1';

/** Endpoint, its path template in the schema, and the path parameters it filled in. */
const cases: [string, Endpoint<unknown>, string, Record<string, string>][] = [
  ['version', versionEndpoint(), '/version', {}],
  ['nodes', listNodesEndpoint(), '/nodes', {}],
  ['resources', clusterResourcesEndpoint('storage'), '/cluster/resources', {}],
  ['nextid', nextIdEndpoint(12345), '/cluster/nextid', {}],
  ['lxc list', lxcEndpoints.list(NODE), '/nodes/{node}/lxc', { node: NODE }],
  [
    'lxc create',
    lxcEndpoints.create(NODE, {
      vmid: 101,
      ostemplate: 'local:vztmpl/debian.tar.zst',
      hostname: 'web-1',
      memory: 512,
      swap: 0,
      cores: 2,
      unprivileged: true,
      start: false,
      onboot: true,
      storage: 'local-lvm',
      password: 'secret123',
      'ssh-public-keys': ['ssh-ed25519 AAAA a@b'],
      rootfs: { volume: 'local-lvm:8', mountoptions: ['noatime'] },
      features: { nesting: true, keyctl: true },
      startup: { order: 1, up: 10 },
      net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp', 'host-managed': true }],
      mp: { 3: { volume: 'local-lvm:4', mp: '/data', backup: true } },
      dev: [{ path: '/dev/fuse', mode: '0666' }],
      env: { A: '1' },
      entrypoint: '/bin/app',
      tags: ['a', 'b'],
      cmode: 'console',
      arch: 'amd64',
      ostype: 'debian',
      console: true,
      tty: 2,
    }) as Endpoint<unknown>,
    '/nodes/{node}/lxc',
    { node: NODE },
  ],
  ['lxc config', lxcEndpoints.config(NODE, 101, { current: true }), '/nodes/{node}/lxc/{vmid}/config', { node: NODE, vmid: '101' }],
  [
    'lxc update config',
    lxcEndpoints.updateConfig(NODE, 101, { memory: 1024, delete: ['mp3', 'dev0'], digest: 'abc', net: { 1: { name: 'eth1', ip: 'manual' } } }) as Endpoint<unknown>,
    '/nodes/{node}/lxc/{vmid}/config',
    { node: NODE, vmid: '101' },
  ],
  ['lxc status', lxcEndpoints.status(NODE, 101), '/nodes/{node}/lxc/{vmid}/status/current', { node: NODE, vmid: '101' }],
  ['lxc start', lxcEndpoints.start(NODE, 101, { debug: true }), '/nodes/{node}/lxc/{vmid}/status/start', { node: NODE, vmid: '101' }],
  ['lxc stop', lxcEndpoints.stop(NODE, 101, { 'overrule-shutdown': true }), '/nodes/{node}/lxc/{vmid}/status/stop', { node: NODE, vmid: '101' }],
  ['lxc shutdown', lxcEndpoints.shutdown(NODE, 101, { timeout: 30, forceStop: true }), '/nodes/{node}/lxc/{vmid}/status/shutdown', { node: NODE, vmid: '101' }],
  ['lxc reboot', lxcEndpoints.reboot(NODE, 101, { timeout: 30 }), '/nodes/{node}/lxc/{vmid}/status/reboot', { node: NODE, vmid: '101' }],
  ['lxc interfaces', lxcEndpoints.interfaces(NODE, 101), '/nodes/{node}/lxc/{vmid}/interfaces', { node: NODE, vmid: '101' }],
  ['lxc destroy', lxcEndpoints.destroy(NODE, 101, { force: true, purge: true, 'destroy-unreferenced-disks': true }), '/nodes/{node}/lxc/{vmid}', { node: NODE, vmid: '101' }],
  ['storage list', storageEndpoints.list(NODE, { content: 'vztmpl', enabled: true }), '/nodes/{node}/storage', { node: NODE }],
  ['storage content', storageEndpoints.content(NODE, 'local', { content: 'vztmpl' }), '/nodes/{node}/storage/{storage}/content', { node: NODE, storage: 'local' }],
  [
    'storage delete',
    storageEndpoints.deleteContent(NODE, 'local', 'local:vztmpl/a.tar', { delay: 5 }),
    '/nodes/{node}/storage/{storage}/content/{volume}',
    { node: NODE, storage: 'local', volume: 'local:vztmpl/a.tar' },
  ],
  ['task status', taskEndpoints.status(UPID), '/nodes/{node}/tasks/{upid}/status', { node: NODE, upid: UPID }],
  ['task log', taskEndpoints.log(UPID, 0, 500), '/nodes/{node}/tasks/{upid}/log', { node: NODE, upid: UPID }],
  ['task stop', taskEndpoints.stop(UPID), '/nodes/{node}/tasks/{upid}', { node: NODE, upid: UPID }],
  ['ticket', ticketEndpoint({ username: 'root@pam', password: 'x', 'tfa-challenge': 'y' }) as Endpoint<unknown>, '/access/ticket', {}],
];

function check(props: Map<string, Record<string, SchemaParam>>, version: '9.1.3' | '8.4'): void {
  for (const [name, endpoint, template, pathParams] of cases) {
    const key = `${endpoint.method} ${template}`;
    const params = props.get(key);
    expect(params, `${name}: ${key} missing from the ${version} schema`).toBeDefined();
    // the built path is the template with the path parameters, percent-encoded
    const expected = template.replace(/\{(\w+)\}/g, (_, p: string) => encodeURIComponent(pathParams[p] ?? ''));
    expect(endpoint.path, name).toBe(expected);
    const pairs = toParamPairs(endpoint.params);
    const sent = new Set([...pairs.map(([k]) => k), ...Object.keys(pathParams)]);
    for (const [k, v] of pairs) {
      const schemaKey = params![k] ? k : k.replace(/^(net|mp|dev|unused)\d+$/, '$1[n]');
      const def = params![schemaKey];
      if (version === '8.4' && def === undefined && ['entrypoint', 'env'].includes(k)) continue; // new in 9.1
      expect(def, `${name}: parameter ${k} is not in the ${version} schema`).toBeDefined();
      if (!def) continue;
      if (def.type === 'boolean') expect(['0', '1'], `${name}.${k}`).toContain(v);
      if (def.type === 'integer') expect(v, `${name}.${k}`).toMatch(/^-?\d+$/);
      if (def.enum) expect(def.enum, `${name}.${k}`).toContain(v);
      if (def.minimum !== undefined && def.type === 'integer') expect(Number(v)).toBeGreaterThanOrEqual(Number(def.minimum));
    }
    for (const [k, def] of Object.entries(params!)) {
      const required = def.optional === undefined || Number(def.optional) === 0;
      if (required) expect(sent.has(k), `${name}: required parameter ${k} not sent`).toBe(true);
    }
  }
}

describe('endpoints against the official PVE API schema', () => {
  const v91 = referencePath('PVE_API_SCHEMA');
  const v84 = referencePath('PVE_API_SCHEMA_84');
  it.skipIf(v91.skip !== undefined)('match PVE 9.1.3', () => {
    check(index(JSON.parse(readFileSync(v91.path!, 'utf8')) as SchemaNode[]), '9.1.3');
  });
  it.skipIf(v84.skip !== undefined)('match PVE 8.4 (except parameters new in 9.1)', () => {
    check(index(JSON.parse(readFileSync(v84.path!, 'utf8')) as SchemaNode[]), '8.4');
  });
});
