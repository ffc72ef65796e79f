/**
 * Ticket sessions under concurrency, pre-obtained ticket age, non-JSON error bodies and secrets in
 * causes and util.inspect (msw, in-process).
 */
import { inspect } from 'node:util';
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ProxmoxClient, type ProxmoxClientOptions } from '../../../src/index.js';
import { caught } from '../../helpers/caught.js';

const BASE = 'https://pve.test:8006';
const API = `${BASE}/api2/json`;
const PASSWORD = 'correct-horse-battery';
const T1 = 'PVE:root@pam:6745A1B2::Zmlyc3QtdGlja2V0LXNpZ25hdHVyZQ==';
const T2 = 'PVE:root@pam:6745B1B2::c2Vjb25kLXRpY2tldC1zaWduYXR1cmU=';
const C1 = '6745A1B2:Y3NyZi1vbmUtdG9rZW4tdmFsdWU';
const C2 = '6745B1B2:Y3NyZi10d28tdG9rZW4tdmFsdWU';

const json = (data: unknown, init: { status?: number; statusText?: string } = {}): Response =>
  new HttpResponse(JSON.stringify({ data }), {
    status: init.status ?? 200,
    ...(init.statusText ? { statusText: init.statusText } : {}),
    headers: { 'content-type': 'application/json;charset=UTF-8' },
  });

