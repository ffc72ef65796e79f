/**
 * Fault matrix of the LXC path: every fault the simulator injects (HTTP 500/502/503/595/596,
 * connection reset, an answer slower than the client's timeout, a lost answer, task failures,
 * lock timeouts, an offline node, an interrupted upload) at each request `createContainer` makes
 * (version, placement, storages, template lookup, upload and its task, nextid, the create POST and
 * its task, the entrypoint config PUT), once and repeatedly. Per cell: the call succeeds exactly
 * once (one CT, its record CREATED) or fails with a typed LxcriError; afterwards the simulator
 * holds no CT without a record, no lock, no partial template, and lxcri no temp file.
 *
 * The logs and errors of the whole matrix (token auth on 9.1, password auth with tickets and
 * CSRF tokens on 8.4) must not contain a token secret, password, ticket or CSRF token.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLxcriError } from '../../src/errors.js';
import { Lxcri } from '../../src/lxcri/lxcri.js';
import { buildDemoImage, startPveSimulator, type DemoImage, type PveFaultRule, type PveSimulator } from '../../src/testing/index.js';
import { SOAK, capturingLogger, errorText, leakedSecrets, lxcOptions, ourCts, simulatorLeaks, templateFiles, watchSecrets, type CapturedLog } from './helpers.js';

/** The requests of one create (no template cached), by step. */
const TARGETS: { name: string; method: string; path: RegExp; versions?: readonly string[] }[] = [
  { name: 'version', method: 'GET', path: /^\/version$/ },
  { name: 'placement', method: 'GET', path: /^\/cluster\/resources$/ },
  { name: 'storages', method: 'GET', path: /^\/nodes\/pve1\/storage$/ },
  { name: 'template-lookup', method: 'GET', path: /^\/nodes\/pve1\/storage\/local\/content$/ },
  { name: 'upload', method: 'POST', path: /^\/nodes\/pve1\/storage\/local\/upload$/ },
  { name: 'upload-task', method: 'GET', path: /imgcopy.*\/status$/ },
  { name: 'nextid', method: 'GET', path: /^\/cluster\/nextid$/ },
  { name: 'create', method: 'POST', path: /^\/nodes\/pve1\/lxc$/ },
  { name: 'create-task', method: 'GET', path: /vzcreate.*\/status$/ },
  { name: 'configure', method: 'PUT', path: /^\/nodes\/pve1\/lxc\/\d+\/config$/, versions: ['9.1'] },
];

const CLIENT_TIMEOUT_MS = 250;

type HttpFault = { label: string; rule: (match: { method: string; path: RegExp }, times: number) => PveFaultRule };
const HTTP_FAULTS: HttpFault[] = [
  ...[500, 502, 503, 595, 596].map((status) => ({
    label: `HTTP ${status}`,
    rule: (match: { method: string; path: RegExp }, times: number): PveFaultRule => ({ kind: 'http-error', match, status, message: `injected ${status}`, times }),
  })),
  { label: 'connection reset', rule: (match, times) => ({ kind: 'drop-connection', match, times }) },
  { label: 'lost answer', rule: (match, times) => ({ kind: 'lose-response', match, times }) },
  { label: 'slower than the timeout', rule: (match, times) => ({ kind: 'latency', match, delayMs: CLIENT_TIMEOUT_MS * 3, times }) },
];

interface Cell {
  label: string;
  /** Adds the fault (before the call, or from a progress event). */
  setup: (sim: PveSimulator) => void;
}

function cells(version: string): Cell[] {
  const out: Cell[] = [];
  for (const target of TARGETS) {
    if (target.versions && !target.versions.includes(version)) continue;
    for (const fault of HTTP_FAULTS) {
      // once (a retry or the recovery path meets a healthy server); soak: also three times (retries exhausted)
      for (const times of fault.label.startsWith('slower') || !SOAK ? [1] : [1, 3]) {
        out.push({ label: `${fault.label} ×${times} at ${target.name}`, setup: (sim) => sim.state.addFault(fault.rule({ method: target.method, path: target.path }, times)) });
      }
    }
  }
  for (const taskType of ['imgcopy', 'vzcreate']) {
    out.push({ label: `task failure of ${taskType}`, setup: (sim) => sim.state.addFault({ kind: 'task-failure', taskType, exitStatus: `injected ${taskType} failure`, times: 1 }) });
    out.push({ label: `task warnings of ${taskType}`, setup: (sim) => sim.state.addFault({ kind: 'task-failure', taskType, exitStatus: 'WARNINGS: 2', times: 1 }) });
  }
  // the first free VMID is 100: its config lock times out (the config PUT, a rollback's destroy)
  out.push({ label: 'lock timeout of the new CT', setup: (sim) => sim.state.addFault({ kind: 'lock-timeout', vmid: 100, times: 1 }) });
  for (const status of [595, 596] as const) out.push({ label: `node offline (${status})`, setup: (sim) => sim.state.addFault({ kind: 'node-offline', node: 'pve1', status }) });
  return out;
}

