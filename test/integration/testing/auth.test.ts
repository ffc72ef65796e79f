import { Agent, request } from 'undici';
import { ProxmoxClient } from '../../../src/proxmox/client.js';
import { describe, expect, it } from 'vitest';
import { createSimulatorToken, createSimulatorUser, startPveSimulator, totp, type PveSimulatorOptions } from '../../../src/testing/index.js';
import { FRONT_ENDS, useFrontEnd, manualClock, type PveHttp } from './pve-http.js';

const TOTP_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DP';

describe('PVE simulator TLS', () => {
  it('serves a self-signed certificate whose SHA-256 fingerprint pins it, and the default trust refuses it', async () => {
    const s = await startPveSimulator({ taskDurationsMs: { default: 5 } });
    try {
      expect(s.fingerprint256).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      const pinned = new Agent({
        connect: {
          rejectUnauthorized: false,
          checkServerIdentity: (_host, cert) => (cert.fingerprint256 === s.fingerprint256 ? undefined : new Error('fingerprint mismatch')),
        },
      });
      const ok = await request(`${s.apiUrl}/nodes`, { dispatcher: pinned, headers: { authorization: s.state.credentials.authorization ?? '' } });
      expect(ok.statusCode).toBe(200);
      // GET /nodes reports the same fingerprint as PVE's ssl_fingerprint.
      expect(((await ok.body.json()) as { data: { ssl_fingerprint: string }[] }).data[0]?.ssl_fingerprint).toBe(s.fingerprint256);
      await pinned.close();
      const strict = new Agent();
      await expect(request(`${s.apiUrl}/version`, { dispatcher: strict })).rejects.toMatchObject({ code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      await strict.close();
    } finally {
      await s.close();
    }
  });
});

describe('PveSimulator.clientOptions()', () => {
  it('gives a ProxmoxClient what reaches the simulator: its URL, the pinned certificate and the first token', async () => {
    const s = await startPveSimulator({ taskDurationsMs: { default: 5 } });
    const client = new ProxmoxClient(s.clientOptions());
    try {
      expect(s.clientOptions()).toEqual({ baseUrl: s.url, tls: { fingerprint256: s.fingerprint256 }, auth: { type: 'token', tokenId: s.state.credentials.tokenId, secret: s.state.credentials.tokenSecret } });
      const version = await client.request<{ version: string }>('GET', '/version');
      expect(version.version).toMatch(/^\d+\.\d+/);
      expect(s.state.requestLog.at(-1)).toMatchObject({ method: 'GET', path: '/version', status: 200 });
    } finally {
      await client.close();
      await s.close();
    }
  });

  it('uses the first user\'s password when that user has no token', async () => {
    const s = await startPveSimulator({ users: [createSimulatorUser('alice@pve', 'correct horse')] });
    const client = new ProxmoxClient(s.clientOptions());
    try {
      expect(s.clientOptions().auth).toEqual({ type: 'password', username: 'alice@pve', password: 'correct horse' });
      await client.request('GET', '/nodes');
      expect(s.state.requestLog.map((r) => `${r.method} ${r.path}`)).toEqual(['POST /access/ticket', 'GET /nodes']);
    } finally {
      await client.close();
      await s.close();
    }
  });
});

describe.each(FRONT_ENDS)('PVE simulator authentication (%s)', (frontEnd) => {
  const sim = useFrontEnd(frontEnd);

  async function start(options: PveSimulatorOptions = {}): Promise<PveHttp> {
    const handle = await sim.start(options);
    return handle.http;
  }

  it('answers 401 "No ticket" without credentials and "authentication failure" for a wrong password, after the configured delay', async () => {
    const api = await start({ authFailureDelayMs: 150 });
    const none = await api.call('GET', '/nodes', {}, { none: true });
    expect([none.status, none.statusText, none.body.message]).toEqual([401, 'No ticket', 'No ticket\n']);
    const began = Date.now();
    const wrong = await api.call('POST', '/access/ticket', { username: 'root@pam', password: 'nope' }, { none: true });
    expect(Date.now() - began).toBeGreaterThanOrEqual(140);
    expect([wrong.status, wrong.statusText]).toEqual([401, 'authentication failure']);
    const unknown = await api.call('POST', '/access/ticket', { username: 'ghost@pve', password: 'nope' }, { none: true });
    expect(unknown.statusText).toBe('authentication failure');
    // only failures wait (pveproxy: 3 s minus the time the request already took)
    const ok0 = Date.now();
    expect((await api.call('POST', '/access/ticket', { username: api.state.credentials.username, password: api.state.credentials.password }, { none: true })).status).toBe(200);
    expect(Date.now() - ok0).toBeLessThan(140);
  });

  it('issues tickets in PVE format and requires the CSRF token on non-GET calls', async () => {
    const api = await start();
    const { ticket, csrf } = await api.login();
    expect(ticket).toMatch(/^PVE:root@pam:[0-9A-F]{8}::[A-Za-z0-9+/=]+$/);
    expect(csrf).toMatch(/^[0-9A-F]{8}:\S+$/);
    const get = await api.call('GET', '/cluster/nextid', {}, { ticket });
    expect(get.body.data).toBe('100');
    const noCsrf = await api.call('PUT', '/nodes/pve1/lxc/100/config', { memory: 256 }, { ticket });
    expect([noCsrf.status, noCsrf.statusText]).toEqual([401, 'Permission denied - invalid csrf token']);
    const badCsrf = await api.call('PUT', '/nodes/pve1/lxc/100/config', { memory: 256 }, { ticket, csrf: `${csrf.slice(0, 9)}AAAA` });
    expect(badCsrf.statusText).toBe('Permission denied - invalid csrf token');
    // With the token the call reaches the handler (which then finds no CT 100).
    const withCsrf = await api.call('PUT', '/nodes/pve1/lxc/100/config', { memory: 256 }, { ticket, csrf });
    expect([withCsrf.status, withCsrf.statusText]).toEqual([500, "Configuration file 'nodes/pve1/lxc/100.conf' does not exist"]);
    const log = api.state.requestLog.filter((e) => e.path === '/nodes/pve1/lxc/100/config');
    expect(log.map((e) => e.status)).toEqual([401, 401, 500]);
    expect(log[2]?.auth).toEqual({ kind: 'ticket', userid: 'root@pam' });
  });

  it('expires tickets after the lifetime (injected clock) and renews them by posting the ticket as password', async () => {
    const clock = manualClock();
    const api = await start({ clock, ticketLifetimeMs: 7_200_000 });
    const first = await api.login();
    clock.advance(3_600_000);
    const renewed = await api.call('POST', '/access/ticket', { username: 'root@pam', password: first.ticket }, { none: true });
    expect(renewed.status).toBe(200);
    const second = renewed.body.data as { ticket: string; CSRFPreventionToken: string };
    expect(second.ticket).not.toBe(first.ticket);
    clock.advance(3_600_001);
    // first ticket is now 2 h + 1 ms old: refused; the renewed one still works
    const old = await api.call('GET', '/nodes', {}, { ticket: first.ticket });
    expect([old.status, old.statusText]).toEqual([401, 'Authentication failed!']);
    expect((await api.call('GET', '/nodes', {}, { ticket: second.ticket })).status).toBe(200);
    const lateRenewal = await api.call('POST', '/access/ticket', { username: 'root@pam', password: first.ticket }, { none: true });
    expect([lateRenewal.status, lateRenewal.statusText]).toEqual([401, 'authentication failure']);
    // a ticket cannot be renewed for another user
    const otherUser = await api.call('POST', '/access/ticket', { username: 'alice@pve', password: second.ticket }, { none: true });
    expect(otherUser.status).toBe(401);
  });

  it('uses the pre-9.1.5 401 texts in 8.4 mode', async () => {
    const clock = manualClock();
    const api = await start({ version: '8.4', clock });
    const { ticket } = await api.login();
    clock.advance(7_200_001);
    const expired = await api.call('GET', '/nodes', {}, { ticket });
    expect(expired.statusText).toBe('permission denied - invalid PVE ticket');
    const badToken = await api.call('GET', '/nodes', {}, { token: 'PVEAPIToken=root@pam!lxcri=00000000-0000-0000-0000-000000000000' });
    expect([badToken.status, badToken.statusText]).toEqual([401, 'invalid token value!']);
    const noToken = await api.call('GET', '/nodes', {}, { token: 'PVEAPIToken=root@pam!other=x' });
    expect(noToken.statusText).toBe("no such token 'other' for user 'root@pam'");
    expect(((await api.call('GET', '/version')).body.data as { version: string }).version).toMatch(/^8\.4\./);
  });

  it('runs two-step TFA with a real TOTP code', async () => {
    const clock = manualClock();
    const api = await start({
      clock,
      users: [
        createSimulatorUser('root@pam', 'rootpw', { tokens: [createSimulatorToken('ci')] }),
        createSimulatorUser('alice@pve', 'alicepw', { totpSecret: TOTP_SECRET }),
      ],
    });
    const step1 = await api.call('POST', '/access/ticket', { username: 'alice@pve', password: 'alicepw' }, { none: true });
    expect(step1.status).toBe(200);
    const half = step1.body.data as { ticket: string; NeedTFA: number; cap?: unknown };
    expect(half.NeedTFA).toBe(1);
    expect(half.cap).toBeUndefined();
    expect(half.ticket).toMatch(/^PVE:!tfa!\{"totp"%3Atrue\}:[0-9A-F]{8}::/);
    // the half ticket is no API ticket
    expect((await api.call('GET', '/nodes', {}, { ticket: half.ticket })).status).toBe(401);
    // a wrong code, a bare code, and `otp` next to `tfa-challenge` are all refused
    const wrongCode = String((Number(totp(TOTP_SECRET, clock.now())) + 1) % 1_000_000).padStart(6, '0');
    for (const params of [
      { username: 'alice@pve', 'tfa-challenge': half.ticket, password: `totp:${wrongCode}` },
      { username: 'alice@pve', 'tfa-challenge': half.ticket, password: totp(TOTP_SECRET, clock.now()) },
      { username: 'alice@pve', 'tfa-challenge': half.ticket, password: `totp:${totp(TOTP_SECRET, clock.now())}`, otp: '123456' },
    ]) {
      const reply = await api.call('POST', '/access/ticket', params, { none: true });
      expect([reply.status, reply.statusText]).toEqual([401, 'authentication failure']);
    }
    const step2 = await api.call(
      'POST',
      '/access/ticket',
      { username: 'alice@pve', 'tfa-challenge': half.ticket, password: `totp:${totp(TOTP_SECRET, clock.now())}` },
      { none: true },
    );
    expect(step2.status).toBe(200);
    const full = step2.body.data as { ticket: string; NeedTFA?: number };
    expect(full.NeedTFA).toBeUndefined();
    expect((await api.call('GET', '/nodes', {}, { ticket: full.ticket })).status).toBe(200);
    // the one-step path with otp=totp:<code>
    const oneStep = await api.call('POST', '/access/ticket', { username: 'alice@pve', password: 'alicepw', otp: `totp:${totp(TOTP_SECRET, clock.now())}` }, { none: true });
    expect((oneStep.body.data as { ticket: string }).ticket).toMatch(/^PVE:alice@pve:/);
    // the challenge expires
    clock.advance(301_000);
    const late = await api.call('POST', '/access/ticket', { username: 'alice@pve', 'tfa-challenge': half.ticket, password: `totp:${totp(TOTP_SECRET, clock.now())}` }, { none: true });
    expect(late.status).toBe(401);
    // the password never reaches the request log
    const logged = api.state.requestLog.filter((e) => e.path === '/access/ticket');
    expect(JSON.stringify(logged)).not.toContain('alicepw');
    expect(logged[0]?.params).toMatchObject({ username: 'alice@pve', password: '[REDACTED]' });
  });

  it('accepts API tokens without CSRF, refuses bad ones, and never lets a token create tickets', async () => {
    const api = await start();
    const auth = api.state.credentials.authorization ?? '';
    const created = await api.call('POST', '/nodes/pve1/lxc', { vmid: 150, ostemplate: 'local:vztmpl/none.tar.zst', rootfs: 'local-lvm:1' }, { token: auth });
    expect(created.status).toBe(200);
    const upid = created.body.data as string;
    expect(upid).toMatch(/^UPID:pve1:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:vzcreate:150:root@pam!lxcri:$/);
    const status = await api.waitTask(upid);
    expect(status).toMatchObject({ user: 'root@pam', tokenid: 'lxcri', type: 'vzcreate', id: '150' });
    const bad = await api.call('GET', '/nodes', {}, { token: auth.replace(/=[^=]+$/, '=wrong') });
    expect([bad.status, bad.statusText]).toEqual([401, 'Authentication failed!']);
    const ticket = await api.call('POST', '/access/ticket', { username: 'root@pam', password: 'x' }, { token: auth });
    expect(ticket.status).toBe(403);
    expect(ticket.statusText).toBe("Permission check failed (URI '/access/ticket' not available with API token, need proper ticket.");
    const entry = api.state.requestLog.find((e) => e.upid === upid);
    expect(entry?.auth).toEqual({ kind: 'token', userid: 'root@pam', tokenId: 'root@pam!lxcri' });
    expect(JSON.stringify(api.state.requestLog)).not.toContain(api.state.credentials.tokenSecret);
  });
});
