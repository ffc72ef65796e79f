/**
 * The default transport in-process under msw with the simulator's own handlers (the global fetch
 * is intercepted although the client passes its undici Agent as dispatcher), and the PVE 8.4
 * flavour of the simulator (legacy 401 texts).
 */
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from '../../../src/index.js';
import { PveSimulatorState, pveSimulatorHandlers, startPveSimulator, totp, type PveSimulator } from '../../../src/testing/index.js';

const TFA_SECRET = 'KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU';

describe('default transport under msw with pveSimulatorHandlers', () => {
  let state: PveSimulatorState;
  const server = setupServer();
  beforeAll(async () => {
    state = await PveSimulatorState.create({
      taskDurationsMs: { default: 5 },
      users: [{ userid: 'root@pam', password: 'msw-root-pass', totpSecret: TFA_SECRET, tokens: [{ name: 'ci', secret: 'b6f0a3c1-1111-4222-8333-944455556666' }] }],
    });
    server.use(...(await pveSimulatorHandlers(state, { baseUrl: 'https://pve.msw.test:8006' })));
    server.listen({ onUnhandledRequest: 'error' });
  });
  afterAll(async () => {
    server.close();
    await state.close();
  });

  it('runs token and TFA sessions, creates and waits, all in-process', async () => {
    const token = new ProxmoxClient({ baseUrl: 'https://pve.msw.test:8006', auth: { type: 'token', tokenId: 'root@pam!ci', secret: 'b6f0a3c1-1111-4222-8333-944455556666' } });
    const tfa = new ProxmoxClient({
      baseUrl: 'https://pve.msw.test:8006',
      auth: { type: 'password', username: 'root@pam', password: 'msw-root-pass', otp: () => totp(TFA_SECRET) },
      tasks: { pollMinMs: 5, pollMaxMs: 20, timeoutMs: 10_000, logPageSize: 100 },
    });
    try {
      expect((await token.version.get()).release).toBe('9.1');
      const nextid = await tfa.cluster.nextid();
      expect(nextid).toBeGreaterThanOrEqual(100);
      const e = await tfa.lxc.create('pve1', { vmid: nextid, ostemplate: 'local:vztmpl/missing.tar', rootfs: 'local-lvm:1' }).then(
        (upid) => tfa.tasks.wait(upid).then(() => undefined, (err: unknown) => err),
        (err: unknown) => err,
      );
      // the template does not exist: the create task (or the call) fails with PVE's text
      expect(String((e as Error).message)).toMatch(/missing\.tar/);
      const paths = state.requestLog.map((r) => `${r.method} ${r.path} ${r.auth.kind}`);
      expect(paths[0]).toBe('GET /version token');
      expect(paths.filter((p) => p.startsWith('POST /access/ticket'))).toHaveLength(2);
      expect(state.requestLog.filter((r) => r.status === 400)).toEqual([]);
    } finally {
      await token.close();
      await tfa.close();
    }
  });
});

describe('PVE 8.4 simulator (legacy auth texts)', () => {
  let sim: PveSimulator;
  let now = Date.now();
  beforeAll(async () => {
    sim = await startPveSimulator({ version: '8.4', clock: { now: () => now } });
  });
  afterAll(async () => {
    await sim.close();
  });

  it("re-logs in after 'permission denied - invalid PVE ticket' and refuses a bad token", async () => {
    const creds = sim.state.credentials;
    const frozen = now;
    const c = new ProxmoxClient({ baseUrl: sim.url, auth: { type: 'password', username: creds.username, password: creds.password }, tls: { ca: sim.cert }, clock: { now: () => frozen } });
    const bad = new ProxmoxClient({ baseUrl: sim.url, auth: { type: 'token', tokenId: creds.tokenId!, secret: 'not-the-secret' }, tls: { ca: sim.cert } });
    try {
      expect((await c.version.get()).release).toBe('8.4');
      now += 3 * 3_600_000;
      const mark = sim.state.requestLog.length;
      await c.version.get();
      expect(sim.state.requestLog.slice(mark).map((e) => `${e.status} ${e.statusText}`)).toEqual([
        '401 permission denied - invalid PVE ticket',
        '200 OK',
        '200 OK',
      ]);
      await expect(bad.version.get()).rejects.toMatchObject({ code: 'ERR_PVE_AUTH', details: { status: 401, tokenId: creds.tokenId } });
    } finally {
      await c.close();
      await bad.close();
    }
  });
});
