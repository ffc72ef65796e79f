import { describe, expect, it } from 'vitest';
import { choosePlacement, type ClusterResource } from '../../../src/exports/proxmox.js';

const GiB = 1024 ** 3;
const resources: ClusterResource[] = [
  { id: 'node/pve1', type: 'node', node: 'pve1', status: 'online', mem: 6 * GiB, maxmem: 8 * GiB },
  { id: 'node/pve2', type: 'node', node: 'pve2', status: 'online', mem: 1 * GiB, maxmem: 16 * GiB },
  { id: 'node/pve3', type: 'node', node: 'pve3', status: 'offline', mem: 0, maxmem: 64 * GiB },
  { id: 'node/pve4', type: 'node', node: 'pve4', status: 'online', mem: 0, maxmem: 32 * GiB },
  { id: 'storage/pve1/local-lvm', type: 'storage', node: 'pve1', storage: 'local-lvm', status: 'available', content: 'rootdir,images' },
  { id: 'storage/pve2/local-lvm', type: 'storage', node: 'pve2', storage: 'local-lvm', status: 'available', content: 'images,rootdir', shared: false },
  { id: 'storage/pve3/local-lvm', type: 'storage', node: 'pve3', storage: 'local-lvm', status: 'available', content: 'rootdir' },
  { id: 'storage/pve4/local-lvm', type: 'storage', node: 'pve4', storage: 'local-lvm', status: 'available', content: 'images' },
  { id: 'storage/pve4/cephfs', type: 'storage', node: 'pve4', storage: 'cephfs', status: 'available', content: 'vztmpl,rootdir', shared: true },
  { id: 'lxc/101', type: 'lxc', node: 'pve2', vmid: 101, status: 'running' },
];

describe('choosePlacement', () => {
  it('picks the online node with the most free memory whose storage has the content types', () => {
    expect(choosePlacement(resources, { storage: 'local-lvm' })).toEqual({ node: 'pve2', storage: 'local-lvm', freeMemory: 15 * GiB, shared: false });
    expect(choosePlacement(resources, { storage: 'cephfs', content: ['rootdir', 'vztmpl'] })).toEqual({ node: 'pve4', storage: 'cephfs', freeMemory: 32 * GiB, shared: true });
  });
  it('honours a node subset and a free-memory minimum', () => {
    expect(choosePlacement(resources, { storage: 'local-lvm', nodes: ['pve1', 'pve3'] }).node).toBe('pve1');
    expect(() => choosePlacement(resources, { storage: 'local-lvm', minFreeMemory: 20 * GiB })).toThrow(/pve2: 16106127360 bytes free < 21474836480/);
  });
  it('explains why every node was rejected', () => {
    expect(() => choosePlacement(resources, { storage: 'local-lvm', content: ['vztmpl'] })).toThrow(
      expect.objectContaining({
        code: 'ERR_FAILED_PRECONDITION',
        message:
          'no node can host a CT on storage local-lvm (pve1: storage local-lvm lacks content vztmpl; pve2: storage local-lvm lacks content vztmpl; pve3: offline; pve4: storage local-lvm lacks content vztmpl)',
      }),
    );
  });
});
