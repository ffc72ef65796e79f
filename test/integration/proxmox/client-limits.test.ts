/**
 * Client limits against the simulator over real HTTPS (issue #13, client items 1, 2, 4 and 6):
 * a reboot whose answer is lost is not re-sent, failed uploads leave no file descriptor open,
 * `tasks.wait({ timeoutMs })` is an overall deadline, and `allocateVmid` stays inside
 * `[min, max]` in `nextid` mode.
 */
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient, type ProxmoxClientOptions } from '../../../src/index.js';
import { startPveSimulator, type PveSimulator } from '../../../src/testing/index.js';
import { caught } from '../../helpers/caught.js';

let sim: PveSimulator;
let dir: string;
const clients: ProxmoxClient[] = [];

beforeAll(async () => {
  sim = await startPveSimulator({ taskDurationsMs: { default: 10, vzstart: 60_000 } });
  dir = await mkdtemp(join(tmpdir(), 'lxcri-client-limits-'));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sim?.close();
  await rm(dir, { recursive: true, force: true });
});

function client(options: Partial<ProxmoxClientOptions> = {}): ProxmoxClient {
  const creds = sim.state.credentials;
  const c = new ProxmoxClient({
    baseUrl: sim.url,
    auth: { type: 'token', tokenId: creds.tokenId!, secret: creds.tokenSecret! },
    tls: { fingerprint256: sim.fingerprint256 },
    retry: { retries: 3, minDelayMs: 5, maxDelayMs: 20 },
    tasks: { pollMinMs: 10, pollMaxMs: 50, timeoutMs: 20_000, logPageSize: 50 },
    ...options,
  });
  clients.push(c);
  return c;
}

async function openFds(): Promise<number> {
  return (await readdir('/proc/self/fd')).length;
}

describe('uploads and failed logins (item 2)', () => {
  it('20 uploads whose login fails leave the fd count unchanged and never open the file', async () => {
    const path = join(dir, 'tiny.tar');
    await writeFile(path, Buffer.alloc(10_240));
    const c = client({ auth: { type: 'password', username: 'root@pam', password: 'wrong-password' }, retry: { retries: 0, minDelayMs: 1, maxDelayMs: 1 } });
    // one failed login first, so pooled connections exist before counting
    await caught(c.version.get());
    const before = await openFds();
    for (let i = 0; i < 20; i++) {
      const e = await caught(c.storage.upload('pve1', 'local', { content: 'vztmpl', source: { path }, checksum: false }));
      expect(e).toMatchObject({ code: 'ERR_PVE_AUTH' });
    }
    expect(await openFds()).toBe(before);
    expect(sim.state.requestLog.filter((e) => e.path.endsWith('/upload'))).toHaveLength(0);
  });
});

describe('tasks.wait deadline (item 4)', () => {
  it('asked for 300 ms with slow polls, it ends near 300 ms with its own timeout carrying the last status', async () => {
    const c = client();
    await c.tasks.wait(await c.lxc.create('pve1', { vmid: 4242, ostemplate: await template(c), rootfs: 'local-lvm:1' }));
    const upid = await c.lxc.start('pve1', 4242); // runs for a minute
    await c.tasks.status(upid); // seen running once
    const fault = sim.state.addFault({ kind: 'latency', match: { path: /\/tasks\/.*\/status$/ }, delayMs: 1500 });
    const started = performance.now();
    const e = await caught(c.tasks.wait(upid, { timeoutMs: 300 }));
    const took = performance.now() - started;
    sim.state.removeFault(fault);
    expect(e).toMatchObject({ code: 'ERR_PVE_TIMEOUT', grpcStatus: 'DeadlineExceeded', details: { upid, timeoutMs: 300 } });
    expect(took).toBeLessThan(1200);
    expect(took).toBeGreaterThanOrEqual(280);

    // with fast polls the last status seen travels with the error
    const e2 = await caught(c.tasks.wait(upid, { timeoutMs: 200 }));
    expect(e2).toMatchObject({ code: 'ERR_PVE_TIMEOUT', details: { lastStatus: { status: 'running', upid } } });
  });
});

