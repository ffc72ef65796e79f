/**
 * Request safety (issue #13, client items 1, 3, 5 and the extras): which calls are re-sent after a
 * lost answer, what a lost answer of a non-repeatable call reports, logins past their deadline,
 * a shared login nobody waits for, one-time TFA answers, background renewal, credentials in the
 * base URL, a refused pre-obtained ticket and the bounded scrub set (msw, in-process).
 */
import { http, HttpResponse, delay } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProxmoxClient, type ProxmoxClientOptions } from '../../../src/index.js';
import { AuthSession } from '../../../src/proxmox/transport/auth.js';
import { caught } from '../../helpers/caught.js';

const BASE = 'https://pve.test:8006';
const API = `${BASE}/api2/json`;
const TOKEN_SECRET = '5b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
const PASSWORD = 'correct-horse-battery';
const HALF = 'PVE:!tfa!%7B%22totp%22%3Atrue%7D:6745A1B2::aGFsZi10aWNrZXQ=';

const json = (data: unknown, init: { status?: number; statusText?: string } = {}): Response =>
  new HttpResponse(JSON.stringify({ data }), {
    status: init.status ?? 200,
    ...(init.statusText ? { statusText: init.statusText } : {}),
    headers: { 'content-type': 'application/json;charset=UTF-8' },
  });

const ticketOf = (n: number): string => `PVE:root@pam:${(0x6745a1b2 + n).toString(16).toUpperCase()}::dGlja2V0LXNpZ25hdHVyZS0${n}=`;
const csrfOf = (n: number): string => `6745A1B2:Y3NyZi10b2tlbi0${n}`;

