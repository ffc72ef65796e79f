/**
 * Wire snapshots: the exact method, path, query, headers and body the client puts on the wire
 * for a TFA login and the LXC calls (secrets replaced through the library's redactor before the
 * snapshot is written), and a scan proving the snapshot holds no secret.
 */
import { http, HttpResponse } from 'msw';
import { setupServer } from 'msw/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from '../../../src/index.js';
import { redact, redactString } from '../../../src/exports/errors.js';

const API = 'https://pve.wire.test:8006/api2/json';
const PASSWORD = 'wire-Password-123';
const HALF = 'PVE:!tfa!%7B%22totp%22%3Atrue%7D:6745A1B2::aGFsZg==';
const TICKET = 'PVE:root@pam:6745A1B2::d2lyZS10aWNrZXQ=';
const CSRF = '6745A1B2:d2lyZS1jc3Jm';
const CT_PASSWORD = 'ct-Pass-word-42';

const wire: string[] = [];
const server = setupServer(
  http.all(`${API}/*`, async ({ request }) => {
    const url = new URL(request.url);
    const headers = Object.fromEntries([...request.headers.entries()].filter(([k]) => !['user-agent', 'accept-encoding', 'accept-language', 'sec-fetch-mode', 'connection', 'host', 'content-length'].includes(k)).sort());
    const body = request.method === 'GET' ? '' : await request.text();
    wire.push(`${request.method} ${url.pathname}${url.search}\n${JSON.stringify(redact(headers), null, 1)}\n${redactString(body)}`);
    const json = (data: unknown): Response => HttpResponse.json({ data }, { headers: { 'content-type': 'application/json;charset=UTF-8' } });
    if (url.pathname.endsWith('/access/ticket')) {
      const form = new URLSearchParams(body);
      if (form.get('tfa-challenge')) return json({ username: 'root@pam', ticket: TICKET, CSRFPreventionToken: CSRF });
      return json({ username: 'root@pam', ticket: HALF, CSRFPreventionToken: CSRF, NeedTFA: 1 });
    }
    if (request.method === 'POST') return json('UPID:pve1:00000001:00000002:6745A1B2:vzcreate:101:root@pam:');
    if (request.method === 'PUT') return json(null);
    return json({ status: 'stopped', vmid: 101 });
  }),
);
beforeAll(() => server.listen({ onUnhandledRequest: 'error' }));
afterAll(() => server.close());

describe('wire format', () => {
  it('matches the recorded snapshot and carries no secret', async () => {
    const client = new ProxmoxClient({
      baseUrl: 'https://pve.wire.test:8006',
      auth: { type: 'password', username: 'root@pam', password: PASSWORD, otp: '123456' },
    });
    await client.lxc.create('pve1', {
      vmid: 101,
      ostemplate: 'local:vztmpl/app.tar',
      hostname: 'web',
      password: CT_PASSWORD,
      unprivileged: true,
      rootfs: { volume: 'local-lvm:8' },
      net: [{ name: 'eth0', bridge: 'vmbr0', ip: '10.1.2.3/24', gw: '10.1.2.1' }],
      features: { nesting: true },
      env: { MODE: 'a;b' },
    });
    await client.lxc.updateConfig('pve1', 101, { delete: ['mp0'], description: 'x=1&y=2' });
    await client.lxc.status('pve1', 101);
    await client.close();
    const snapshot = wire.join('\n----\n');
    for (const secret of [PASSWORD, HALF, TICKET, CSRF, CT_PASSWORD, '123456']) expect(snapshot).not.toContain(secret);
    await expect(snapshot).toMatchFileSnapshot('./__snapshots__/wire-lxc.txt');
  });
});
