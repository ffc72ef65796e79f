import { writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { PveSimulatorOptions, PveSimulatorState } from '../../../src/testing/index.js';
import { FRONT_ENDS, useFrontEnd, type PveHttp } from './pve-http.js';
import { rootfsTemplate } from './templates.js';

const TEMPLATE = 'local:vztmpl/alpine-3.20-default_20240908_amd64.tar.gz';

describe.each(FRONT_ENDS)('PVE simulator fault injection (%s)', (frontEnd) => {
  const sim = useFrontEnd(frontEnd);

  async function start(options: PveSimulatorOptions = {}): Promise<{ http: PveHttp; s: { state: PveSimulatorState } }> {
    const handle = await sim.start({ nodes: ['pve1', 'pve2'], ...options });
    for (const node of handle.state.nodes) await writeFile(handle.state.volumePath(node.name, TEMPLATE) ?? '', await rootfsTemplate(TEMPLATE, 'alpine'));
    return { http: handle.http, s: { state: handle.state } };
  }
  const createParams = (vmid: number) => ({ vmid, ostemplate: TEMPLATE, rootfs: 'local-lvm:1' });

  it('http-error: answers matching requests with the given status and message, a given number of times', async () => {
    const { http, s } = await start();
    s.state.addFault({ kind: 'http-error', match: { method: 'GET', path: '/cluster/nextid' }, status: 503, message: 'Service Unavailable', times: 2 });
    for (let i = 0; i < 2; i++) {
      const reply = await http.call('GET', '/cluster/nextid');
      expect([reply.status, reply.statusText, reply.body.message]).toEqual([503, 'Service Unavailable', 'Service Unavailable\n']);
    }
    expect((await http.call('GET', '/cluster/nextid')).status).toBe(200);
    const id = s.state.addFault({ kind: 'http-error', match: { path: /^\/nodes\/pve1\/lxc$/ }, status: 500, message: 'got no worker upid - start worker failed' });
    const create = await http.call('POST', '/nodes/pve1/lxc', createParams(101));
    expect([create.status, create.statusText]).toEqual([500, 'got no worker upid - start worker failed']);
    expect(s.state.cts.has(101)).toBe(false);
    s.state.removeFault(id);
    expect(s.state.requestLog.at(-1)?.fault).toBe('http-error');
  });

  it('latency: delays the answer', async () => {
    const { http, s } = await start();
    s.state.addFault({ kind: 'latency', match: { path: '/version' }, delayMs: 250, times: 1 });
    const began = Date.now();
    expect((await http.call('GET', '/version')).status).toBe(200);
    expect(Date.now() - began).toBeGreaterThanOrEqual(240);
  });

  it('drop-connection: closes the socket without doing anything', async () => {
    const { http, s } = await start();
    s.state.addFault({ kind: 'drop-connection', match: { method: 'POST', path: '/nodes/pve1/lxc' }, times: 1 });
    // a socket error over HTTPS, a `TypeError: Failed to fetch` network error through msw
    await expect(http.call('POST', '/nodes/pve1/lxc', createParams(102))).rejects.toBeInstanceOf(Error);
    expect(s.state.cts.has(102)).toBe(false);
    expect(s.state.requestLog.at(-1)).toMatchObject({ dropped: true, fault: 'drop-connection' });
  });

  it('lose-response: the action happens, the reply is lost', async () => {
    const { http, s } = await start();
    s.state.addFault({ kind: 'lose-response', match: { method: 'POST', path: '/nodes/pve1/lxc' }, times: 1 });
    await expect(http.call('POST', '/nodes/pve1/lxc', createParams(103))).rejects.toBeInstanceOf(Error);
    const entry = s.state.requestLog.at(-1);
    expect(entry).toMatchObject({ dropped: true, fault: 'lose-response', status: 200 });
    expect(entry?.upid).toMatch(/:vzcreate:103:/);
    // the client can find the task it did not get an answer for
    const found = await http.call('GET', '/nodes/pve1/tasks', { vmid: 103, typefilter: 'vzcreate', source: 'all' });
    expect((found.body.data as { upid: string }[]).map((t) => t.upid)).toEqual([entry?.upid]);
    await http.waitTask(entry?.upid ?? '');
    // the CT exists: a retry of the create now fails as on PVE
    expect(s.state.cts.get(103)?.config['hostname']).toBe('CT103');
    const retry = await http.call('POST', '/nodes/pve1/lxc', createParams(103));
    expect(retry.statusText).toBe("CT 103 already exists on node 'pve1'");
  });

  it('task-failure: the worker ends with the given exit status and undoes its work', async () => {
    const { http, s } = await start();
    s.state.addFault({ kind: 'task-failure', taskType: 'vzcreate', vmid: 104, exitStatus: 'unable to create CT 104 - out of space', times: 1 });
    const create = await http.call('POST', '/nodes/pve1/lxc', createParams(104));
    expect(await http.waitTask(create.body.data as string)).toMatchObject({ status: 'stopped', exitstatus: 'unable to create CT 104 - out of space' });
    expect(s.state.cts.has(104)).toBe(false);
    const log = await http.call('GET', `/nodes/pve1/tasks/${encodeURIComponent(create.body.data as string)}/log`);
    expect((log.body.data as { t: string }[]).at(-1)?.t).toBe('TASK ERROR: unable to create CT 104 - out of space');
    // start failure keeps the CT stopped
    await http.waitTask((await http.call('POST', '/nodes/pve1/lxc', createParams(105))).body.data as string);
    s.state.addFault({ kind: 'task-failure', taskType: 'vzstart', exitStatus: 'startup for container \'105\' failed', times: 1 });
    const startTask = await http.call('POST', '/nodes/pve1/lxc/105/status/start');
    expect((await http.waitTask(startTask.body.data as string)).exitstatus).toBe("startup for container '105' failed");
    expect(s.state.cts.get(105)?.status).toBe('stopped');
    // `WARNINGS: n` is no failure: the CT starts, the log ends in TASK WARNINGS
    s.state.addFault({ kind: 'task-failure', taskType: 'vzstart', exitStatus: 'WARNINGS: 2', times: 1 });
    const warned = (await http.call('POST', '/nodes/pve1/lxc/105/status/start')).body.data as string;
    expect((await http.waitTask(warned)).exitstatus).toBe('WARNINGS: 2');
    expect(s.state.cts.get(105)?.status).toBe('running');
    const warnLog = await http.call('GET', `/nodes/pve1/tasks/${encodeURIComponent(warned)}/log`);
    expect((warnLog.body.data as { t: string }[]).map((l) => l.t)).toEqual(['WARN: simulated warning 1', 'WARN: simulated warning 2', 'TASK WARNINGS: 2']);
  });

  it('lock-timeout: waiting for the config lock times out', async () => {
    const { http, s } = await start({ lockTimeoutMs: 100 });
    await http.waitTask((await http.call('POST', '/nodes/pve1/lxc', createParams(106))).body.data as string);
    s.state.addFault({ kind: 'lock-timeout', vmid: 106, times: 1 });
    const began = Date.now();
    const reply = await http.call('POST', '/nodes/pve1/lxc/106/status/start');
    expect(Date.now() - began).toBeGreaterThanOrEqual(90);
    expect([reply.status, reply.statusText]).toEqual([500, "can't lock file '/run/lock/lxc/pve-config-106.lock' - got timeout"]);
    expect((await http.call('POST', '/nodes/pve1/lxc/106/status/start')).status).toBe(200);
  });

  it('node-offline: calls proxied to the node fail with 595/596 and GET /nodes shows it offline', async () => {
    const { http, s } = await start();
    const id = s.state.addFault({ kind: 'node-offline', node: 'pve2' });
    const nodes = (await http.call('GET', '/nodes')).body.data as { node: string; status: string }[];
    expect(nodes.map((n) => [n.node, n.status])).toEqual([
      ['pve1', 'online'],
      ['pve2', 'offline'],
    ]);
    const refused = await http.call('GET', '/nodes/pve2/lxc');
    expect([refused.status, refused.statusText]).toEqual([595, 'Connection refused']);
    expect((await http.call('GET', '/nodes/pve1/lxc')).status).toBe(200);
    s.state.removeFault(id);
    s.state.addFault({ kind: 'node-offline', node: 'pve2', status: 596, times: 1 });
    const broken = await http.call('POST', '/nodes/pve2/lxc', createParams(107));
    expect([broken.status, broken.statusText]).toEqual([596, 'Broken pipe']);
    expect(s.state.cts.has(107)).toBe(false);
    expect((await http.call('GET', '/nodes/pve2/lxc')).status).toBe(200);
  });
});
