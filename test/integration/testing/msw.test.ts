import { readFile, writeFile } from 'node:fs/promises';
import { setupServer } from 'msw/node';
import { Agent, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PveSimulatorState, createSimulatorUser, pveSimulatorHandlers, startPveSimulator, totp } from '../../../src/testing/index.js';
import { rootfsTemplate } from './templates.js';

const BASE = 'https://pve.simulator.test:8006';
const TEMPLATE = 'local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.gz';
const TOTP_SECRET = 'KRSXG5CTMVRXEZLUKRSXG5CT';

describe('PVE simulator through msw (global fetch, in-process)', () => {
  let state: PveSimulatorState;
  const server = setupServer();

  beforeAll(async () => {
    state = await PveSimulatorState.create({
      taskDurationsMs: { default: 5 },
      users: [
        createSimulatorUser('root@pam', 'secret-root', { tokens: [{ name: 'msw', secret: '11111111-2222-3333-4444-555555555555' }] }),
        createSimulatorUser('tfa@pve', 'tfa-pass', { totpSecret: TOTP_SECRET }),
      ],
    });
    await writeFile(state.volumePath('pve1', TEMPLATE) ?? '', await rootfsTemplate(TEMPLATE, 'ubuntu'));
    server.listen({ onUnhandledRequest: 'error' });
    server.use(...(await pveSimulatorHandlers(state, { baseUrl: BASE })));
  });
  afterEach(() => state.clearFaults());
  afterAll(async () => {
    server.close();
    await state.close();
  });

  const token = 'PVEAPIToken=root@pam!msw=11111111-2222-3333-4444-555555555555';
  async function call(method: string, path: string, init: { body?: string | Buffer; headers?: Record<string, string> } = {}) {
    const res = await fetch(`${BASE}/api2/json${path}`, {
      method,
      headers: { authorization: token, ...(typeof init.body === 'string' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...init.headers },
      ...(init.body !== undefined ? { body: init.body } : {}),
    });
    return { status: res.status, statusText: res.statusText, body: (await res.json()) as { data: unknown; errors?: Record<string, string>; message?: string } };
  }
  /** Waits for the task's end (the simulator's own event), then reads its status over the API. */
  async function waitTask(upid: string): Promise<{ exitstatus?: string }> {
    await state.tasks.get(upid)?.done;
    const reply = await call('GET', `/nodes/pve1/tasks/${encodeURIComponent(upid)}/status`);
    const data = reply.body.data as { status: string; exitstatus?: string };
    expect(data.status).toBe('stopped');
    return data;
  }

  it('logs in, refuses a write without CSRF, and creates a CT with the CSRF token', async () => {
    const login = await call('POST', '/access/ticket', { body: new URLSearchParams({ username: 'root@pam', password: 'secret-root' }).toString(), headers: { authorization: '' } });
    const { ticket, CSRFPreventionToken } = login.body.data as { ticket: string; CSRFPreventionToken: string };
    const cookie = `PVEAuthCookie=${encodeURIComponent(ticket)}`;
    const body = new URLSearchParams({ vmid: '300', ostemplate: TEMPLATE, rootfs: 'local-lvm:2' }).toString();
    const denied = await call('POST', '/nodes/pve1/lxc', { body, headers: { authorization: '', cookie } });
    expect([denied.status, denied.statusText]).toEqual([401, 'Permission denied - invalid csrf token']);
    const created = await call('POST', '/nodes/pve1/lxc', { body, headers: { authorization: '', cookie, csrfpreventiontoken: CSRFPreventionToken } });
    expect(created.status).toBe(200);
    expect(await waitTask(created.body.data as string)).toMatchObject({ exitstatus: 'OK' });
    const config = await call('GET', '/nodes/pve1/lxc/300/config');
    expect(config.body.data).toMatchObject({ hostname: 'CT300', ostype: 'ubuntu', unprivileged: 1 });
    expect(state.requestLog.some((e) => e.path === '/nodes/pve1/lxc' && e.auth.kind === 'ticket' && e.status === 200)).toBe(true);
  });

  it('answers parameter errors with PVE texts', async () => {
    const reply = await call('POST', '/nodes/pve1/lxc', { body: 'vmid=42&ostemplate=x&swap=-1' });
    expect(reply.status).toBe(400);
    expect(reply.statusText).toBe('Parameter verification failed.');
    expect(reply.body.errors).toEqual({ vmid: 'invalid format - value does not look like a valid VM ID\n', swap: 'value must have a minimum value of 0' });
  });

  it('does TFA in two steps', async () => {
    const step1 = await call('POST', '/access/ticket', { body: 'username=tfa%40pve&password=tfa-pass', headers: { authorization: '' } });
    const half = step1.body.data as { ticket: string; NeedTFA: number };
    expect(half.NeedTFA).toBe(1);
    const step2 = await call('POST', '/access/ticket', {
      body: new URLSearchParams({ username: 'tfa@pve', 'tfa-challenge': half.ticket, password: `totp:${totp(TOTP_SECRET)}` }).toString(),
      headers: { authorization: '' },
    });
    expect((step2.body.data as { ticket: string }).ticket).toMatch(/^PVE:tfa@pve:/);
  });

  it('turns dropped connections and lost responses into fetch network errors', async () => {
    state.addFault({ kind: 'drop-connection', match: { path: '/version' }, times: 1 });
    await expect(call('GET', '/version')).rejects.toThrow(TypeError);
    state.addFault({ kind: 'lose-response', match: { method: 'POST', path: '/nodes/pve1/lxc' }, times: 1 });
    await expect(call('POST', '/nodes/pve1/lxc', { body: `vmid=301&ostemplate=${encodeURIComponent(TEMPLATE)}&rootfs=local-lvm%3A1` })).rejects.toThrow(TypeError);
    expect(state.cts.has(301)).toBe(true);
  });

  it('uploads through msw with an explicit Content-Length', async () => {
    const boundary = 'msw-boundary';
    const payload = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="content"\r\n\r\nvztmpl\r\n--${boundary}\r\nContent-Disposition: form-data; name="filename"; filename="msw.tar.gz"\r\n\r\nGZDATA\r\n--${boundary}--\r\n`,
    );
    const reply = await call('POST', '/nodes/pve1/storage/local/upload', {
      body: payload,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}`, 'content-length': String(payload.length) },
    });
    expect(reply.status).toBe(200);
    await waitTask(reply.body.data as string);
    expect(await readFile(state.volumePath('pve1', 'local:vztmpl/msw.tar.gz') ?? '', 'utf8')).toBe('GZDATA');
  });

  it('shares one state with the HTTPS front end', async () => {
    const https = await startPveSimulator({}, { state });
    const agent = new Agent({ connect: { ca: https.cert } });
    try {
      const res = await request(`${https.apiUrl}/nodes/pve1/lxc`, { dispatcher: agent, headers: { authorization: token } });
      const list = ((await res.body.json()) as { data: { vmid: number }[] }).data;
      expect(list.map((ct) => ct.vmid)).toContain(300);
    } finally {
      await agent.close();
      await https.close();
    }
    // the shared state stays usable after the HTTPS front end closed
    expect((await call('GET', '/nodes/pve1/lxc/300/status/current')).status).toBe(200);
  });
});