const server = setupServer();
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterEach(() => server.resetHandlers());
afterAll(() => server.close());
const clients: ProxmoxClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
function client(options: Partial<ProxmoxClientOptions> = {}): ProxmoxClient {
  const c = new ProxmoxClient({
    baseUrl: BASE,
    auth: { type: 'password', username: 'root@pam', password: PASSWORD },
    retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  clients.push(c);
  return c;
}

describe('ticket sessions, error bodies and secrets', () => {
  it('concurrent 401s on one ticket session re-login exactly once', async () => {
    const valid = new Set([T1]);
    let logins = 0;
    // the concurrent requests on the first ticket are all held until all of them have arrived, so
    // every one of them gets its 401 on the same ticket
    let release!: () => void;
    const burst = { armed: false, arrived: 0, all: new Promise<void>((r) => (release = r)) };
    server.use(
      http.post(`${API}/access/ticket`, async () => {
        logins++;
        const t = logins === 1 ? T1 : T2;
        valid.add(t);
        return HttpResponse.json({ data: { username: 'root@pam', ticket: t, CSRFPreventionToken: logins === 1 ? C1 : C2 } });
      }),
      http.get(`${API}/version`, async ({ request }) => {
        const cookie = decodeURIComponent((request.headers.get('cookie') ?? '').replace(/^PVEAuthCookie=/, ''));
        if (burst.armed && cookie === T1) {
          if (++burst.arrived === 6) release();
          await burst.all;
        }
        if (!valid.has(cookie)) return json(null, { status: 401, statusText: 'Authentication failed!' });
        return json({ version: '9.1.3', release: '9.1', repoid: 'x' });
      }),
    );
    const c = client();
    await c.version.get();
    valid.delete(T1);
    burst.armed = true;
    const results = await Promise.all(Array.from({ length: 6 }, () => c.version.get()));
    expect(results).toHaveLength(6);
    expect(logins).toBe(2);
  });

  it("one caller's abort during the shared login does not fail the other callers", async () => {
    let logins = 0;
    let arrived!: () => void;
    const loginArrived = new Promise<void>((r) => (arrived = r));
    let release!: () => void;
    const loginGate = new Promise<void>((r) => (release = r));
    server.use(
      http.post(`${API}/access/ticket`, async () => {
        logins++;
        arrived();
        await loginGate; // the login answers only once caller A has given up
        return HttpResponse.json({ data: { username: 'root@pam', ticket: T1, CSRFPreventionToken: C1 } });
      }),
      http.get(`${API}/version`, () => json({ version: '9.1.3', release: '9.1', repoid: 'x' })),
    );
    const c = client();
    const controller = new AbortController();
    const a = c.version.get({ signal: controller.signal });
    const b = c.version.get();
    await loginArrived;
    controller.abort(new Error('caller A gave up'));
    const [ra] = await Promise.allSettled([a]);
    release();
    const [rb] = await Promise.allSettled([b]);
    expect(ra.status).toBe('rejected');
    expect(ra.status === 'rejected' && (ra.reason as { code?: string }).code).toBe('ERR_ABORTED');
    expect(rb).toMatchObject({ status: 'fulfilled', value: { version: '9.1.3' } });
    expect(logins).toBe(1);
  });

  it('a 401 that persists after re-login fails once, without a loop', async () => {
    let logins = 0;
    let gets = 0;
    server.use(
      http.post(`${API}/access/ticket`, () => {
        logins++;
        return HttpResponse.json({ data: { username: 'root@pam', ticket: T1, CSRFPreventionToken: C1 } });
      }),
      http.get(`${API}/version`, () => {
        gets++;
        return json(null, { status: 401, statusText: 'Authentication failed!' });
      }),
    );
    const e = await caught(client().version.get());
    expect(e['code']).toBe('ERR_PVE_AUTH');
    expect(logins).toBe(2);
    expect(gets).toBe(2);
  });

  it('a malformed login answer does not leak the ticket through the error cause', async () => {
    server.use(http.post(`${API}/access/ticket`, () => new HttpResponse(`{"data":{"ticket":"${T1}","CSRFPreventionToken":"${C1}"`, { headers: { 'content-type': 'application/json' } })));
    const e = await caught(client().version.get());
    const text = inspect(e, { depth: 10 }) + JSON.stringify(e) + String(e.stack);
    expect(text).not.toContain('Zmlyc3QtdGlja2V0');
    expect(text).not.toContain('Y3NyZi1vbmUtdG9rZW4tdmFsdWU');
  });

  it('an HTML 501 and a text 500 become ProxmoxHttpError with the status text', async () => {
    server.use(
      http.post(`${API}/nodes/pve1/lxc/101/status/reboot`, () => new HttpResponse('<html><body>Method not implemented</body></html>', { status: 501, statusText: "Method 'POST /nodes/pve1/lxc/101/status/reboot' not implemented", headers: { 'content-type': 'text/html' } })),
      http.get(`${API}/version`, () => new HttpResponse('internal error\n', { status: 500, headers: { 'content-type': 'text/plain' } })),
    );
    const c = client({ auth: { type: 'token', tokenId: 'a@pve!b', secret: 'sss-secret-1234' } });
    const e1 = await caught(c.request('POST', '/nodes/pve1/lxc/101/status/reboot'));
    expect(e1).toMatchObject({ code: 'ERR_PVE_HTTP', status: 501, statusText: "Method 'POST /nodes/pve1/lxc/101/status/reboot' not implemented", retryable: false });
    const e2 = await caught(c.version.get());
    expect(e2).toMatchObject({ code: 'ERR_PVE_HTTP', status: 500, retryable: false });
  });

  it('util.inspect of a logged-in client shows no ticket, CSRF token or password', async () => {
    server.use(
      http.post(`${API}/access/ticket`, () => HttpResponse.json({ data: { username: 'root@pam', ticket: T1, CSRFPreventionToken: C1 } })),
      http.get(`${API}/version`, () => json({ version: '9.1.3', release: '9.1', repoid: 'x' })),
    );
    const c = client();
    await c.version.get();
    const t = client({ auth: { type: 'token', tokenId: 'a@pve!b', secret: 'token-secret-5b1c2d3e' } });
    await t.version.get();
    const text = inspect(c, { depth: 20, showHidden: true }) + JSON.stringify(c) + inspect(t, { depth: 20, showHidden: true }) + JSON.stringify(t);
    for (const s of [PASSWORD, T1, C1, 'Zmlyc3QtdGlja2V0', 'token-secret-5b1c2d3e']) expect(text).not.toContain(s);
  });

  it('keeps the still-valid ticket when a renewal fails transiently, retries renewal a minute later, fails once the ticket is near expiry', async () => {
    let renewalsFail = true;
    const posts: string[] = [];
    const cookies: string[] = [];
    server.use(
      http.post(`${API}/access/ticket`, async ({ request }) => {
        const password = new URLSearchParams(await request.text()).get('password') ?? '';
        posts.push(password === PASSWORD ? 'login' : 'renew');
        if (password === PASSWORD) return HttpResponse.json({ data: { username: 'root@pam', ticket: T1, CSRFPreventionToken: C1 } });
        if (renewalsFail) return json(null, { status: 503, statusText: 'Service Unavailable' });
        return HttpResponse.json({ data: { username: 'root@pam', ticket: T2, CSRFPreventionToken: C2 } });
      }),
      http.get(`${API}/version`, ({ request }) => {
        cookies.push(decodeURIComponent((request.headers.get('cookie') ?? '').replace(/^PVEAuthCookie=/, '')));
        return json({ version: '9.1.3', release: '9.1', repoid: 'x' });
      }),
    );
    let now = 1_000_000;
    const c = client({ clock: { now: () => now } });
    await c.version.get();
    now += 61 * 60_000;
    await c.version.get(); // renewal due: it runs in the background (503, 3 attempts) while the request goes out with T1
    await vi.waitFor(() => expect(posts).toEqual(['login', 'renew', 'renew', 'renew']), { timeout: 5000, interval: 5 });
    await vi.waitFor(async () => {
      await c.version.get(); // within a minute of the failed renewal: no new renewal attempt
      expect(posts).toHaveLength(4);
    });
    expect(cookies.every((t) => t === T1)).toBe(true);
    now += 61_000;
    renewalsFail = false;
    await c.version.get(); // starts the next background renewal, still with T1
    await vi.waitFor(() => expect(posts.at(-1)).toBe('renew'), { timeout: 5000, interval: 5 });
    await vi.waitFor(async () => {
      await c.version.get();
      expect(cookies.at(-1)).toBe(T2);
    }, { timeout: 5000, interval: 5 });
    // a ticket close to PVE's 2 h expiry is not kept on a failed renewal
    renewalsFail = true;
    now += 116 * 60_000;
    const e = await caught(c.version.get());
    expect(e).toMatchObject({ code: 'ERR_PVE_HTTP', status: 503 });
  });

  it('refuses a renewAfterMs that would renew only at or after the 2 h expiry', () => {
    expect(() => client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD, renewAfterMs: 7_200_000 } })).toThrow(
      expect.objectContaining({ code: 'ERR_INVALID_OPTIONS', message: expect.stringContaining('auth.renewAfterMs') as string }),
    );
    expect(() => client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD, renewAfterMs: 6_900_000 } })).not.toThrow();
  });

  it('a pre-obtained ticket without issuedAt is renewed by its own age (the hex time in the ticket)', async () => {
    const posts: string[] = [];
    const nowSec = 0x6745a1b2 + 3_700; // the ticket is over an hour old
    server.use(
      http.post(`${API}/access/ticket`, async ({ request }) => {
        posts.push(new URLSearchParams(await request.text()).get('password') ?? '');
        return HttpResponse.json({ data: { username: 'root@pam', ticket: T2, CSRFPreventionToken: C2 } });
      }),
      http.get(`${API}/version`, () => json({ version: '9.1.3', release: '9.1', repoid: 'x' })),
    );
    const c = client({ auth: { type: 'ticket', username: 'root@pam', ticket: T1, csrfToken: C1 }, clock: { now: () => nowSec * 1000 } });
    await c.version.get();
    expect(posts).toEqual([T1]);
  });
});
