/**
 * ProxmoxClient against the PVE simulator over real HTTPS (self-signed certificate, pinned):
 * every auth mode incl. TFA and renewal after expiry, TLS policy, parameter errors, concurrent
 * VMID allocation, lock-timeout retries, failed tasks with their log, uploads — with both the
 * default transport and the axios adapter. At the end, every request the simulator saw is
 * checked against its parameter verification, and every captured log line, error and the
 * request-log snapshot is scanned for secrets.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { inspect } from 'node:util';
import axios from 'axios';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxmoxClient, isLxcriError, type Logger, type ProxmoxClientOptions } from '../../../src/index.js';
import { axiosTransport, fetchTransport, type TransportFactory } from '../../../src/exports/proxmox.js';
import { startPveSimulator, totp, type PveSimulator } from '../../../src/testing/index.js';
import { caught as caughtError } from '../../helpers/caught.js';

const TFA_SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const ROOT_PASSWORD = 'sim-root-Password-4711';
const TFA_PASSWORD = 'sim-tfa-Password-0815';
const TOKEN_SECRET = '0f1e2d3c-4b5a-4697-8877-66554433aa11';
const CT_PASSWORD = 'ct-root-Secret-99';

/** Everything the tests capture, scanned for secrets at the end. */
const captured: string[] = [];
const knownSecrets = new Set<string>([ROOT_PASSWORD, TFA_PASSWORD, TOKEN_SECRET, CT_PASSWORD]);
/** Sequence numbers of requests that are wrong on purpose (parameter errors provoked by a test). */
const deliberatelyInvalid = new Set<number>();

function captureLogger(): Logger {
  const push =
    (level: string) =>
    (fields: Record<string, unknown>, message?: string): void => {
      captured.push(`${level} ${message ?? ''} ${JSON.stringify(fields)}`);
    };
  return { debug: push('debug'), info: push('info'), warn: push('warn'), error: push('error') };
}

async function caught(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  const error = await caughtError(promise);
  captured.push(error.message, String(error.stack), JSON.stringify(error), inspect(error, { depth: 8 }));
  return error;
}

let sim: PveSimulator;
let now = Date.now();
const clock = { now: () => now };
const clients: ProxmoxClient[] = [];
let templateVolid = '';

function makeClient(options: Partial<ProxmoxClientOptions> & { transport?: TransportFactory } = {}): ProxmoxClient {
  const c = new ProxmoxClient({
    baseUrl: sim.url,
    auth: { type: 'token', tokenId: 'root@pam!lxcri', secret: TOKEN_SECRET },
    tls: { fingerprint256: sim.fingerprint256 },
    retry: { retries: 3, minDelayMs: 5, maxDelayMs: 50 },
    tasks: { pollMinMs: 10, pollMaxMs: 50, timeoutMs: 20_000, logPageSize: 50 },
    logger: captureLogger(),
    ...options,
  });
  clients.push(c);
  return c;
}

