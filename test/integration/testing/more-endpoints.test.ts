/**
 * Endpoints scripts commonly call (issue #13, simulator item 6): node and cluster status, the
 * cluster task list, the CT directory indexes, a running CT's interfaces (how users find a DHCP
 * address), reboot, the storage config, pools, and PVE 9.1's OCI registry pull and tag query
 * (fed from oci-archives the test provides, since there is no network).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FRONT_ENDS, useFrontEnd } from './pve-http.js';
import { ociArchive, rootfsTemplate } from './templates.js';

let dir: string;
let alpine: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lxcri-sim-endpoints-'));
  alpine = join(dir, 'alpine.tar');
  await writeFile(alpine, await ociArchive({ Entrypoint: ['/bin/sh'] }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.each(FRONT_ENDS)('PVE simulator: endpoints scripts call (%s)', (frontEnd) => {
  const sim = useFrontEnd(frontEnd);

  it('answers node status, cluster status and the cluster task list', async () => {
    const { http } = await sim.start({ nodes: ['pve1', 'pve2'] });
    const status = await http.call('GET', '/nodes/pve1/status');
    expect(status.status).toBe(200);
    expect(status.body.data).toMatchObject({
      cpu: expect.any(Number) as number,
      memory: { total: expect.any(Number) as number, used: expect.any(Number) as number },
      rootfs: { total: expect.any(Number) as number },
      'current-kernel': { sysname: 'Linux' },
      pveversion: expect.stringMatching(/^pve-manager\/9\.1\./) as string,
      loadavg: expect.any(Array) as unknown[],
    });
    expect((await http.call('GET', '/nodes/pve9/status')).status).toBe(500);

    const cluster = (await http.call('GET', '/cluster/status')).body.data as Record<string, unknown>[];
    expect(cluster).toEqual([
      expect.objectContaining({ type: 'cluster', name: 'lxcri-sim', nodes: 2, quorate: 1 }),
      expect.objectContaining({ type: 'node', name: 'pve1', id: 'node/pve1', online: 1, local: 1, nodeid: 1 }),
      expect.objectContaining({ type: 'node', name: 'pve2', online: 1, local: 0, nodeid: 2 }),
    ]);

    await http.call('PUT', '/nodes/pve1/lxc/999/config', { memory: 1 }); // fails synchronously: no task
    const tpl = 'local:vztmpl/d.tar.gz';
    await writeFile(sim.handle!.state.volumePath('pve2', tpl)!, await rootfsTemplate('d.tar.gz', 'debian'));
    const upid = (await http.call('POST', '/nodes/pve2/lxc', { vmid: 120, ostemplate: tpl, rootfs: 'local-lvm:1' })).body.data as string;
    await http.waitTask(upid);
    const tasks = (await http.call('GET', '/cluster/tasks')).body.data as Record<string, unknown>[];
    expect(tasks).toEqual([expect.objectContaining({ upid, node: 'pve2', type: 'vzcreate', id: '120', status: 'OK' })]);
  });

  it('lists the CT and status directory indexes, reboots, and shows the interfaces of a running CT', async () => {
    const { http, state } = await sim.start();
    const tpl = 'local:vztmpl/d.tar.gz';
    await writeFile(state.volumePath('pve1', tpl)!, await rootfsTemplate('d.tar.gz', 'debian'));
    const create = await http.call('POST', '/nodes/pve1/lxc', {
      vmid: 130,
      ostemplate: tpl,
      rootfs: 'local-lvm:1',
      net0: 'name=eth0,bridge=vmbr0,ip=dhcp',
      net1: 'name=eth1,bridge=vmbr1,ip=192.0.2.7/24,ip6=2001:db8::7/64',
    });
    await http.waitTask(create.body.data as string);
    expect(((await http.call('GET', '/nodes/pve1/lxc/130')).body.data as { subdir: string }[]).map((e) => e.subdir)).toEqual(
      expect.arrayContaining(['config', 'status', 'snapshot', 'interfaces']),
    );
    expect(((await http.call('GET', '/nodes/pve1/lxc/130/status')).body.data as { subdir: string }[]).map((e) => e.subdir)).toEqual(
      expect.arrayContaining(['current', 'start', 'stop', 'shutdown', 'reboot']),
    );
    expect((await http.call('GET', '/nodes/pve1/lxc/131')).statusText).toBe("Configuration file 'nodes/pve1/lxc/131.conf' does not exist");

    expect((await http.call('GET', '/nodes/pve1/lxc/130/interfaces')).statusText).toBe('CT 130 not running');
    expect((await http.call('POST', '/nodes/pve1/lxc/130/status/reboot')).statusText).toBe('CT 130 not running');
    await http.waitTask((await http.call('POST', '/nodes/pve1/lxc/130/status/start')).body.data as string);

    const config = (await http.call('GET', '/nodes/pve1/lxc/130/config')).body.data as Record<string, string>;
    const mac0 = /hwaddr=([0-9A-F:]+)/.exec(config['net0'] ?? '')?.[1]?.toLowerCase();
    const ifaces = (await http.call('GET', '/nodes/pve1/lxc/130/interfaces')).body.data as Record<string, unknown>[];
    expect(ifaces.map((i) => i['name'])).toEqual(['lo', 'eth0', 'eth1']);
    expect(ifaces[1]).toMatchObject({ hwaddr: mac0, 'hardware-address': mac0, inet: expect.stringMatching(/^10\.\d+\.\d+\.\d+\/24$/) as string });
    expect(ifaces[2]).toMatchObject({ inet: '192.0.2.7/24', inet6: '2001:db8::7/64' });
    expect((ifaces[1]?.['ip-addresses'] as Record<string, unknown>[])[0]).toMatchObject({ 'ip-address-type': 'inet', prefix: 24 });

    const reboot = await http.call('POST', '/nodes/pve1/lxc/130/status/reboot', { timeout: 5 });
    expect(reboot.body.data).toMatch(/:vzreboot:130:/);
    expect(await http.waitTask(reboot.body.data as string)).toMatchObject({ exitstatus: 'OK' });
    expect(((await http.call('GET', '/nodes/pve1/lxc/130/status/current')).body.data as { status: string }).status).toBe('running');
  });

  it('lists the storage config and (no) pools', async () => {
    const { http } = await sim.start();
    expect((await http.call('GET', '/storage')).body.data).toEqual([
      expect.objectContaining({ storage: 'local', type: 'dir', path: '/var/lib/vz', content: 'backup,import,iso,snippets,vztmpl' }),
      expect.objectContaining({ storage: 'local-lvm', type: 'lvmthin', thinpool: 'data', vgname: 'pve', content: 'images,rootdir' }),
    ]);
    expect((await http.call('GET', '/storage', { type: 'lvmthin' })).body.data).toEqual([expect.objectContaining({ storage: 'local-lvm' })]);
    expect((await http.call('GET', '/storage', { type: 'glusterfs' })).status).toBe(400); // gone in PVE 9
    expect((await http.call('GET', '/pools')).body.data).toEqual([]);
    expect((await http.call('GET', '/pools', { poolid: 'ci' })).statusText).toBe("pool 'ci' does not exist");
    expect((await http.call('GET', '/pools', { type: 'lxc' })).body.errors).toEqual({ poolid: "missing property - 'type' requires this property" });
  });

  it('pulls OCI images from the blob source the test provides and lists their tags (9.1), and has neither on 8.4', async () => {
    const { http, state } = await sim.start({ ociImages: { 'docker.io/library/alpine:3.20': alpine } });
    state.ociImages.set('alpine:latest', alpine);
    const tags = await http.call('GET', '/nodes/pve1/query-oci-repo-tags', { reference: 'docker.io/library/alpine' });
    expect(tags.body.data).toEqual(['3.20', 'latest']);
    expect((await http.call('GET', '/nodes/pve1/query-oci-repo-tags', { reference: 'alpine:3.20' })).status).toBe(400); // no tag allowed

    const pull = await http.call('POST', '/nodes/pve1/storage/local/oci-registry-pull', { reference: 'alpine:3.20' });
    expect(pull.body.data).toMatch(/:ociregistrypull:/);
    expect(await http.waitTask(pull.body.data as string)).toMatchObject({ exitstatus: 'OK' });
    const content = (await http.call('GET', '/nodes/pve1/storage/local/content', { content: 'vztmpl' })).body.data as { volid: string }[];
    expect(content.map((c) => c.volid)).toEqual(['local:vztmpl/alpine_3.20.tar']);
    const again = await http.call('POST', '/nodes/pve1/storage/local/oci-registry-pull', { reference: 'alpine:3.20' });
    expect(again.statusText).toMatch(/^refusing to override existing file '.*alpine_3\.20\.tar'$/);
    expect((await http.call('POST', '/nodes/pve1/storage/local/oci-registry-pull', { reference: 'alpine' })).body.errors).toHaveProperty('reference');
    expect((await http.call('POST', '/nodes/pve1/storage/local-lvm/oci-registry-pull', { reference: 'alpine:3.20' })).statusText).toMatch(/not a file based storage/);

    const missing = await http.call('POST', '/nodes/pve1/storage/local/oci-registry-pull', { reference: 'ghcr.io/acme/none:1', filename: 'none' });
    expect(await http.waitTask(missing.body.data as string)).toMatchObject({ exitstatus: expect.stringMatching(/^command 'skopeo copy docker:\/\/ghcr\.io\/acme\/none:1 .*' failed: exit code 1$/) as string });

    // the pulled archive creates an application container
    const created = await http.call('POST', '/nodes/pve1/lxc', { vmid: 140, ostemplate: 'local:vztmpl/alpine_3.20.tar', rootfs: 'local-lvm:1' });
    expect(await http.waitTask(created.body.data as string)).toMatchObject({ exitstatus: 'OK' });
    expect((await http.call('GET', '/nodes/pve1/lxc/140/config')).body.data).toMatchObject({ entrypoint: '/bin/sh', ostype: 'alpine' });

    const old = (await sim.start({ version: '8.4', ociImages: { 'alpine:3.20': alpine } })).http;
    const refused = await old.call('POST', '/nodes/pve1/storage/local/oci-registry-pull', { reference: 'alpine:3.20' });
    expect([refused.status, refused.statusText]).toEqual([501, "Method 'POST /nodes/pve1/storage/local/oci-registry-pull' not implemented"]);
    expect((await old.call('GET', '/nodes/pve1/query-oci-repo-tags', { reference: 'alpine' })).status).toBe(501);
  });
});
