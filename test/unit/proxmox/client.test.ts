/**
 * ProxmoxClient behaviour against msw handlers written here (in-process; the global fetch is
 * intercepted even with the client's undici Agent as dispatcher). Real-HTTPS behaviour is in the
 * transport suite and the integration tests against the simulator.
 */
import { http, HttpResponse, delay } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { ProxmoxClient, isLxcriError, type Logger, type ProxmoxClientOptions } from '../../../src/index.js';
import { caught } from '../../helpers/caught.js';

const BASE = 'https://pve.test:8006';
const API = `${BASE}/api2/json`;
const TOKEN_SECRET = '5b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9';
const PASSWORD = 'correct-horse-battery';
const TICKET_1 = 'PVE:root@pam:6745A1B2::Zmlyc3QtdGlja2V0LXNpZ25hdHVyZQ==';
const TICKET_2 = 'PVE:root@pam:6745B1B2::c2Vjb25kLXRpY2tldC1zaWduYXR1cmU=';
const HALF = 'PVE:!tfa!%7B%22totp%22%3Atrue%2C%22recovery%22%3Atrue%7D:6745A1B2::aGFsZi10aWNrZXQ=';
const CSRF_1 = '6745A1B2:Y3NyZi1vbmUtdG9rZW4tdmFsdWU';
const CSRF_2 = '6745B1B2:Y3NyZi10d28tdG9rZW4tdmFsdWU';

const json = (data: unknown, init: { status?: number; statusText?: string; extra?: Record<string, unknown> } = {}): Response =>
  new HttpResponse(JSON.stringify({ data, ...(init.extra ?? {}) }), {
    status: init.status ?? 200,
    ...(init.statusText ? { statusText: init.statusText } : {}),
    headers: { 'content-type': 'application/json;charset=UTF-8' },
  });