let templateVolid: string | undefined;
async function template(c: ProxmoxClient): Promise<string> {
  if (templateVolid) return templateVolid;
  const path = join(dir, 'alpine-rootfs.tar.gz');
  const { gzipSync } = await import('node:zlib');
  const content = Buffer.from('ID=alpine\n');
  const header = Buffer.alloc(512);
  header.write('etc/os-release', 0, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write('00000000000\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const body = Buffer.concat([content, Buffer.alloc(512 - content.length)]);
  await writeFile(path, gzipSync(Buffer.concat([header, body, Buffer.alloc(1024)])));
  const { upid, volid } = await c.storage.upload('pve1', 'local', { content: 'vztmpl', source: { path } });
  await c.tasks.wait(upid);
  templateVolid = volid;
  return volid;
}

describe('allocateVmid range (item 6)', () => {
  it('stays inside the documented 10000-99999 in nextid mode although PVE would hand out 100', async () => {
    const c = client();
    const volid = await template(c);
    const ids: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { vmid, result } = await c.allocateVmid((id, signal) => c.lxc.create('pve1', { vmid: id, ostemplate: volid, rootfs: 'local-lvm:1' }, signal ? { signal } : {}));
      await c.tasks.wait(result);
      ids.push(vmid);
    }
    expect(ids).toEqual([10000, 10001, 10002]);
    expect(await c.cluster.nextid()).toBeLessThan(10000); // PVE's own next id is outside the range

    const narrow = client({ vmid: { mode: 'nextid', min: 20000, max: 20001, maxAttempts: 5 } });
    for (let i = 0; i < 2; i++) await narrow.tasks.wait((await narrow.allocateVmid((id) => narrow.lxc.create('pve1', { vmid: id, ostemplate: volid, rootfs: 'local-lvm:1' }))).result);
    const full = await caught(narrow.allocateVmid((id) => narrow.lxc.create('pve1', { vmid: id, ostemplate: volid, rootfs: 'local-lvm:1' })));
    expect(full).toMatchObject({ code: 'ERR_FAILED_PRECONDITION', message: expect.stringContaining('20000-20001') as string });
    expect([...sim.state.cts.keys()].filter((id) => id >= 20000 && id <= 20001).sort()).toEqual([20000, 20001]);

    const random = client({ vmid: { mode: 'random', min: 30000, max: 30009, maxAttempts: 20 } });
    const r = await random.allocateVmid((id) => random.lxc.create('pve1', { vmid: id, ostemplate: volid, rootfs: 'local-lvm:1' }));
    expect(r.vmid).toBeGreaterThanOrEqual(30000);
    expect(r.vmid).toBeLessThanOrEqual(30009);
    await random.tasks.wait(r.result);
  });
});

describe('non-repeatable calls against the simulator (item 1)', () => {
  it('a reboot whose answer is lost is sent once and reported as outcome unknown; the CT did reboot; interfaces show the DHCP address', async () => {
    const own = await startPveSimulator({ taskDurationsMs: { default: 10 } });
    const creds = own.state.credentials;
    const c = new ProxmoxClient({
      baseUrl: own.url,
      auth: { type: 'token', tokenId: creds.tokenId!, secret: creds.tokenSecret! },
      tls: { fingerprint256: own.fingerprint256 },
      retry: { retries: 3, minDelayMs: 5, maxDelayMs: 20 },
      tasks: { pollMinMs: 5, pollMaxMs: 20, timeoutMs: 20_000, logPageSize: 50 },
    });
    try {
      const tpl = 'local:vztmpl/d.tar.gz';
      await template(client()); // writes alpine-rootfs.tar.gz into dir (and uploads it to the shared simulator)
      await writeFile(own.state.volumePath('pve1', tpl)!, await readFile(join(dir, 'alpine-rootfs.tar.gz')));
      await c.tasks.wait(await c.lxc.create('pve1', { vmid: 4300, ostemplate: tpl, rootfs: 'local-lvm:1', net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }] }));
      await c.tasks.wait(await c.lxc.start('pve1', 4300));
      const before = own.state.requestLog.length;
      own.state.addFault({ kind: 'lose-response', match: { method: 'POST', path: '/nodes/pve1/lxc/4300/status/reboot' }, times: 1 });
      const e = await caught(c.lxc.reboot('pve1', 4300));
      expect(e).toMatchObject({ code: 'ERR_PVE_OUTCOME_UNKNOWN', grpcStatus: 'Unknown' });
      expect(own.state.requestLog.slice(before).filter((r) => r.path === '/nodes/pve1/lxc/4300/status/reboot')).toHaveLength(1);
      const task = [...own.state.tasks.values()].find((t) => t.type === 'vzreboot' && t.id === '4300');
      await task?.done;
      expect(task?.exitstatus).toBe('OK'); // it happened, once

      const ifaces = await c.lxc.interfaces('pve1', 4300);
      expect(ifaces.map((i) => i.name)).toEqual(['lo', 'eth0']);
      expect(ifaces[1]?.inet).toMatch(/^10\.\d+\.\d+\.\d+\/24$/);
      const config = await c.lxc.config('pve1', 4300);
      expect(String(config['net0'])).toContain(`hwaddr=${(ifaces[1]?.hwaddr ?? '').toUpperCase()}`);
    } finally {
      await c.close();
      await own.close();
    }
  });
});