let work: string;
let image: DemoImage;
const logs: CapturedLog[] = [];
const errors: string[] = [];
const secretLists: (() => string[])[] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-faults-'));
  image = await buildDemoImage(join(work, 'image'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each([
  { version: '9.1' as const, auth: 'token' as const },
  { version: '8.4' as const, auth: 'password' as const },
])('fault matrix of createContainer on Proxmox VE $version ($auth auth)', ({ version, auth }) => {
  let sim: PveSimulator;
  /** The complete template files, by name (from a clean create). */
  let complete: Map<string, string>;
  let n = 0;

  const open = async (): Promise<{ lxcri: Lxcri; stateDir: string }> => {
    const stateDir = await mkdtemp(join(work, `state-${version}-`));
    const lxcri = new Lxcri(lxcOptions(sim, stateDir, image.layout, { auth, logger: capturingLogger(logs), timeoutMs: CLIENT_TIMEOUT_MS }));
    return { lxcri, stateDir };
  };
  const request = (name: string): Record<string, unknown> => {
    const sandboxConfig = { metadata: { name: `pod-${name}`, uid: `uid-${name}`, namespace: 'default' } };
    return { config: { metadata: { name: 'app' }, image: { image: image.reference }, command: ['/bin/sh', '-c', 'echo hi'] }, sandboxConfig };
  };
  const clearTemplates = async (): Promise<void> => {
    const dir = join(sim.state.storagePath('pve1', 'local'), 'template', 'cache');
    for (const name of await readdir(dir)) await rm(join(dir, name), { force: true });
  };

  beforeAll(async () => {
    sim = await startPveSimulator({ version, taskDurationsMs: { default: 2 }, createLockTimeoutMs: 200 });
    secretLists.push(watchSecrets(sim));
    // a clean create gives the complete template (the name and bytes of a whole one)
    const { lxcri } = await open();
    const req = request('clean');
    const { podSandboxId } = await lxcri.runPodSandbox(req['sandboxConfig']);
    await lxcri.createContainer({ ...req, podSandboxId });
    complete = await templateFiles(sim);
    expect(complete.size).toBe(1);
    await lxcri.removePodSandbox(podSandboxId);
    await lxcri.close();
    expect(sim.state.cts.size).toBe(0);
  });
  afterAll(async () => {
    await sim.close();
  });

  it.each(cells(version).map((c) => [c.label, c] as const))('%s: succeeds once or fails typed, and leaves nothing', async (_label, cell) => {
    await clearTemplates();
    // a failed cell's leftovers must not fail the next one
    sim.state.cts.clear();
    const { lxcri, stateDir } = await open();
    const req = request(`c${n++}`);
    const { podSandboxId } = await lxcri.runPodSandbox(req['sandboxConfig']);
    cell.setup(sim);
    let outcome: { ok: true; containerId: string; vmid: number } | { ok: false; error: unknown };
    try {
      const made = await lxcri.createContainer({ ...req, podSandboxId });
      outcome = { ok: true, containerId: made.containerId, vmid: made.vmid as number };
    } catch (error) {
      outcome = { ok: false, error };
      errors.push(errorText(error));
    }
    sim.state.clearFaults();
    await sim.state.settle();

    const records = await lxcri.listContainers();
    if (outcome.ok) {
      expect(ourCts(sim)).toEqual([outcome.vmid]);
      expect(records.map((r) => [r.id, r.state])).toEqual([[outcome.containerId, 'CONTAINER_CREATED']]);
      expect(sim.state.cts.get(outcome.vmid)?.config['description']).toContain(outcome.containerId);
      expect(await simulatorLeaks(sim, complete, [outcome.vmid])).toEqual([]);
    } else {
      const error = outcome.error;
      expect(isLxcriError(error), `not a typed error: ${String(error)}`).toBe(true);
      expect((error as { code: string }).code).toMatch(/^ERR_/);
      expect(records).toEqual([]);
      expect(await simulatorLeaks(sim, complete)).toEqual([]);
    }
    expect(await readdir(join(stateDir, 'templates')).catch(() => [])).toEqual([]);
    await lxcri.removePodSandbox(podSandboxId);
    expect(sim.state.cts.size).toBe(0);
    await lxcri.close();
  });
});

describe('secrets', () => {
  it('no log line or error of the matrix holds a token secret, password, ticket or CSRF token', () => {
    const secrets = secretLists.flatMap((list) => list());
    // the password run logged in: there were tickets and CSRF tokens to leak
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    expect(logs.length).toBeGreaterThan(0);
    expect(errors.length).toBeGreaterThan(0);
    const text = [...logs.map((l) => JSON.stringify(l)), ...errors].join('\n');
    expect(leakedSecrets(text, secrets)).toEqual([]);
  });
});