interface Seen {
  method: string;
  path: string;
  auth: string | null;
  cookie: string | null;
  csrf: string | null;
  body: string;
  query: string;
}
const seen: Seen[] = [];
const server = setupServer();
server.events.on('request:start', async ({ request }) => {
  const url = new URL(request.url);
  seen.push({
    method: request.method,
    path: url.pathname.replace('/api2/json', ''),
    auth: request.headers.get('authorization'),
    cookie: request.headers.get('cookie'),
    csrf: request.headers.get('csrfpreventiontoken'),
    body: request.method === 'GET' ? '' : await request.clone().text(),
    query: url.search,
  });
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

function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const push = (level: string) => (fields: Record<string, unknown>, message?: string) => lines.push(`${level} ${message ?? ''} ${JSON.stringify(fields)}`);
  return { logger: { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') }, lines };
}

function client(options: Partial<ProxmoxClientOptions> = {}): ProxmoxClient {
  const c = new ProxmoxClient({
    baseUrl: BASE,
    auth: { type: 'token', tokenId: 'lxcri@pve!ci', secret: TOKEN_SECRET },
    retry: { retries: 2, minDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  clients.push(c);
  return c;
}


const version = { version: '9.1.3', release: '9.1', repoid: 'deadbeef' };

describe('options', () => {
  it('rejects unknown keys, bad ids and http:// with InvalidOptionsError naming the fields', () => {
    const attempt = (o: unknown): Error & Record<string, unknown> => {
      try {
        new ProxmoxClient(o as ProxmoxClientOptions);
      } catch (e) {
        return e as Error & Record<string, unknown>;
      }
      throw new Error('no throw');
    };
    const e1 = attempt({ baseUrl: 'http://pve:8006', auth: { type: 'token', tokenId: 'root@pam', secret: TOKEN_SECRET }, retires: 3 });
    expect(e1['code']).toBe('ERR_INVALID_OPTIONS');
    expect(e1.message).toMatch(/baseUrl: baseUrl must use https/);
    expect(e1.message).toMatch(/auth\.tokenId: tokenId must look like user@realm!tokenname/);
    expect(e1.message).toMatch(/retires/);
    expect(e1.message).not.toContain(TOKEN_SECRET);
    const e2 = attempt({ baseUrl: BASE, auth: { type: 'password', username: 'root@pam', password: PASSWORD }, tls: { insecure: true, fingerprint256: 'AA:'.repeat(31) + 'AA' } });
    expect(e2.message).toMatch(/tls\.insecure: insecure and fingerprint256 exclude each other/);
    expect(e2.message).not.toContain(PASSWORD);
  });
});

describe('token auth, encoding and decoding', () => {
  it('sends PVEAPIToken, no CSRF, and the form body fully percent-encoded with booleans as 1/0', async () => {
    server.use(http.post(`${API}/nodes/pve1/lxc`, () => json('UPID:pve1:00001234:00005678:6745A1B2:vzcreate:101:lxcri@pve!ci:')));
    const params = {
      vmid: 101,
      ostemplate: 'local:vztmpl/app.tar',
      hostname: 'web-1',
      unprivileged: false,
      start: true,
      features: { nesting: true, mount: ['nfs', 'cifs'] },
      net: [{ name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.5/24', gw: '10.0.0.1', trunks: [10, 20] }],
      'ssh-public-keys': ['ssh-ed25519 AAAA+b/c= a@b', 'ssh-rsa AAAAB3= c@d'],
      env: { PATH: '/usr/bin', GREETING: 'a=b;c' },
      description: undefined,
    };
    const before = structuredClone(params);
    const upid = await client().lxc.create('pve1', params);
    expect(upid).toMatch(/^UPID:pve1:/);
    expect(params).toEqual(before);
    const req = seen[0]!;
    expect(req.auth).toBe(`PVEAPIToken=lxcri@pve!ci=${TOKEN_SECRET}`);
    expect(req.csrf).toBeNull();
    expect(req.cookie).toBeNull();
    expect(req.body).toBe(
      'vmid=101&ostemplate=local%3Avztmpl%2Fapp.tar&hostname=web-1&unprivileged=0&start=1' +
        '&features=mount%3Dnfs%3Bcifs%2Cnesting%3D1' +
        '&net0=name%3Deth0%2Cbridge%3Dvmbr0%2Cgw%3D10.0.0.1%2Cip%3D10.0.0.5%2F24%2Ctrunks%3D10%3B20' +
        '&ssh-public-keys=ssh-ed25519%20AAAA%2Bb%2Fc%3D%20a%40b%0Assh-rsa%20AAAAB3%3D%20c%40d' +
        '&env=PATH%3D%2Fusr%2Fbin%00GREETING%3Da%3Db%3Bc',
    );
    const decoded = new URLSearchParams(req.body);
    expect(decoded.get('env')).toBe('PATH=/usr/bin\0GREETING=a=b;c');
  });

  it('puts GET/DELETE params in the query and decodes JSON by media type (any parameters)', async () => {
    server.use(
      http.get(`${API}/cluster/resources`, () =>
        new HttpResponse(JSON.stringify({ data: [{ id: 'node/pve1', type: 'node', node: 'pve1', status: 'online', mem: '100', maxmem: 1000 }] }), {
          headers: { 'content-type': 'application/json; charset=utf-8' },
        }),
      ),
    );
    const resources = await client().cluster.resources({ type: 'node' });
    expect(resources[0]).toMatchObject({ id: 'node/pve1', mem: 100, maxmem: 1000 });
    expect(seen[0]!.query).toBe('?type=node');
  });

  it('refuses a non-JSON 200 and a body that does not match the schema with ProxmoxResponseError', async () => {
    server.use(http.get(`${API}/version`, () => new HttpResponse('<html>login</html>', { headers: { 'content-type': 'text/html' } })));
    const e1 = await caught(client().version.get());
    expect(e1['code']).toBe('ERR_PVE_RESPONSE');
    expect(e1.message).toBe('GET /version: expected JSON, got text/html');
    server.use(http.get(`${API}/version`, () => json({ version: 9 })));
    const e2 = await caught(client().version.get());
    expect(e2['code']).toBe('ERR_PVE_RESPONSE');
    expect(e2.message).toMatch(/version: .*string/);
  });

  it('surfaces PVE per-parameter errors, status text and body message', async () => {
    server.use(
      http.post(`${API}/nodes/pve1/lxc`, () =>
        json(null, {
          status: 400,
          statusText: 'Parameter verification failed.',
          extra: { message: 'Parameter verification failed.\n', errors: { 'net0.ip': 'invalid format - value does not look like a valid ipv4 network configuration\n' } },
        }),
      ),
    );
    const e = await caught(client().lxc.create('pve1', { vmid: 101, ostemplate: 'local:vztmpl/a.tar', net: ['name=eth0,ip=10.0.0.5'] }));
    expect(e).toMatchObject({
      code: 'ERR_PVE_HTTP',
      status: 400,
      statusText: 'Parameter verification failed.',
      pveMessage: 'Parameter verification failed.',
      errors: { 'net0.ip': 'invalid format - value does not look like a valid ipv4 network configuration' },
      method: 'POST',
      path: '/nodes/pve1/lxc',
      retryable: false,
      vmidConflict: false,
      grpcStatus: 'InvalidArgument',
    });
    expect(e.message).toContain('net0.ip: invalid format');
    expect(seen).toHaveLength(1);
  });

  it('classifies VMID conflicts and never re-sends a create POST', async () => {
    server.use(http.post(`${API}/nodes/pve1/lxc`, () => json(null, { status: 500, statusText: "CT 101 already exists on node 'pve1'" })));
    const e = await caught(client().lxc.create('pve1', { vmid: 101, ostemplate: 'local:vztmpl/a.tar' }));
    expect(e).toMatchObject({ vmidConflict: true, grpcStatus: 'AlreadyExists', retryable: false });
    server.use(http.post(`${API}/nodes/pve1/lxc`, () => json(null, { status: 596, statusText: 'Broken pipe' })));
    const e2 = await caught(client().lxc.create('pve1', { vmid: 101, ostemplate: 'local:vztmpl/a.tar' }));
    expect(e2).toMatchObject({ status: 596, retryable: true });
    expect(seen.filter((s) => s.method === 'POST')).toHaveLength(2); // one per call: no automatic re-send
  });
});

describe('retries', () => {
  it('retries idempotent GETs on 502/596, network errors and got timeout, then succeeds', async () => {
    let n = 0;
    server.use(
      http.get(`${API}/version`, () => {
        n++;
        if (n === 1) return json(null, { status: 502, statusText: 'Bad Gateway' });
        if (n === 2) return HttpResponse.error();
        if (n === 3) return json(null, { status: 500, statusText: "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout" });
        return json(version);
      }),
    );
    expect(await client({ retry: { retries: 4, minDelayMs: 1, maxDelayMs: 2 } }).version.get()).toEqual(version);
    expect(n).toBe(4);
  });

  it('gives up after the bounded number of attempts with the last error', async () => {
    server.use(http.get(`${API}/version`, () => json(null, { status: 503, statusText: 'Service Unavailable' })));
    const e = await caught(client({ retry: { retries: 2, minDelayMs: 1, maxDelayMs: 2 } }).version.get());
    expect(e).toMatchObject({ status: 503, retryable: true });
    expect(seen).toHaveLength(3);
  });

  it('does not retry a 4xx', async () => {
    server.use(http.get(`${API}/version`, () => json(null, { status: 403, statusText: 'Permission check failed' })));
    expect(await caught(client().version.get())).toMatchObject({ status: 403, grpcStatus: 'PermissionDenied' });
    expect(seen).toHaveLength(1);
  });

  it('re-sends a start POST only after a config-lock timeout (the request had no effect)', async () => {
    let n = 0;
    server.use(
      http.post(`${API}/nodes/pve1/lxc/101/status/start`, () => {
        n++;
        if (n === 1) return json(null, { status: 500, statusText: "can't lock file '/run/lock/lxc/pve-config-101.lock' - got timeout" });
        return json('UPID:pve1:00001234:00005678:6745A1B2:vzstart:101:root@pam:');
      }),
    );
    expect(await client().lxc.start('pve1', 101)).toMatch(/vzstart/);
    expect(n).toBe(2);
    server.use(http.post(`${API}/nodes/pve1/lxc/101/status/start`, () => json(null, { status: 596, statusText: 'Broken pipe' })));
    seen.length = 0;
    await caught(client().lxc.start('pve1', 101));
    expect(seen).toHaveLength(1); // 596 may have reached the node: no re-send
  });

  it('re-sends a config PUT after a reset, but not one that allocates a new volume (mp0: storage:size)', async () => {
    let puts = 0;
    server.use(
      http.put(`${API}/nodes/pve1/lxc/101/config`, () => {
        puts++;
        return puts === 1 ? HttpResponse.error() : json(null);
      }),
    );
    expect(await client().lxc.updateConfig('pve1', 101, { memory: 1024 })).toBeNull();
    expect(puts).toBe(2);
    for (const params of [
      { mp: [{ volume: 'local-lvm:8', mp: '/data' }] },
      { rootfs: 'local-lvm:4.5' },
      { extra: { mp3: 'volume=local:16,mp=/srv' } },
    ]) {
      puts = 0;
      // the PUT may have allocated the volume before the connection broke: outcome unknown, not re-sent
      expect(await caught(client().lxc.updateConfig('pve1', 101, params))).toMatchObject({ code: 'ERR_PVE_OUTCOME_UNKNOWN', grpcStatus: 'Unknown' });
      expect(puts).toBe(1);
    }
  });

  it('honours the caller AbortSignal during backoff', async () => {
    server.use(http.get(`${API}/version`, () => json(null, { status: 503, statusText: 'Service Unavailable' })));
    const controller = new AbortController();
    // abort at the moment the client decides to back off and retry
    const onRetry = (_fields: Record<string, unknown>, message?: string): void => {
      if (message === 'retrying Proxmox request') controller.abort();
    };
    const logger = { debug: onRetry, info: onRetry, warn: onRetry, error: onRetry };
    const pending = client({ retry: { retries: 5, minDelayMs: 200, maxDelayMs: 200 }, logger }).version.get({ signal: controller.signal });
    const e = await caught(pending);
    expect(isLxcriError(e) && e.code).toBe('ERR_ABORTED');
    expect(seen.length).toBeLessThanOrEqual(2);
  });

  it('turns a slow answer into ProxmoxTimeoutError after timeoutMs', async () => {
    server.use(
      http.get(`${API}/version`, async () => {
        await delay(500);
        return json(version);
      }),
    );
    const e = await caught(client({ retry: { retries: 0, minDelayMs: 1, maxDelayMs: 1 } }).version.get({ timeoutMs: 50 }));
    expect(e).toMatchObject({ code: 'ERR_PVE_TIMEOUT', message: 'GET /version: no answer within 50 ms' });
  });
});

function ticketHandlers(opts: { tfa?: boolean; expireFirst?: boolean } = {}) {
  const valid = new Set<string>([TICKET_1]);
  const posts: Record<string, string>[] = [];
  return {
    posts,
    valid,
    handlers: [
      http.post(`${API}/access/ticket`, async ({ request }) => {
        const form = Object.fromEntries(new URLSearchParams(await request.text()));
        posts.push(form);
        if (form['username'] !== 'root@pam') return json(null, { status: 401, statusText: 'authentication failure' });
        if (form['tfa-challenge'] !== undefined) {
          if (form['tfa-challenge'] === HALF && form['password'] === 'totp:123456') return json({ username: 'root@pam', ticket: TICKET_1, CSRFPreventionToken: CSRF_1 });
          return json(null, { status: 401, statusText: 'authentication failure' });
        }
        if (form['password'] === PASSWORD) {
          if (opts.tfa) return json({ username: 'root@pam', ticket: HALF, CSRFPreventionToken: CSRF_1, NeedTFA: 1 });
          return json({ username: 'root@pam', ticket: TICKET_1, CSRFPreventionToken: CSRF_1 });
        }
        if (form['password'] !== undefined && valid.has(form['password'])) {
          valid.add(TICKET_2);
          return json({ username: 'root@pam', ticket: TICKET_2, CSRFPreventionToken: CSRF_2 });
        }
        return json(null, { status: 401, statusText: 'authentication failure' });
      }),
      http.all(`${API}/nodes/pve1/lxc/101/config`, ({ request }) => {
        const cookie = decodeURIComponent((request.headers.get('cookie') ?? '').replace(/^PVEAuthCookie=/, ''));
        if (!valid.has(cookie)) return json(null, { status: 401, statusText: 'Authentication failed!' });
        if (request.method !== 'GET') {
          const csrf = request.headers.get('csrfpreventiontoken');
          if (csrf !== (cookie === TICKET_1 ? CSRF_1 : CSRF_2)) return json(null, { status: 401, statusText: 'Permission denied - invalid csrf token' });
          return json(null);
        }
        return json({ hostname: 'ct101', digest: 'abc' });
      }),
    ],
  };
}

describe('ticket auth', () => {
  it('logs in lazily, sends the cookie on every request and CSRF only on non-GET', async () => {
    const h = ticketHandlers();
    server.use(...h.handlers);
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD } });
    expect(await c.lxc.config('pve1', 101)).toMatchObject({ hostname: 'ct101' });
    expect(await c.lxc.updateConfig('pve1', 101, { memory: 1024 })).toBeNull();
    expect(h.posts).toEqual([{ username: 'root@pam', password: PASSWORD }]);
    const [login, get, put] = seen;
    expect(login!.cookie).toBeNull();
    expect(get!.cookie).toBe(`PVEAuthCookie=${encodeURIComponent(TICKET_1)}`);
    expect(get!.csrf).toBeNull();
    expect(put!.csrf).toBe(CSRF_1);
    expect(put!.auth).toBeNull();
  });

  it('renews before expiry by re-posting the ticket as the password (injected clock)', async () => {
    const h = ticketHandlers();
    server.use(...h.handlers);
    let now = 1_000_000;
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD, renewAfterMs: 3_600_000 }, clock: { now: () => now } });
    await c.lxc.config('pve1', 101);
    now += 3_600_000;
    // the renewal runs in the background: the old ticket is valid for another hour, nobody waits
    await c.lxc.updateConfig('pve1', 101, { memory: 512 });
    expect(seen.at(-1)).toMatchObject({ cookie: `PVEAuthCookie=${encodeURIComponent(TICKET_1)}`, csrf: CSRF_1 });
    await vi.waitFor(() =>
      expect(h.posts).toEqual([
        { username: 'root@pam', password: PASSWORD },
        { username: 'root@pam', password: TICKET_1 },
      ]),
    );
    await vi.waitFor(async () => {
      await c.lxc.updateConfig('pve1', 101, { memory: 512 });
      expect(seen.at(-1)).toMatchObject({ cookie: `PVEAuthCookie=${encodeURIComponent(TICKET_2)}`, csrf: CSRF_2 });
    });
  });

  it('re-authenticates once on a 401 (any text) and replays the request', async () => {
    const h = ticketHandlers();
    server.use(...h.handlers);
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD } });
    await c.lxc.config('pve1', 101);
    h.valid.delete(TICKET_1); // server-side expiry
    h.valid.add(TICKET_1 + 'x');
    // the next login returns TICKET_1 again; make it valid only after the re-login
    server.use(
      http.post(`${API}/access/ticket`, () => {
        h.valid.add(TICKET_2);
        return json({ username: 'root@pam', ticket: TICKET_2, CSRFPreventionToken: CSRF_2 });
      }),
    );
    expect(await c.lxc.config('pve1', 101)).toMatchObject({ hostname: 'ct101' });
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([
      'POST /access/ticket',
      'GET /nodes/pve1/lxc/101/config',
      'GET /nodes/pve1/lxc/101/config',
      'POST /access/ticket',
      'GET /nodes/pve1/lxc/101/config',
    ]);
  });

  it('fails with ProxmoxAuthError on bad credentials, without the password anywhere', async () => {
    server.use(...ticketHandlers().handlers);
    const e = await caught(client({ auth: { type: 'password', username: 'root@pam', password: 'wrong-password-123' } }).lxc.config('pve1', 101));
    expect(e).toMatchObject({ code: 'ERR_PVE_AUTH', grpcStatus: 'Unauthenticated' });
    expect(e.message).toBe('login failed for root@pam: 401 authentication failure');
    expect(JSON.stringify(e) + String(e.stack)).not.toContain('wrong-password-123');
  });

  it('does two-step TFA with an otp string (prefixing totp:)', async () => {
    const h = ticketHandlers({ tfa: true });
    server.use(...h.handlers);
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD, otp: '123456' } });
    await c.lxc.config('pve1', 101);
    expect(h.posts).toEqual([
      { username: 'root@pam', password: PASSWORD },
      { username: 'root@pam', 'tfa-challenge': HALF, password: 'totp:123456' },
    ]);
  });

  it('asks an async otp callback with the offered methods', async () => {
    server.use(...ticketHandlers({ tfa: true }).handlers);
    const asked: unknown[] = [];
    const c = client({
      auth: {
        type: 'password',
        username: 'root@pam',
        password: PASSWORD,
        otp: async (ctx) => {
          asked.push({ username: ctx.username, methods: ctx.methods });
          return 'totp:123456';
        },
      },
    });
    await c.lxc.config('pve1', 101);
    expect(asked).toEqual([{ username: 'root@pam', methods: ['totp', 'recovery'] }]);
  });

  it('explains a TFA requirement without an otp and a refused code', async () => {
    server.use(...ticketHandlers({ tfa: true }).handlers);
    const e1 = await caught(client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD } }).version.get());
    expect(e1).toMatchObject({ code: 'ERR_PVE_AUTH', message: 'login of root@pam needs a second factor (TFA) but no otp is configured' });
    const e2 = await caught(client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD, otp: '654321' } }).version.get());
    expect(e2).toMatchObject({ code: 'ERR_PVE_AUTH', message: 'second factor (TFA) refused for root@pam: 401 authentication failure' });
  });

  it('uses a pre-obtained ticket + CSRF token and renews it when due', async () => {
    const h = ticketHandlers();
    server.use(...h.handlers);
    let now = 5_000_000;
    const c = client({ auth: { type: 'ticket', username: 'root@pam', ticket: TICKET_1, csrfToken: CSRF_1, issuedAt: now - 10 }, clock: { now: () => now } });
    await c.lxc.updateConfig('pve1', 101, { cores: 2 });
    expect(h.posts).toEqual([]);
    expect(seen[0]).toMatchObject({ csrf: CSRF_1 });
    now += 3_600_000;
    await c.lxc.config('pve1', 101);
    expect(h.posts).toEqual([{ username: 'root@pam', password: TICKET_1 }]);
  });
});