const seen: { method: string; path: string; body: string }[] = [];
const server = setupServer();
server.events.on('request:start', async ({ request }) => {
  seen.push({ method: request.method, path: new URL(request.url).pathname.replace('/api2/json', ''), body: request.method === 'GET' ? '' : await request.clone().text() });
});
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => {
  server.resetHandlers();
  seen.length = 0;
});
afterAll(() => server.close());
const clients: ProxmoxClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
function client(options: Partial<ProxmoxClientOptions> = {}): ProxmoxClient {
  const c = new ProxmoxClient({
    baseUrl: BASE,
    auth: { type: 'token', tokenId: 'lxcri@pve!ci', secret: TOKEN_SECRET },
    retry: { retries: 3, minDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  clients.push(c);
  return c;
}
const count = (method: string, path: string): number => seen.filter((s) => s.method === method && s.path === path).length;

describe('re-sending is decided by the endpoint, not the method (item 1)', () => {
  it('sends PUT …/resize once after a lost answer and reports the outcome as unknown', async () => {
    server.use(http.put(`${API}/nodes/pve1/lxc/101/resize`, () => HttpResponse.error()));
    const e = await caught(client().request('PUT', '/nodes/pve1/lxc/101/resize', { disk: 'rootfs', size: '+8G' }));
    expect(e).toMatchObject({ code: 'ERR_PVE_OUTCOME_UNKNOWN', grpcStatus: 'Unknown', details: { method: 'PUT', path: '/nodes/pve1/lxc/101/resize' } });
    expect(e.message).toMatch(/may or may not have been carried out/);
    expect(count('PUT', '/nodes/pve1/lxc/101/resize')).toBe(1);
  });

  it('never re-sends status actions, migrate, snapshot or an unknown PUT/POST — not even when the caller says idempotent for a known one', async () => {
    server.use(
      http.post(`${API}/nodes/pve1/lxc/101/status/reboot`, () => HttpResponse.error()),
      http.post(`${API}/nodes/pve1/lxc/101/migrate`, () => HttpResponse.error()),
      http.post(`${API}/nodes/pve1/lxc/101/snapshot`, () => HttpResponse.error()),
      http.put(`${API}/nodes/pve1/lxc/101/firewall/options`, () => HttpResponse.error()),
      http.post(`${API}/nodes/pve1/lxc/101/feature`, () => HttpResponse.error()),
    );
    const c = client();
    for (const [method, path, idempotent] of [
      ['POST', '/nodes/pve1/lxc/101/status/reboot', true],
      ['POST', '/nodes/pve1/lxc/101/migrate', true],
      ['POST', '/nodes/pve1/lxc/101/snapshot', undefined],
      ['PUT', '/nodes/pve1/lxc/101/firewall/options', undefined],
      ['POST', '/nodes/pve1/lxc/101/feature', undefined],
    ] as const) {
      const e = await caught(c.request(method, path, { x: 1 }, idempotent === undefined ? {} : { idempotent }));
      expect(e.code, path).toBe('ERR_PVE_OUTCOME_UNKNOWN');
      expect(count(method, path), path).toBe(1);
    }
  });

  it('re-sends GETs, a config PUT that allocates nothing, and writes the caller marks idempotent', async () => {
    const failFirst = (): (() => Response) => {
      let n = 0;
      return () => (++n === 1 ? HttpResponse.error() : json(null));
    };
    server.use(
      http.put(`${API}/nodes/pve1/lxc/101/config`, failFirst()),
      http.put(`${API}/nodes/pve1/lxc/101/firewall/options`, failFirst()),
      http.get(`${API}/nodes/pve1/dns`, failFirst()),
    );
    const c = client();
    expect(await c.request('PUT', '/nodes/pve1/lxc/101/config', { memory: 1024 })).toBeNull();
    expect(await c.request('PUT', '/nodes/pve1/lxc/101/firewall/options', { enable: 1 }, { idempotent: true })).toBeNull();
    expect(await c.request('GET', '/nodes/pve1/dns')).toBeNull();
    expect([count('PUT', '/nodes/pve1/lxc/101/config'), count('PUT', '/nodes/pve1/lxc/101/firewall/options'), count('GET', '/nodes/pve1/dns')]).toEqual([2, 2, 2]);
    seen.length = 0;
    server.use(http.put(`${API}/nodes/pve1/lxc/101/config`, () => HttpResponse.error()));
    expect(await caught(c.request('PUT', '/nodes/pve1/lxc/101/config', { mp0: 'local-lvm:8,mp=/data' }))).toMatchObject({ code: 'ERR_PVE_OUTCOME_UNKNOWN' });
    expect(count('PUT', '/nodes/pve1/lxc/101/config')).toBe(1);
  });

  it('a create whose answer is lost past its deadline is an unknown outcome too', async () => {
    server.use(
      http.post(`${API}/nodes/pve1/lxc`, async () => {
        await delay(300);
        return json('UPID:pve1:00001234:00005678:6745A1B2:vzcreate:101:root@pam:');
      }),
    );
    const e = await caught(client().lxc.create('pve1', { vmid: 101, ostemplate: 'local:vztmpl/a.tar' }, { timeoutMs: 30 }));
    expect(e).toMatchObject({ code: 'ERR_PVE_OUTCOME_UNKNOWN', cause: { code: 'ERR_PVE_TIMEOUT' } });
    expect(count('POST', '/nodes/pve1/lxc')).toBe(1);
  });
});

describe('credentials in baseUrl (item 5)', () => {
  it('refuses user:password@ at option parsing without echoing the URL', () => {
    const e = (() => {
      try {
        client({ baseUrl: 'https://root%40pam:s3cret-Pa55@pve.test:8006' });
      } catch (error) {
        return error as Error & { code?: string };
      }
      return undefined;
    })();
    expect(e).toMatchObject({ code: 'ERR_INVALID_OPTIONS', message: expect.stringContaining('baseUrl must not carry credentials') as string });
    expect(JSON.stringify(e) + String(e?.message)).not.toContain('s3cret-Pa55');
    expect(() => client({ baseUrl: 'https://user@pve.test:8006' })).toThrow(/baseUrl must not carry credentials/);
    expect(client({ baseUrl: 'https://pve.test:8006/api2/json' }).baseUrl).toBe(BASE);
  });
});

describe('logins (item 3)', () => {
  it('a login slower than the request deadline is a DeadlineExceeded timeout, and the shared login stops once nobody waits', async () => {
    let logins = 0;
    const loginAborted: boolean[] = [];
    server.use(
      http.post(`${API}/access/ticket`, async ({ request }) => {
        logins++;
        // answers only once the client gives up on it (the test's own timeout catches a hang)
        await new Promise<void>((resolve) => {
          request.signal.addEventListener('abort', () => {
            loginAborted.push(true);
            resolve();
          });
        });
        return HttpResponse.json({ data: { username: 'root@pam', ticket: ticketOf(1), CSRFPreventionToken: csrfOf(1) } });
      }),
    );
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD }, retry: { retries: 0, minDelayMs: 1, maxDelayMs: 1 }, timeoutMs: 5000 });
    const e = await caught(c.version.get({ timeoutMs: 50 }));
    expect(e).toMatchObject({ code: 'ERR_PVE_TIMEOUT', grpcStatus: 'DeadlineExceeded', retryable: true });
    // the only waiter gave up: the login request is cancelled instead of running (and retrying) on
    await vi.waitFor(() => expect(loginAborted).toEqual([true]), { timeout: 3000, interval: 5 });
    expect(logins).toBe(1);
  });

  it("a shared login past its own deadline is a timeout for its waiters, not a cancellation", async () => {
    // a login endpoint that never answers; the session's own 80 ms deadline ends it
    const secrets = new Set<string>();
    const session = new AuthSession(
      { type: 'password', username: 'root@pam', password: PASSWORD, renewAfterMs: 3_600_000 },
      secrets,
      Date,
      (_params, signal) =>
        new Promise((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('login request aborted')), { once: true })),
      80,
    );
    const e = await caught(session.login(AbortSignal.timeout(5000)));
    expect(e).toMatchObject({ code: 'ERR_PVE_TIMEOUT', grpcStatus: 'DeadlineExceeded', retryable: true, message: expect.stringContaining('did not finish within 80 ms') as string });
  });

  it('sends a TFA answer once even when its answer is lost, and uses a static otp for the first login only', async () => {
    let tfaPosts = 0;
    let plainLogins = 0;
    let loseTfa = true;
    server.use(
      http.post(`${API}/access/ticket`, async ({ request }) => {
        const form = new URLSearchParams(await request.text());
        if (form.get('tfa-challenge')) {
          tfaPosts++;
          if (loseTfa) return HttpResponse.error();
          return HttpResponse.json({ data: { username: 'root@pam', ticket: ticketOf(2), CSRFPreventionToken: csrfOf(2) } });
        }
        plainLogins++;
        return HttpResponse.json({ data: { username: 'root@pam', ticket: HALF, CSRFPreventionToken: csrfOf(0), NeedTFA: 1 } });
      }),
      http.get(`${API}/version`, ({ request }) =>
        request.headers.get('cookie')?.includes(encodeURIComponent(ticketOf(2))) ? json({ version: '9.1.3', release: '9.1', repoid: 'x' }) : json(null, { status: 401, statusText: 'Authentication failed!' }),
      ),
    );
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD, otp: '123456' }, retry: { retries: 0, minDelayMs: 1, maxDelayMs: 1 } });
    const first = await caught(c.version.get());
    expect(first.code).toBe('ERR_PVE_NETWORK'); // a lost login answer: nothing changed on PVE, but the code is spent
    expect(tfaPosts).toBe(1); // the one-time code went out once, not 4 times
    loseTfa = false;
    // the static code was spent on the first login: the next login asks for a provider instead of re-sending it
    const second = await caught(c.version.get());
    expect(second).toMatchObject({ code: 'ERR_PVE_AUTH', details: { reason: 'tfa-required' } });
    expect(second.message).toMatch(/pass otp as a function/);
    expect(tfaPosts).toBe(1);
    expect(plainLogins).toBe(2);

    // a provider is asked at every login
    const codes = ['111111', '222222'];
    const asked: string[] = [];
    const withProvider = client({
      auth: {
        type: 'password',
        username: 'root@pam',
        password: PASSWORD,
        otp: () => {
          const code = codes.shift() ?? '000000';
          asked.push(code);
          return code;
        },
      },
    });
    expect((await withProvider.version.get()).release).toBe('9.1');
    expect(asked).toEqual(['111111']);
  });

  it('a refused pre-obtained ticket reports reason ticket-expired, also when refused on renewal', async () => {
    server.use(
      http.post(`${API}/access/ticket`, () => json(null, { status: 401, statusText: 'authentication failure' })),
      http.get(`${API}/version`, () => json(null, { status: 401, statusText: 'Authentication failed!' })),
    );
    const fresh = client({ auth: { type: 'ticket', username: 'root@pam', ticket: ticketOf(1), csrfToken: csrfOf(1), issuedAt: Date.now() } });
    expect(await caught(fresh.version.get())).toMatchObject({ code: 'ERR_PVE_AUTH', details: { reason: 'ticket-expired' } });
    const old = client({ auth: { type: 'ticket', username: 'root@pam', ticket: ticketOf(1), csrfToken: csrfOf(1), issuedAt: Date.now() - 119 * 60_000 } });
    expect(await caught(old.version.get())).toMatchObject({ code: 'ERR_PVE_AUTH', details: { reason: 'ticket-expired' } });
  });

  it('keeps the scrub set bounded across many renewals while still scrubbing the current ticket', async () => {
    let n = 0;
    server.use(
      http.post(`${API}/access/ticket`, () => {
        n++;
        return HttpResponse.json({ data: { username: 'root@pam', ticket: ticketOf(n), CSRFPreventionToken: csrfOf(n) } });
      }),
      http.get(`${API}/version`, ({ request }) => {
        const cookie = decodeURIComponent(request.headers.get('cookie') ?? '');
        // PVE echoing the ticket in an error: it must be scrubbed
        return json(null, { status: 500, statusText: `internal error with ${cookie.replace('PVEAuthCookie=', '')}` });
      }),
    );
    let now = 1_000_000;
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD }, retry: { retries: 0, minDelayMs: 1, maxDelayMs: 1 }, clock: { now: () => now } });
    for (let i = 0; i < 40; i++) {
      now += 7_300_000; // past expiry each time: a blocking re-login
      const e = await caught(c.version.get());
      expect(e.message).not.toContain(ticketOf(n));
      expect(e.message).toContain('internal error with');
    }
    expect(n).toBeGreaterThanOrEqual(40);

    // the session's scrub set itself: 200 renewals leave it at the configured secrets plus a few recent tickets
    const secrets = new Set<string>();
    let m = 0;
    let at = 0;
    const session = new AuthSession(
      { type: 'password', username: 'root@pam', password: PASSWORD, renewAfterMs: 3_600_000 },
      secrets,
      { now: () => at },
      async () => {
        m++;
        return { username: 'root@pam', ticket: ticketOf(m), CSRFPreventionToken: csrfOf(m) };
      },
    );
    for (let i = 0; i < 200; i++) {
      at += 7_300_000;
      await session.login(AbortSignal.timeout(5000));
    }
    expect(m).toBe(200);
    expect(secrets.size).toBeLessThanOrEqual(13);
    expect(secrets.has(PASSWORD) && secrets.has(ticketOf(200)) && secrets.has(csrfOf(200))).toBe(true);
    expect(secrets.has(ticketOf(1))).toBe(false);
  });
});
