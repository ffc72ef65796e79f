import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createSimulatorToken, createSimulatorUser, type PveSimulatorOptions } from '../../../src/testing/index.js';
import { FRONT_ENDS, useFrontEnd, type PveHttp } from './pve-http.js';
import { rootfsTemplate } from './templates.js';

const TEMPLATE = 'local:vztmpl/debian-12-standard_12.7-1_amd64.tar.gz';

describe.each(FRONT_ENDS)('PVE simulator containers (%s)', (frontEnd) => {
  const sim = useFrontEnd(frontEnd);

  async function start(options: PveSimulatorOptions = {}): Promise<PveHttp> {
    const handle = await sim.start(options);
    for (const node of handle.state.nodes) {
      const path = handle.state.volumePath(node.name, TEMPLATE);
      if (path) await writeFile(path, await rootfsTemplate(TEMPLATE, 'debian'));
    }
    return handle.http;
  }

  it('creates, configures, starts, stops and destroys a CT through worker tasks', async () => {
    const http = await start();
    const created = await http.call('POST', '/nodes/pve1/lxc', { vmid: 110, ostemplate: TEMPLATE, rootfs: 'local-lvm:8', net0: 'name=eth0,bridge=vmbr0,ip=dhcp' });
    expect(created.status).toBe(200);
    expect(await http.waitTask(created.body.data as string)).toMatchObject({ status: 'stopped', exitstatus: 'OK' });
    const config = await http.call('GET', '/nodes/pve1/lxc/110/config');
    const data = config.body.data as Record<string, unknown>;
    expect(data).toMatchObject({
      unprivileged: 1,
      hostname: 'CT110',
      memory: 512,
      swap: 512,
      arch: 'amd64',
      ostype: 'debian',
      rootfs: 'local-lvm:vm-110-disk-0,size=8G',
      // PVE adds type=veth and a random locally administered hwaddr (name first, then sorted)
      net0: expect.stringMatching(/^name=eth0,bridge=vmbr0,hwaddr=[0-9A-F]{2}(?::[0-9A-F]{2}){5},ip=dhcp,type=veth$/) as string,
    });
    expect(parseInt(String(data['net0']).split('hwaddr=')[1]!.slice(0, 2), 16) & 0x03).toBe(0x02);
    expect(data['digest']).toMatch(/^[0-9a-f]{40}$/);
    expect(data['lock']).toBeUndefined();
    const content = await http.call('GET', '/nodes/pve1/storage/local-lvm/content');
    expect(content.body.data).toEqual([expect.objectContaining({ volid: 'local-lvm:vm-110-disk-0', vmid: 110, size: 8 * 1024 ** 3 })]);

    const startTask = await http.call('POST', '/nodes/pve1/lxc/110/status/start');
    expect(startTask.body.data).toMatch(/:vzstart:110:root@pam!lxcri:$/);
    await http.waitTask(startTask.body.data as string);
    expect(((await http.call('GET', '/nodes/pve1/lxc/110/status/current')).body.data as { status: string }).status).toBe('running');
    const again = await http.call('POST', '/nodes/pve1/lxc/110/status/start');
    expect([again.status, again.statusText]).toEqual([500, 'CT 110 already running']);
    const destroyRunning = await http.call('DELETE', '/nodes/pve1/lxc/110');
    expect(destroyRunning.statusText).toBe('unable to destroy CT 110 - container is running');
    await http.waitTask((await http.call('POST', '/nodes/pve1/lxc/110/status/shutdown', { timeout: 30 })).body.data as string);
    const stopStopped = await http.call('POST', '/nodes/pve1/lxc/110/status/stop');
    expect(stopStopped.statusText).toBe('CT 110 not running');
    const destroy = await http.call('DELETE', '/nodes/pve1/lxc/110', { purge: 1 });
    expect(await http.waitTask(destroy.body.data as string)).toMatchObject({ exitstatus: 'OK', type: 'vzdestroy' });
    const gone = await http.call('GET', '/nodes/pve1/lxc/110/config');
    expect([gone.status, gone.statusText]).toEqual([500, "Configuration file 'nodes/pve1/lxc/110.conf' does not exist"]);
  });

  it('lets exactly one of 20 concurrent creates with one VMID win; the rest fail with "already exists"', async () => {
    const http = await start({ taskDurationsMs: { default: 5, vzcreate: 50 } });
    const replies = await Promise.all(
      Array.from({ length: 20 }, () => http.call('POST', '/nodes/pve1/lxc', { vmid: 130, ostemplate: TEMPLATE, rootfs: 'local-lvm:1' })),
    );
    const winners = replies.filter((r) => r.status === 200);
    const losers = replies.filter((r) => r.status !== 200);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(19);
    for (const loser of losers) {
      expect(loser.status).toBe(500);
      expect(loser.statusText).toMatch(/^(unable to create CT 130 - )?CT 130 already exists on node 'pve1'$/);
    }
    expect(await http.waitTask(winners[0]?.body.data as string)).toMatchObject({ exitstatus: 'OK' });
    expect(sim.handle?.state.cts.size).toBe(1);
  });

  it('keeps the config locked while create runs: start fails with the flock timeout text', async () => {
    const http = await start({ taskDurationsMs: { default: 5, vzcreate: 600 }, lockTimeoutMs: 150 });
    const created = await http.call('POST', '/nodes/pve1/lxc', { vmid: 120, ostemplate: TEMPLATE, rootfs: 'local-lvm:1' });
    const during = await http.call('GET', '/nodes/pve1/lxc/120/config');
    expect((during.body.data as { lock?: string }).lock).toBe('create');
    const began = Date.now();
    const early = await http.call('POST', '/nodes/pve1/lxc/120/status/start');
    expect(Date.now() - began).toBeGreaterThanOrEqual(140);
    expect([early.status, early.statusText]).toEqual([500, "can't lock file '/run/lock/lxc/pve-config-120.lock' - got timeout"]);
    const put = await http.call('PUT', '/nodes/pve1/lxc/120/config', { memory: 256 });
    expect(put.statusText).toBe("can't lock file '/run/lock/lxc/pve-config-120.lock' - got timeout");
    await http.waitTask(created.body.data as string);
    expect((await http.call('POST', '/nodes/pve1/lxc/120/status/start')).status).toBe(200);
  });

  it('checks the config digest on PUT and applies delete', async () => {
    const http = await start();
    await http.waitTask((await http.call('POST', '/nodes/pve1/lxc', { vmid: 140, ostemplate: TEMPLATE, rootfs: 'local-lvm:1', description: 'x' })).body.data as string);
    const { digest } = (await http.call('GET', '/nodes/pve1/lxc/140/config')).body.data as { digest: string };
    expect((await http.call('PUT', '/nodes/pve1/lxc/140/config', { memory: 1024, digest, delete: 'description' })).body.data).toBeNull();
    const stale = await http.call('PUT', '/nodes/pve1/lxc/140/config', { memory: 2048, digest });
    expect([stale.status, stale.statusText]).toEqual([500, 'detected modified configuration - file changed by other user? Try again.']);
    const config = (await http.call('GET', '/nodes/pve1/lxc/140/config')).body.data as Record<string, unknown>;
    expect(config['memory']).toBe(1024);
    expect(config['description']).toBeUndefined();
  });

  it('keeps features beyond nesting, devices and bind mounts for root@pam (a root@pam token is not root@pam)', async () => {
    const http = await start({
      users: [
        createSimulatorUser('root@pam', 'rootpass', { tokens: [createSimulatorToken('ci')] }),
        createSimulatorUser('bob@pve', 'bobpass', { privileges: ['VM.Allocate', 'Datastore.AllocateSpace', 'VM.Config.Disk', 'VM.Audit'] }),
      ],
    });
    const base = { ostemplate: TEMPLATE, rootfs: 'local-lvm:1' };
    const denied = async (params: Record<string, string | number>, text: string): Promise<void> => {
      const reply = await http.call('POST', '/nodes/pve1/lxc', { ...base, ...params });
      expect([reply.status, reply.statusText]).toEqual([403, `Permission check failed (${text})`]);
    };
    await denied({ vmid: 150, features: 'keyctl=1,nesting=1' }, 'changing feature flags (except nesting) is only allowed for root@pam');
    await denied({ vmid: 150, dev0: '/dev/fuse' }, 'configuring device passthrough is only allowed for root@pam');
    await denied({ vmid: 150, rootfs: 'local-lvm:1', mp0: '/srv/data,mp=/data' }, 'mount point type bind is only allowed for root@pam');
    await denied({ vmid: 150, unprivileged: 0, features: 'nesting=1' }, 'changing feature flags for privileged container is only allowed for root@pam');
    expect((await http.call('POST', '/nodes/pve1/lxc', { ...base, vmid: 151, features: 'nesting=1' })).status).toBe(200);
    // root@pam itself (ticket) may do all of it
    const root = await http.login('root@pam', 'rootpass');
    const asRoot = await http.call('POST', '/nodes/pve1/lxc', { ...base, vmid: 152, features: 'keyctl=1,nesting=1', dev0: '/dev/fuse', unprivileged: 0 }, root);
    expect(asRoot.status).toBe(200);
    expect(await http.waitTask(asRoot.body.data as string, root)).toMatchObject({ exitstatus: 'OK', user: 'root@pam' });
    // a user without Sys.Modify cannot create a privileged CT
    const bob = await http.login('bob@pve', 'bobpass');
    const privileged = await http.call('POST', '/nodes/pve1/lxc', { ...base, vmid: 153, unprivileged: 0 }, bob);
    expect([privileged.status, privileged.statusText]).toEqual([403, 'Permission check failed (/, Sys.Modify)']);
  });

  it('hands out the lowest free VMID without reserving it and refuses a taken one', async () => {
    const http = await start({ nodes: ['pve1', 'pve2'] });
    expect((await http.call('GET', '/cluster/nextid')).body.data).toBe('100');
    expect((await http.call('GET', '/cluster/nextid')).body.data).toBe('100');
    await http.waitTask((await http.call('POST', '/nodes/pve2/lxc', { vmid: 100, ostemplate: TEMPLATE, rootfs: 'local-lvm:1' })).body.data as string);
    expect((await http.call('GET', '/cluster/nextid')).body.data).toBe('101');
    const taken = await http.call('GET', '/cluster/nextid', { vmid: 100 });
    expect([taken.status, taken.body.errors]).toEqual([400, { vmid: 'VM 100 already exists' }]);
    // the same VMID on another node of the cluster is taken too
    const other = await http.call('POST', '/nodes/pve1/lxc', { vmid: 100, ostemplate: TEMPLATE, rootfs: 'local-lvm:1' });
    expect(other.statusText).toBe("CT 100 already exists on node 'pve2'");
    const resources = await http.call('GET', '/cluster/resources', { type: 'vm' });
    expect(resources.body.data).toEqual([expect.objectContaining({ id: 'lxc/100', type: 'lxc', node: 'pve2', vmid: 100, status: 'stopped', name: 'CT100' })]);
    const nodes = await http.call('GET', '/cluster/resources', { type: 'node' });
    expect((nodes.body.data as { id: string }[]).map((n) => n.id)).toEqual(['node/pve1', 'node/pve2']);
    const storages = await http.call('GET', '/cluster/resources', { type: 'storage' });
    expect((storages.body.data as { id: string }[]).map((n) => n.id)).toEqual(['storage/pve1/local', 'storage/pve1/local-lvm', 'storage/pve2/local', 'storage/pve2/local-lvm']);
    const missingRootdir = await http.call('POST', '/nodes/pve1/lxc', { vmid: 105, ostemplate: TEMPLATE });
    expect(missingRootdir.body.errors).toEqual({ storage: "storage 'local' does not support container directories" });
  });

  it('lists tasks with PVE filters (source, vmid, type, errors, status, user) and paging', async () => {
    const http = await start({ taskDurationsMs: { default: 5, vzstart: 400 } });
    await http.waitTask((await http.call('POST', '/nodes/pve1/lxc', { vmid: 180, ostemplate: TEMPLATE, rootfs: 'local-lvm:1' })).body.data as string);
    const failed = await http.call('POST', '/nodes/pve1/lxc', { vmid: 181, ostemplate: 'local:vztmpl/missing.tar.gz', rootfs: 'local-lvm:1' });
    await http.waitTask(failed.body.data as string);
    const running = (await http.call('POST', '/nodes/pve1/lxc/180/status/start')).body.data as string;
    const list = async (params: Record<string, string | number>) => {
      const reply = await http.call('GET', '/nodes/pve1/tasks', params);
      return { ids: (reply.body.data as { upid: string; id: string; type: string; status?: string }[]), total: reply.body.total };
    };
    // the default source is the archive: finished tasks only, newest first
    const archive = await list({});
    expect(archive.ids.map((t) => `${t.type}:${t.id}:${t.status}`)).toEqual([
      "vzcreate:181:unable to create CT 181 - can't find file 'local:vztmpl/missing.tar.gz'",
      'vzcreate:180:OK',
    ]);
    expect((await list({ source: 'active' })).ids.map((t) => t.upid)).toEqual([running]);
    expect((await list({ source: 'all' })).total).toBe(3);
    expect((await list({ errors: 1 })).ids.map((t) => t.id)).toEqual(['181']);
    expect((await list({ statusfilter: 'ok' })).ids.map((t) => t.id)).toEqual(['180']);
    expect((await list({ source: 'all', vmid: 180 })).ids.map((t) => t.type)).toEqual(['vzstart', 'vzcreate']);
    expect((await list({ source: 'all', typefilter: 'vzstart' })).ids.map((t) => t.upid)).toEqual([running]);
    expect((await list({ source: 'all', userfilter: 'LXCRI' })).total).toBe(3);
    expect((await list({ source: 'all', userfilter: 'alice' })).total).toBe(0);
    const paged = await list({ source: 'all', start: 1, limit: 1 });
    expect([paged.ids.length, paged.total]).toEqual([1, 3]);
    const bad = await http.call('GET', '/nodes/pve1/tasks', { statusfilter: 'ok,bad' });
    expect(bad.body.errors).toEqual({ statusfilter: "invalid format - invalid status 'bad'\n" });
  });

  it('pages task logs (default limit 50) and reports the total', async () => {
    const http = await start();
    const mounts: Record<string, string> = {};
    for (let i = 0; i < 60; i++) mounts[`mp${i}`] = `local-lvm:1,mp=/mnt/m${i}`;
    const created = await http.call('POST', '/nodes/pve1/lxc', { vmid: 160, ostemplate: TEMPLATE, rootfs: 'local-lvm:1', ...mounts });
    const upid = created.body.data as string;
    await http.waitTask(upid);
    const path = `/nodes/pve1/tasks/${encodeURIComponent(upid)}/log`;
    const first = await http.call('GET', path);
    const lines = first.body.data as { n: number; t: string }[];
    expect(lines).toHaveLength(50);
    expect(first.body.total).toBeGreaterThan(60);
    expect(lines[0]).toEqual({ n: 1, t: '  Logical volume "vm-160-disk-0" created.' });
    const rest = await http.call('GET', path, { start: 50, limit: 500 });
    const tail = rest.body.data as { n: number; t: string }[];
    expect(tail[0]?.n).toBe(51);
    expect(50 + tail.length).toBe(first.body.total);
    expect(tail.at(-1)?.t).toBe('TASK OK');
    const window = await http.call('GET', path, { start: 3, limit: 2 });
    expect((window.body.data as { n: number }[]).map((l) => l.n)).toEqual([4, 5]);
    const wrongNode = await http.call('GET', `/nodes/pve2/tasks/${encodeURIComponent(upid)}/status`);
    expect([wrongNode.status, wrongNode.statusText]).toEqual([500, "hostname lookup 'pve2' failed - failed to get address info for: pve2: Name or service not known"]);
    const garbage = await http.call('GET', '/nodes/pve1/tasks/not-a-upid/status');
    expect(garbage.body.errors).toEqual({ upid: 'unable to parse worker upid' });
    const unknown = await http.call('GET', `/nodes/pve1/tasks/${encodeURIComponent(upid.replace('vzcreate', 'vzstart'))}/status`);
    expect(unknown.body.errors).toEqual({ upid: 'no such task' });
  });
});