describe('logging and secrets', () => {
  it('logs one redacted debug line per request with method, path, status and ms', async () => {
    server.use(
      ...ticketHandlers({ tfa: true }).handlers,
      http.get(`${API}/version`, () => json(version)),
      // a server that echoes the submitted password in its error must not leak it through us
      http.post(`${API}/nodes/pve1/lxc`, async ({ request }) => {
        const pw = new URLSearchParams(await request.text()).get('password') ?? '';
        return json(null, { status: 400, statusText: 'Parameter verification failed.', extra: { errors: { password: `value '${pw}' rejected` } } });
      }),
    );
    const { logger, lines } = captureLogger();
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD, otp: '123456' }, logger });
    await c.version.get();
    const e = await caught(c.lxc.create('pve1', { vmid: 101, ostemplate: 'x:vztmpl/a.tar', password: 'ct-root-pass-77' }));
    expect(e.message).toBe("POST /nodes/pve1/lxc failed: 400 Parameter verification failed. (password: value '[REDACTED]' rejected)");
    lines.push(String(e.stack), JSON.stringify(e));
    const requestLines = lines.filter((l) => l.includes('proxmox request'));
    expect(requestLines).toHaveLength(4);
    expect(requestLines[2]).toMatch(/"method":"GET","path":"\/version","status":200,"ms":\d+/);
    const all = lines.join('\n');
    for (const secret of [PASSWORD, TICKET_1, CSRF_1, HALF, '123456', 'ct-root-pass-77']) expect(all).not.toContain(secret);
  });

  it('keeps secrets out of util.inspect and JSON of the client', async () => {
    const { inspect } = await import('node:util');
    const c = client({ auth: { type: 'password', username: 'root@pam', password: PASSWORD } });
    const text = inspect(c, { depth: 10, showHidden: true }) + JSON.stringify(c);
    expect(text).not.toContain(PASSWORD);
  });
});

describe('request escape hatch', () => {
  it('calls any path with a caller schema and refuses query strings in the path', async () => {
    server.use(http.get(`${API}/nodes/pve1/dns`, ({ request }) => json({ search: 'example.org', q: new URL(request.url).search })));
    const dns = await client().request('GET', '/nodes/pve1/dns', { verbose: true }, { response: z.object({ search: z.string(), q: z.string() }) });
    expect(dns).toEqual({ search: 'example.org', q: '?verbose=1' });
    expect(() => client().request('GET', '/nodes/pve1/dns?x=1')).toThrow(/path: must start with \/ and carry no query/);
  });
});
