/**
 * Every form value survives pveproxy's decoder (split on `&` and `;`, key/value on the first `=`,
 * `+` as space, then %XX): a login password and a CT description full of the characters that
 * break naive encoders, over real HTTPS against the simulator, read back from the CT config.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { rootfsTemplate } from '../testing/templates.js';
import { dirname } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient } from '../../../src/index.js';
import { startPveSimulator, type PveSimulator } from '../../../src/testing/index.js';

const NASTY = 'a+b&c;d=e%25f%g\nzweite Zeile ü € 😀 ,x=y; #?/\\\'"';
const TOKEN_SECRET = '0f1e2d3c-4b5a-4697-8877-66554433aa11';

let sim: PveSimulator;
const clients: ProxmoxClient[] = [];
beforeAll(async () => {
  sim = await startPveSimulator({
    taskDurationsMs: { default: 5 },
    users: [
      { userid: 'root@pam', password: 'unused-root-pass', tokens: [{ name: 'lxcri', secret: TOKEN_SECRET }] },
      { userid: 'enc@pve', password: NASTY },
    ],
  });
  // the simulator reads the template as pct create does: a real rootfs tar
  const path = sim.state.volumePath('pve1', 'local:vztmpl/enc.tar')!;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, await rootfsTemplate('enc.tar', 'debian'));
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sim?.close();
});

function client(auth: ConstructorParameters<typeof ProxmoxClient>[0]['auth']): ProxmoxClient {
  const c = new ProxmoxClient({ baseUrl: sim.url, auth, tls: { fingerprint256: sim.fingerprint256 }, tasks: { pollMinMs: 5, pollMaxMs: 20, timeoutMs: 10_000, logPageSize: 50 } });
  clients.push(c);
  return c;
}

describe('form encoding against the simulator', () => {
  it('logs in with a password made of &;=+% newline and unicode', async () => {
    const c = client({ type: 'password', username: 'enc@pve', password: NASTY });
    await expect(c.access.login()).resolves.toMatchObject({ issuedAt: expect.any(Number) as number });
    const login = sim.state.requestLog.filter((e) => e.path === '/access/ticket');
    expect(login.at(-1)?.status).toBe(200);
  });

  it('a description with the same characters reads back unchanged, and the caller object is untouched', async () => {
    const c = client({ type: 'token', tokenId: 'root@pam!lxcri', secret: TOKEN_SECRET });
    const params = { vmid: 9100, ostemplate: 'local:vztmpl/enc.tar', rootfs: 'local-lvm:1', description: NASTY, hostname: 'enc-1', unprivileged: true, start: false, memory: undefined };
    const before = structuredClone(params);
    const upid = await c.lxc.create('pve1', params).catch((e: unknown) => e);
    expect(params).toEqual(before);
    if (typeof upid !== 'string') throw upid;
    await c.tasks.wait(upid);
    const config = await c.lxc.config('pve1', 9100);
    expect(config['description']).toBe(NASTY);
    expect(config['unprivileged']).toBe(1);
    await c.tasks.wait(await c.lxc.destroy('pve1', 9100));
  });
});
