/**
 * Crash safety: a child process creates a container and is SIGKILLed at each point of the create
 * it reports (every distinct progress event: each step's begin, the template build, upload and
 * task, the CT create and configure, the layers of a bundle, ...). Then a new `Lxcri` on the same
 * state dir runs `reconcile({ remove: true })`, and nothing is left: no record, no bundle dir, no
 * mount under the state dir, no OCI runtime state, no CT, no lock, no partial template, no temp
 * file. The LXC path runs against the simulator (PVE 9.1 OCI templates and 8.4 rootfs
 * templates); the crun path as root with crun.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lxcri } from '../../src/lxcri/lxcri.js';
import type { LxcriOptions } from '../../src/lxcri/options.js';
import { CRUN_HYBRID_CGROUP_PREFIX } from '../../src/lxcri/oci-runtime.js';
import { mountsBelow } from '../../src/oci/bundle/write-bundle.js';
import { buildDemoImage, startPveSimulator, type DemoImage, type PveSimulator } from '../../src/testing/index.js';
import { missing } from '../helpers/requirements.js';
import { SOAK, lxcOptions, simulatorLeaks, templateFiles } from './helpers.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'crash-child.ts');

interface ChildRun {
  events: string[];
  frozen?: string;
  done?: { containerId: string; vmid?: number; bundlePath?: string } | undefined;
}

/** Runs the child; SIGKILLs it once it reports `FROZEN` at `freezeAt`. */
function runChild(options: LxcriOptions, request: unknown, freezeAt: string): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD], {
      env: { ...process.env, LXCRI_CRASH_INPUT: JSON.stringify({ options, request, freezeAt }) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const run: ChildRun = { events: [] };
    let buffer = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the child did not freeze or finish in time (events: ${run.events.join(' ')})`));
    }, 60_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith('EVENT ')) run.events.push(line.slice(6));
        else if (line.startsWith('FROZEN ')) {
          run.frozen = line.slice(7);
          child.kill('SIGKILL');
        } else if (line.startsWith('DONE ')) run.done = JSON.parse(line.slice(5)) as ChildRun['done'];
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (run.frozen !== undefined ? signal === 'SIGKILL' : code === 0) resolve(run);
      else reject(new Error(`child exited with ${code ?? signal}: ${stderr.slice(-2000)}`));
    });
  });
}

/** The distinct progress events of a complete create, in order: the kill points. */
function killPoints(events: readonly string[]): string[] {
  return [...new Set(events)].filter((e) => !e.startsWith('validate:begin'));
}

/** The kill points of `npm test`: where a create has made something (soak: every event). */
const DEFAULT_POINTS = [
  'image:begin:',
  'reserve:end:',
  'prepare:progress:layers',
  'create:begin:',
  'create:progress:rootfs',
  'create:progress:template-build',
  'create:progress:upload',
  'create:progress:template-task',
  'create:progress:create',
  'create:progress:configure',
  'record:begin:',
  'record:end:',
];
function pick(points: readonly string[]): string[] {
  return SOAK ? [...points] : points.filter((p) => DEFAULT_POINTS.includes(p));
}

let work: string;
let image: DemoImage;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-crash-'));
  image = await buildDemoImage(join(work, 'image'));
});
afterAll(async () => {
  if (work && (await mountsBelow(work)).length === 0) await rm(work, { recursive: true, force: true });
});

const pod = (name: string): Record<string, unknown> => ({ metadata: { name, uid: `uid-${name}`, namespace: 'crash' } });
const request = (podSandboxId: string, name: string): Record<string, unknown> => ({
  podSandboxId,
  config: { metadata: { name: 'app' }, image: { image: image.reference }, command: ['/bin/sh', '-c', 'echo hi'] },
  sandboxConfig: pod(name),
});

/** What a state dir holds besides its pods: records, bundles, mounts, OCI runtime state, temp files. */
async function stateLeaks(stateDir: string, lxcri: Lxcri): Promise<string[]> {
  const leaks: string[] = [];
  for (const c of await lxcri.listContainers()) leaks.push(`record ${c.id} (${c.state})`);
  for (const name of await readdir(join(stateDir, 'bundles')).catch(() => [] as string[])) leaks.push(`bundle ${name}`);
  for (const m of await mountsBelow(stateDir)) if (!m.startsWith(join(stateDir, 'pods'))) leaks.push(`mount ${m}`);
  for (const name of await readdir(join(stateDir, 'templates')).catch(() => [] as string[])) leaks.push(`template temp file ${name}`);
  for (const runtime of ['crun', 'runc']) {
    for (const name of await readdir(join(stateDir, 'run', runtime)).catch(() => [] as string[])) leaks.push(`${runtime} state ${name}`);
  }
  return leaks;
}

describe.each(['9.1', '8.4'] as const)('SIGKILL during an LXC create (Proxmox VE %s simulator)', (version) => {
  let sim: PveSimulator;
  let complete: Map<string, string>;
  let points: string[] = [];
  let n = 0;
  const clearTemplates = async (): Promise<void> => {
    const dir = join(sim.state.storagePath('pve1', 'local'), 'template', 'cache');
    for (const name of await readdir(dir)) await rm(join(dir, name), { force: true });
  };

  beforeAll(async () => {
    sim = await startPveSimulator({ version, taskDurationsMs: { default: 20 } });
    // a complete run: its events are the kill points, its template the complete one
    const stateDir = await mkdtemp(join(work, `lxc-${version}-`));
    const options = lxcOptions(sim, stateDir, image.layout);
    const lxcri = new Lxcri(options);
    const { podSandboxId } = await lxcri.runPodSandbox(pod('discover'));
    const run = await runChild(options, request(podSandboxId, 'discover'), '');
    expect(run.done?.containerId).toMatch(/^[0-9a-f]{64}$/);
    points = killPoints(run.events);
    complete = await templateFiles(sim);
    await lxcri.removePodSandbox(podSandboxId);
    await lxcri.close();
    expect(sim.state.cts.size).toBe(0);
  });
  afterAll(async () => {
    await sim?.close();
  });

  it('kills at each point of the create; a new Lxcri reconciles to nothing', async () => {
    expect(points).toContain('create:progress:upload');
    expect(points).toContain('create:progress:create');
    for (const at of pick(points)) {
      await clearTemplates();
      const stateDir = await mkdtemp(join(work, `lxc-${version}-${n++}-`));
      const options = lxcOptions(sim, stateDir, image.layout);
      const first = new Lxcri(options);
      const { podSandboxId } = await first.runPodSandbox(pod(`p${n}`));
      await first.close();
      const run = await runChild(options, request(podSandboxId, `p${n}`), at);
      expect(run.frozen, `never reached ${at}`).toBe(at);

      const after = new Lxcri(options);
      const report = await after.reconcile({ remove: true });
      // a kill while the template was built leaves its temp files (and a rootfs mount on 8.4)
      if (at === 'create:progress:template-build') expect(report.leftovers.length, at).toBeGreaterThan(0);
      if (at === 'record:end:') expect(report.consistent).toHaveLength(1);
      else expect(report.consistent, at).toEqual([]);
      await sim.state.settle();
      if (at === 'record:end:') {
        // the create had finished: the container is whole and stays until removed
        await after.removePodSandbox(podSandboxId);
      }
      expect(await stateLeaks(stateDir, after), `after a kill at ${at}`).toEqual([]);
      expect(await simulatorLeaks(sim, complete), `after a kill at ${at}`).toEqual([]);
      await after.removePodSandbox(podSandboxId);
      expect(await mountsBelow(stateDir)).toEqual([]);
      await after.close();
    }
  }, 600_000);
});

const crunMissing = missing({ tools: ['crun', 'perl', 'unshare'], root: true });

describe.skipIf(crunMissing)('SIGKILL during a crun create', () => {
  const ociOptions = (stateDir: string): LxcriOptions => ({
    stateDir,
    images: image.layout,
    hostChecks: false,
    policy: { defaultRuntime: 'crun' },
    oci: { runtime: 'crun', commandPrefix: [...CRUN_HYBRID_CGROUP_PREFIX], cgroupManager: 'disabled' },
  });

  it('kills at each point of the create; a new Lxcri reconciles to nothing', async () => {
    const discoverDir = await mkdtemp(join(work, 'crun-discover-'));
    const lxcri = new Lxcri(ociOptions(discoverDir));
    const { podSandboxId } = await lxcri.runPodSandbox(pod('discover'));
    const run = await runChild(ociOptions(discoverDir), request(podSandboxId, 'discover'), '');
    expect(run.done?.bundlePath).toBeTruthy();
    await lxcri.removePodSandbox(podSandboxId);
    expect(await stateLeaks(discoverDir, lxcri)).toEqual([]);
    await lxcri.close();
    const points = killPoints(run.events);
    expect(points).toContain('prepare:begin:');

    let n = 0;
    for (const at of pick(points)) {
      const stateDir = await mkdtemp(join(work, `crun-${n++}-`));
      const first = new Lxcri(ociOptions(stateDir));
      const { podSandboxId: podId } = await first.runPodSandbox(pod(`c${n}`));
      await first.close();
      const killed = await runChild(ociOptions(stateDir), request(podId, `c${n}`), at);
      expect(killed.frozen, `never reached ${at}`).toBe(at);

      const after = new Lxcri(ociOptions(stateDir));
      const report = await after.reconcile({ remove: true });
      if (at === 'record:end:') {
        expect(report.consistent).toHaveLength(1);
        await after.removePodSandbox(podId);
      } else expect(report.consistent, at).toEqual([]);
      expect(await stateLeaks(stateDir, after), `after a kill at ${at}`).toEqual([]);
      await after.removePodSandbox(podId);
      expect(await mountsBelow(stateDir), `after a kill at ${at}`).toEqual([]);
      await after.close();
    }
  }, 600_000);
});