/** A small but real template: a tar with /etc/os-release. */
function buildTemplate(): Buffer {
  const content = Buffer.from('ID=debian\nVERSION_ID="12"\n');
  const header = Buffer.alloc(512);
  header.write('etc/os-release', 0, 'utf8');
  header.write('0000644\0', 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(content.length.toString(8).padStart(11, '0') + '\0', 124);
  header.write(Math.floor(Date.now() / 1000).toString(8).padStart(11, '0') + '\0', 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const b of header) sum += b;
  header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  const pad = Buffer.alloc((512 - (content.length % 512)) % 512);
  return Buffer.concat([header, content, pad, Buffer.alloc(1024)]);
}

beforeAll(async () => {
  sim = await startPveSimulator({
    clock,
    taskDurationsMs: { default: 30 },
    lockTimeoutMs: 200,
    createLockTimeoutMs: 200,
    users: [
      { userid: 'root@pam', password: ROOT_PASSWORD, tokens: [{ name: 'lxcri', secret: TOKEN_SECRET }] },
      { userid: 'ops@pve', password: TFA_PASSWORD, totpSecret: TFA_SECRET },
    ],
  });
  const template = buildTemplate();
  const c = makeClient();
  const { upid, volid } = await c.storage.upload('pve1', 'local', {
    content: 'vztmpl',
    filename: 'debian-12-mini.tar',
    source: { stream: (async function* () { yield template; })(), size: template.length },
    checksum: { algorithm: 'sha256', value: createHash('sha256').update(template).digest('hex') },
  });
  await c.tasks.wait(upid);
  templateVolid = volid;
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await sim?.close();
});

const transports: [string, () => TransportFactory][] = [
  ['fetch + undici', () => fetchTransport()],
  ['axios adapter', () => axiosTransport(axios.create())],
];

describe.each(transports)('over real HTTPS with %s', (_name, transport) => {
  it('authenticates with an API token (no CSRF) and reads version, nodes, resources', async () => {
    const c = makeClient({ transport: transport() });
    expect((await c.version.get()).release).toBe('9.1');
    expect((await c.nodes.list()).map((n) => n.node)).toEqual(['pve1']);
    const resources = await c.cluster.resources({ type: 'storage' });
    expect(resources.map((r) => r.id)).toContain('storage/pve1/local-lvm');
    const entry = sim.state.requestLog.at(-1)!;
    expect(entry.auth).toMatchObject({ kind: 'token', tokenId: 'root@pam!lxcri' });
  });

  it('logs in with a password and uses the ticket with CSRF for writes', async () => {
    const c = makeClient({ transport: transport(), auth: { type: 'password', username: 'root@pam', password: ROOT_PASSWORD } });
    const firstEntry = sim.state.requestLog.length;
    const upid = await c.lxc.create('pve1', { vmid: 9001, ostemplate: templateVolid, rootfs: { volume: 'local-lvm:1' }, password: CT_PASSWORD });
    await c.tasks.wait(upid);
    expect(await c.lxc.updateConfig('pve1', 9001, { memory: 256, description: 'a;b=c,d\nline2' })).toBeNull();
    expect(await c.lxc.config('pve1', 9001)).toMatchObject({ memory: 256, description: 'a;b=c,d\nline2' });
    await c.tasks.wait(await c.lxc.destroy('pve1', 9001));
    // Everything after the login (how many task polls there are depends on timing) used the ticket.
    const kinds = sim.state.requestLog
      .slice(firstEntry)
      .filter((e) => e.path !== '/access/ticket')
      .map((e) => `${e.method} ${e.path} ${e.auth.kind} ${e.status}`);
    expect(kinds.filter((k) => !k.endsWith(' ticket 200'))).toEqual([]);
    expect(kinds).toContain('PUT /nodes/pve1/lxc/9001/config ticket 200');
    expect(kinds).toContain('DELETE /nodes/pve1/lxc/9001 ticket 200');
  });

  it('does the two-step TFA login with a TOTP callback', async () => {
    const asked: string[][] = [];
    const c = makeClient({
      transport: transport(),
      auth: {
        type: 'password',
        username: 'ops@pve',
        password: TFA_PASSWORD,
        otp: ({ methods }) => {
          asked.push([...methods]);
          const code = totp(TFA_SECRET, now);
          knownSecrets.add(code);
          return code;
        },
      },
    });
    expect((await c.version.get()).release).toBe('9.1');
    expect(asked).toEqual([['totp']]);
    const logins = sim.state.requestLog.filter((e) => e.path === '/access/ticket').slice(-2);
    expect(logins.map((e) => e.status)).toEqual([200, 200]);
    expect(logins[1]!.params).toHaveProperty('tfa-challenge');
  });

  it('refuses a wrong TOTP code with ProxmoxAuthError', async () => {
    const c = makeClient({ transport: transport(), auth: { type: 'password', username: 'ops@pve', password: TFA_PASSWORD, otp: '000000' } });
    const e = await caught(c.version.get());
    expect(e).toMatchObject({ code: 'ERR_PVE_AUTH', message: 'second factor (TFA) refused for ops@pve: 401 authentication failure' });
  });

  it('renews the ticket before expiry by re-posting it, and re-logs in after a server-side expiry', async () => {
    const c = makeClient({ transport: transport(), auth: { type: 'password', username: 'root@pam', password: ROOT_PASSWORD }, clock });
    await c.version.get();
    const before = sim.state.requestLog.length;
    now += 61 * 60_000; // past renewAfterMs (1 h), before PVE's 2 h expiry
    await c.version.get();
    const renewal = sim.state.requestLog.slice(before);
    expect(renewal.map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual(['POST /access/ticket 200', 'GET /version 200']);
    expect(String(renewal[0]!.params['password'])).not.toBe(ROOT_PASSWORD); // the ticket, redacted in the log

    // The server clock jumps 3 h while the client's does not: the ticket is expired server-side.
    const clientClockFrozen = now;
    const c2 = makeClient({ transport: transport(), auth: { type: 'password', username: 'root@pam', password: ROOT_PASSWORD }, clock: { now: () => clientClockFrozen } });
    await c2.version.get();
    now += 3 * 3_600_000;
    const mark = sim.state.requestLog.length;
    expect((await c2.version.get()).release).toBe('9.1');
    expect(sim.state.requestLog.slice(mark).map((e) => `${e.method} ${e.path} ${e.status}`)).toEqual([
      'GET /version 401',
      'POST /access/ticket 200',
      'GET /version 200',
    ]);
  });

  it('uses a pre-obtained ticket + CSRF token', async () => {
    const raw = makeClient({ transport: transport() });
    const t = await raw.access.ticket({ username: 'root@pam', password: ROOT_PASSWORD });
    knownSecrets.add(t.ticket!);
    knownSecrets.add(t.CSRFPreventionToken!);
    const c = makeClient({ transport: transport(), auth: { type: 'ticket', username: 'root@pam', ticket: t.ticket!, csrfToken: t.CSRFPreventionToken!, issuedAt: now }, clock });
    const upid = await c.lxc.create('pve1', { vmid: 9002, ostemplate: templateVolid, rootfs: 'local-lvm:1' });
    await c.tasks.wait(upid);
    await c.tasks.wait(await c.lxc.destroy('pve1', 9002));
  });

  it('pins the certificate: a match is accepted, a mismatch and an unpinned self-signed certificate are refused', async () => {
    expect((await makeClient({ transport: transport() }).version.get()).release).toBe('9.1');
    const wrong = sim.fingerprint256.startsWith('00') ? `11${sim.fingerprint256.slice(2)}` : `00${sim.fingerprint256.slice(2)}`;
    const before = sim.state.requestLog.length;
    const mismatch = await caught(makeClient({ transport: transport(), tls: { fingerprint256: wrong } }).version.get());
    expect(mismatch).toMatchObject({ code: 'ERR_PVE_NETWORK', retryable: false });
    expect(mismatch.message).toContain('does not match the pinned fingerprint');
    const selfSigned = await caught(makeClient({ transport: transport(), tls: {} }).version.get());
    expect(selfSigned).toMatchObject({ code: 'ERR_PVE_NETWORK', retryable: false });
    expect(selfSigned.message).toMatch(/TLS certificate not trusted \((DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)\)/);
    expect(sim.state.requestLog.length).toBe(before); // nothing reached the server
    expect((await makeClient({ transport: transport(), tls: { ca: sim.cert } }).version.get()).release).toBe('9.1');
  });

  it("surfaces PVE's per-parameter message", async () => {
    const c = makeClient({ transport: transport() });
    const e = await caught(c.lxc.create('pve1', { vmid: 9003, ostemplate: templateVolid, net: ['name=eth0,bridge=vmbr0,ip=10.0.0.5'] }));
    deliberatelyInvalid.add(sim.state.requestLog.at(-1)!.seq);
    expect(e).toMatchObject({ code: 'ERR_PVE_HTTP', status: 400, statusText: 'Parameter verification failed.' });
    const errors = e['errors'] as Record<string, string>;
    // PVE folds the sub-key's error into the parameter's own key
    expect(errors['net0']).toMatch(/^invalid format - format error\nnet0\.ip: invalid format - value does not look like a valid ipv4 network configuration$/);
    expect(e.message).toMatch(/^POST \/nodes\/pve1\/lxc failed: 400 Parameter verification failed\. \(.*net0\.ip: invalid format/);
  });

  it('retries a PUT after a config-lock timeout', async () => {
    const c = makeClient({ transport: transport() });
    const upid = await c.lxc.create('pve1', { vmid: 9004, ostemplate: templateVolid, rootfs: 'local-lvm:1' });
    await c.tasks.wait(upid);
    sim.state.addFault({ kind: 'lock-timeout', vmid: 9004, times: 1 });
    const mark = sim.state.requestLog.length;
    expect(await c.lxc.updateConfig('pve1', 9004, { cores: 2 })).toBeNull();
    const puts = sim.state.requestLog.slice(mark).filter((e) => e.method === 'PUT');
    expect(puts.map((e) => `${e.status} ${e.statusText}`)).toEqual([
      "500 can't lock file '/run/lock/lxc/pve-config-9004.lock' - got timeout",
      '200 OK',
    ]);
    expect((await c.lxc.config('pve1', 9004))['cores']).toBe(2);
    await c.tasks.wait(await c.lxc.destroy('pve1', 9004));
  });

  it("carries a failed task's exit status and log in ProxmoxTaskError", async () => {
    const c = makeClient({ transport: transport() });
    await c.tasks.wait(await c.lxc.create('pve1', { vmid: 9005, ostemplate: templateVolid, rootfs: 'local-lvm:1' }));
    sim.state.addFault({ kind: 'task-failure', taskType: 'vzstart', vmid: 9005, exitStatus: "startup for container '9005' failed", times: 1 });
    const upid = await c.lxc.start('pve1', 9005);
    const e = await caught(c.tasks.wait(upid));
    expect(e).toMatchObject({ code: 'ERR_PVE_TASK', upid, exitStatus: "startup for container '9005' failed" });
    const log = e['logTail'] as string[];
    expect(log.length).toBeGreaterThan(0);
    expect(log.at(-1)).toBe("TASK ERROR: startup for container '9005' failed");
    expect((await c.lxc.status('pve1', 9005)).status).toBe('stopped');
    await c.tasks.wait(await c.lxc.destroy('pve1', 9005));
  });

  it('retries a GET after a dropped connection, but never re-sends a create whose answer was lost', async () => {
    const c = makeClient({ transport: transport() });
    sim.state.addFault({ kind: 'drop-connection', match: { method: 'GET', path: '/version' }, times: 1 });
    const mark = sim.state.requestLog.length;
    expect((await c.version.get()).release).toBe('9.1');
    expect(sim.state.requestLog.slice(mark).map((e) => `${e.path} ${e.dropped === true ? 'dropped' : e.status}`)).toEqual(['/version dropped', '/version 200']);

    sim.state.addFault({ kind: 'lose-response', match: { method: 'POST', path: '/nodes/pve1/lxc' }, times: 1 });
    const before = sim.state.requestLog.length;
    const e = await caught(c.lxc.create('pve1', { vmid: 9006, ostemplate: templateVolid, rootfs: 'local-lvm:1' }));
    expect(e).toMatchObject({ code: 'ERR_PVE_OUTCOME_UNKNOWN', grpcStatus: 'Unknown', cause: { code: 'ERR_PVE_NETWORK' } });
    const creates = sim.state.requestLog.slice(before).filter((x) => x.method === 'POST' && x.path === '/nodes/pve1/lxc');
    expect(creates).toHaveLength(1); // the CT was created, the answer lost: no second POST
    expect(sim.state.cts.has(9006)).toBe(true);
    await sim.state.settle();
    await c.tasks.wait(await c.lxc.destroy('pve1', 9006));
  });

  it('retries reads through 595/596 from an offline node and reports them as retryable', async () => {
    const c = makeClient({ transport: transport(), retry: { retries: 1, minDelayMs: 5, maxDelayMs: 10 } });
    sim.state.addFault({ kind: 'node-offline', node: 'pve1', status: 596, times: 1 });
    expect(Array.isArray(await c.lxc.list('pve1'))).toBe(true);
    sim.state.addFault({ kind: 'node-offline', node: 'pve1', status: 595 });
    const e = await caught(c.lxc.list('pve1'));
    expect(e).toMatchObject({ code: 'ERR_PVE_HTTP', status: 595, retryable: true, grpcStatus: 'Unavailable' });
    sim.state.clearFaults();
  });

  it('20 concurrent allocate + create from two clients give 20 distinct CTs', async () => {
    const a = makeClient({ transport: transport() });
    const b = makeClient({ transport: transport() });
    const create = (c: ProxmoxClient, i: number) =>
      c.allocateVmid(async (vmid, signal) => {
        const upid = await c.lxc.create('pve1', { vmid, ostemplate: templateVolid, rootfs: 'local-lvm:1', hostname: `ct-${i}` }, signal ? { signal } : {});
        return upid;
      });
    // slow the first creates down so both clients surely read the same nextid before either creates
    const fault = sim.state.addFault({ kind: 'latency', match: { method: 'POST', path: '/nodes/pve1/lxc' }, delayMs: 40, times: 4 });
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => create(i % 2 === 0 ? a : b, i)));
    sim.state.removeFault(fault);
    await Promise.all(results.map((r) => a.tasks.wait(r.result)));
    const vmids = results.map((r) => r.vmid);
    expect(new Set(vmids).size).toBe(20);
    const listed = (await a.lxc.list('pve1')).map((ct) => ct.vmid);
    for (const vmid of vmids) expect(listed).toContain(vmid);
    const hostnames = await Promise.all(vmids.map(async (vmid) => (await a.lxc.config('pve1', vmid))['hostname']));
    expect(new Set(hostnames).size).toBe(20);
    // two independent clients race on nextid: at least one conflict was retried with a fresh id
    expect(results.some((r) => r.attempts > 1)).toBe(true);
    await Promise.all(vmids.map(async (vmid) => a.tasks.wait(await a.lxc.destroy('pve1', vmid))));
  });

  it('uploads a template from a path with sha256 and progress; the file lands intact', async () => {
    const c = makeClient({ transport: transport() });
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { writeFile, mkdtemp, rm } = await import('node:fs/promises');
    const dir = await mkdtemp(join(tmpdir(), 'lxcri-upload-'));
    try {
      const path = join(dir, 'app image.tar');
      const data = Buffer.alloc(3 * 1024 * 1024 + 17, 0x5a);
      await writeFile(path, data);
      const progress: number[] = [];
      const result = await c.storage.upload('pve1', 'local', { content: 'vztmpl', source: { path }, onProgress: (p) => progress.push(p.bytesDone) });
      expect(result.volid).toBe('local:vztmpl/app_image.tar');
      expect(result.checksum).toEqual({ algorithm: 'sha256', value: createHash('sha256').update(data).digest('hex') });
      expect(progress.at(-1)).toBe(data.length);
      await c.tasks.wait(result.upid);
      const stored = await readFile(sim.state.volumePath('pve1', result.volid)!);
      expect(stored.equals(data)).toBe(true);
      expect((await c.storage.content('pve1', 'local', { content: 'vztmpl' })).map((v) => v.volid)).toContain('local:vztmpl/app_image.tar');
      expect(await c.storage.deleteContent('pve1', 'local', result.volid)).toMatch(/^UPID:|^$|null/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('random VMID mode', () => {
  it('fills a small range with concurrent creates, then reports the range as exhausted', async () => {
    const c = makeClient({ vmid: { mode: 'random', min: 20000, max: 20007, maxAttempts: 40 } });
    const create = () => c.allocateVmid((vmid, signal) => c.lxc.create('pve1', { vmid, ostemplate: templateVolid, rootfs: 'local-lvm:1' }, signal ? { signal } : {}));
    const results = await Promise.all(Array.from({ length: 8 }, create));
    await Promise.all(results.map((r) => c.tasks.wait(r.result)));
    expect(results.map((r) => r.vmid).sort()).toEqual([20000, 20001, 20002, 20003, 20004, 20005, 20006, 20007]);
    const e = await caught(c.allocateVmid((vmid) => c.lxc.create('pve1', { vmid, ostemplate: templateVolid, rootfs: 'local-lvm:1' }), { maxAttempts: 5 }));
    expect(e).toMatchObject({ code: 'ERR_ALREADY_EXISTS', message: 'no free VMID after 5 attempts', grpcStatus: 'AlreadyExists' });
    await Promise.all(results.map(async (r) => c.tasks.wait(await c.lxc.destroy('pve1', r.vmid))));
  });
});

describe('upload input checks', () => {
  it('refuses a stream shorter than declared, a bad vztmpl extension and sha256 on a stream', async () => {
    const c = makeClient();
    const short = await caught(
      c.storage.upload('pve1', 'local', {
        content: 'vztmpl',
        filename: 'short.tar',
        source: { stream: (async function* () { yield Buffer.alloc(1000); })(), size: 5000 },
      }),
    );
    expect(short).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: 'size: short.tar yielded 1000 bytes, declared 5000' });
    expect((await c.storage.content('pve1', 'local')).map((v) => v.volid)).not.toContain('local:vztmpl/short.tar');
    const ext = await caught(c.storage.upload('pve1', 'local', { content: 'vztmpl', filename: 'x.zip', source: { stream: (async function* () {})(), size: 0 } }));
    expect(ext).toMatchObject({ code: 'ERR_INVALID_ARGUMENT', message: 'filename: a vztmpl upload must end in .tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2' });
    const sha = await caught(
      c.storage.upload('pve1', 'local', { content: 'vztmpl', filename: 'a.tar', checksum: 'sha256', source: { stream: (async function* () {})(), size: 0 } }),
    );
    expect(sha.message).toMatch(/^checksum: 'sha256' can only be computed for a path/);
  });

  it('lets PVE reject a wrong checksum: the imgcopy task fails with the mismatch', async () => {
    const c = makeClient();
    const data = Buffer.from('not really a tarball but bytes');
    const { upid } = await c.storage.upload('pve1', 'local', {
      content: 'vztmpl',
      filename: 'bad-sum.tar',
      source: { stream: (async function* () { yield data; })(), size: data.length },
      checksum: { algorithm: 'sha256', value: '0'.repeat(64) },
    });
    const e = await caught(c.tasks.wait(upid));
    expect(e).toMatchObject({ code: 'ERR_PVE_TASK' });
    expect(String(e['exitStatus'])).toMatch(/checksum mismatch/);
  });
});

describe('placement', () => {
  it('chooses a node from /cluster/resources', async () => {
    const c = makeClient();
    expect(await c.choosePlacement({ storage: 'local-lvm', content: ['rootdir'] })).toMatchObject({ node: 'pve1', storage: 'local-lvm' });
    await expect(c.choosePlacement({ storage: 'local', content: ['rootdir'] })).rejects.toMatchObject({ code: 'ERR_FAILED_PRECONDITION' });
  });
});

describe('after all calls', () => {
  it('every request the client sent passed the simulator parameter checks', () => {
    // `GET /cluster/nextid?vmid=X` answering 400 "VM X already exists" is PVE's way to say "taken"
    // (the random VMID mode probes with it), not a malformed request.
    const isTakenProbe = (e: (typeof sim.state.requestLog)[number]): boolean => e.method === 'GET' && e.path === '/cluster/nextid' && e.params['vmid'] !== undefined;
    expect(sim.state.requestLog.some(isTakenProbe)).toBe(true);
    const failed = sim.state.requestLog.filter((e) => e.status === 400 && !deliberatelyInvalid.has(e.seq) && !isTakenProbe(e));
    expect(failed.map((e) => `${e.method} ${e.path} ${e.statusText} ${JSON.stringify(e.params)}`)).toEqual([]);
    expect(deliberatelyInvalid.size).toBe(2);
    // nor any wire-level refusal (content type, chunked upload, method, duplicate parameters)
    expect(sim.state.requestLog.filter((e) => e.status === 501 || e.status === 506 || /duplicate parameter/.test(e.statusText))).toEqual([]);
    expect(sim.state.requestLog.length).toBeGreaterThan(150);
  });

  it('no captured log line, error or request-log snapshot contains a secret', () => {
    const snapshot = JSON.stringify(sim.state.requestLog);
    const haystack = [...captured, snapshot, ...clients.map((c) => inspect(c, { depth: 6, showHidden: true }))].join('\n');
    expect(captured.length).toBeGreaterThan(100);
    for (const secret of knownSecrets) {
      const at = haystack.indexOf(secret);
      expect(at, `secret ${secret.slice(0, 3)}… leaked: …${haystack.slice(Math.max(0, at - 300), at).replaceAll(secret, '<S>')}`).toBe(-1);
    }
    // shapes of credentials the tests never saw (tickets the client obtained by itself)
    expect(haystack).not.toMatch(/PVE:[^\s:"]+:[0-9A-F]{8}::[A-Za-z0-9+/=]{8,}/);
    expect(haystack).not.toMatch(/PVEAPIToken=[^=\s"]+=[0-9a-f]{8}-/);
    expect(haystack).not.toMatch(/PVEAuthCookie=PVE/);
    expect(isLxcriError(new Error('x'))).toBe(false);
  });
});
