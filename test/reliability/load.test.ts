/**
 * Load: creates and removes in a loop — against the simulator at concurrency 16 (20 in `npm test`,
 * 200 in `npm run test:soak`) and with crun as root (5, soak 50) — and nothing grows: open file
 * descriptors, mounts, child processes, and the heap (after a GC) are measured before and after.
 * The LXC run also checks the figures of the issue: distinct VMIDs, one template upload.
 */
import { mkdtemp, readFile, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContainer } from '../../src/create-container.js';
import { Lxcri } from '../../src/lxcri/lxcri.js';
import type { LxcriOptions } from '../../src/lxcri/options.js';
import { CRUN_HYBRID_CGROUP_PREFIX } from '../../src/lxcri/oci-runtime.js';
import { mountsBelow } from '../../src/oci/bundle/write-bundle.js';
import { buildDemoImage, startPveSimulator, type DemoImage, type PveSimulator } from '../../src/testing/index.js';
import { missing } from '../helpers/requirements.js';
import { until } from '../helpers/wait.js';
import { SOAK, lxcOptions } from './helpers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Usage {
  fds: number;
  /** Sockets among the fds (the simulator's and the client's ends live in this process). */
  sockets: number;
  mounts: number;
  children: number;
  heapMiB: number;
}

async function usage(): Promise<Usage> {
  gc();
  gc();
  const fds = await readdir('/proc/self/fd');
  let sockets = 0;
  for (const fd of fds) if ((await readlink(`/proc/self/fd/${fd}`).catch(() => '')).startsWith('socket:')) sockets++;
  const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter(Boolean).length;
  let children = 0;
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // the ppid is the 2nd field after the ")" closing the command name
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === process.pid) children++;
  }
  return { fds: fds.length, sockets, mounts, children, heapMiB: process.memoryUsage().heapUsed / 2 ** 20 };
}

/** Polls `usage()` until nothing is above `before` (+ slack), or the deadline; returns the last. */
async function settledUsage(before: Usage, slack: { fds: number; heapMiB: number }): Promise<Usage> {
  let last = await usage();
  const settled = (u: Usage): boolean => u.fds <= before.fds + slack.fds && u.mounts <= before.mounts && u.children <= before.children && u.heapMiB <= before.heapMiB + slack.heapMiB;
  // past the deadline the last reading is returned: the caller's assertions name what grew
  return until(
    async () => {
      last = await usage();
      return settled(last) ? last : undefined;
    },
    'resource usage to settle',
    { timeoutMs: 15_000, intervalMs: 100 },
  ).catch(() => last);
}

/** Runs `count` jobs, `concurrency` at a time. */
async function pool<T>(count: number, concurrency: number, job: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        out[i] = await job(i);
      }
    }),
  );
  return out;
}

let work: string;
let image: DemoImage;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-load-'));
  image = await buildDemoImage(join(work, 'image'));
});
afterAll(async () => {
  if (work && (await mountsBelow(work)).length === 0) await rm(work, { recursive: true, force: true });
});

const request = (name: string): Record<string, unknown> => ({
  config: { metadata: { name: 'app' }, image: { image: image.reference }, command: ['/bin/sh', '-c', 'echo hi'] },
  sandboxConfig: { metadata: { name, uid: `uid-${name}`, namespace: 'load' } },
});

/** Creates and removes `count` containers (each in its own pod) at `concurrency`; returns the results. */
async function churn(lxcri: Lxcri, count: number, concurrency: number, prefix: string): Promise<{ vmid?: number | undefined }[]> {
  return pool(count, concurrency, async (i) => {
    const made = await createContainer(request(`${prefix}-${i}`), { lxcri });
    await lxcri.removePodSandbox(made.podSandboxId);
    return { vmid: made.vmid };
  });
}

describe('load on the LXC path (Proxmox VE 9.1 simulator)', () => {
  let sim: PveSimulator;
  beforeAll(async () => {
    sim = await startPveSimulator({ version: '9.1', taskDurationsMs: { default: 2 } });
  });
  afterAll(async () => {
    await sim?.close();
  });

  const COUNT = SOAK ? 200 : 20;
  it(`${COUNT} creates and removes at concurrency 16: distinct VMIDs, one upload, no fd/mount/process/memory growth`, async () => {
    const stateDir = await mkdtemp(join(work, 'lxc-'));
    const options = lxcOptions(sim, stateDir, image.layout);
    // warm-up: the template is uploaded, modules and pools exist
    const warm = new Lxcri(options);
    await churn(warm, 16, 16, 'warm');
    await warm.close();
    await sim.state.settle();
    sim.state.clearRequestLog();
    sim.state.tasks.clear();
    const before = await usage();

    const lxcri = new Lxcri(options);
    const results = await churn(lxcri, COUNT, 16, 'load');
    await lxcri.close();
    await sim.state.settle();
    // the simulator's own history is not lxcri's memory
    const uploads = sim.state.requestLog.filter((e) => e.method === 'POST' && e.path.endsWith('/upload')).length;
    const creates = sim.state.requestLog.filter((e) => e.method === 'POST' && e.path === '/nodes/pve1/lxc' && e.status === 200).length;
    sim.state.clearRequestLog();
    sim.state.tasks.clear();

    expect(uploads).toBe(0); // the warm-up uploaded the one template
    expect(creates).toBe(COUNT);
    expect(results.every((r) => typeof r.vmid === 'number')).toBe(true);
    expect(sim.state.cts.size).toBe(0);
    expect(await readdir(join(stateDir, 'containers')).catch(() => [])).toEqual([]);
    const after = await settledUsage(before, { fds: 2, heapMiB: 16 });
    expect({ ...after, heapMiB: undefined }).toEqual({ ...before, heapMiB: undefined, fds: expect.any(Number), sockets: expect.any(Number) });
    expect(after.fds).toBeLessThanOrEqual(before.fds + 2);
    expect(after.heapMiB).toBeLessThanOrEqual(before.heapMiB + 16);
  }, 600_000);

  it('16 concurrent creates of one image in a fresh instance: distinct VMIDs and one upload', async () => {
    const dir = join(sim.state.storagePath('pve1', 'local'), 'template', 'cache');
    for (const name of await readdir(dir)) await rm(join(dir, name), { force: true });
    const lxcri = new Lxcri(lxcOptions(sim, await mkdtemp(join(work, 'lxc-once-')), image.layout));
    sim.state.clearRequestLog();
    const made = await pool(16, 16, (i) => createContainer(request(`once-${i}`), { lxcri }));
    expect(new Set(made.map((m) => m.vmid)).size).toBe(16);
    expect(sim.state.requestLog.filter((e) => e.method === 'POST' && e.path.endsWith('/upload')).length).toBe(1);
    for (const m of made) await lxcri.removePodSandbox(m.podSandboxId);
    await lxcri.close();
    expect(sim.state.cts.size).toBe(0);
  }, 120_000);
});

const crunMissing = missing({ tools: ['crun', 'perl', 'unshare'], root: true });

describe.skipIf(crunMissing)('load on the crun path', () => {
  const COUNT = SOAK ? 50 : 5;
  it(`${COUNT} creates and removes with crun: no fd, mount, process or memory growth`, async () => {
    const stateDir = await mkdtemp(join(work, 'crun-'));
    const options: LxcriOptions = {
      stateDir,
      images: image.layout,
      hostChecks: false,
      policy: { defaultRuntime: 'crun' },
      oci: { runtime: 'crun', commandPrefix: [...CRUN_HYBRID_CGROUP_PREFIX], cgroupManager: 'disabled' },
    };
    const lxcri = new Lxcri(options);
    await churn(lxcri, 2, 2, 'warm');
    const before = await usage();
    await churn(lxcri, COUNT, 4, 'load');
    const after = await settledUsage(before, { fds: 2, heapMiB: 16 });
    await lxcri.close();
    expect(after.mounts).toBe(before.mounts);
    expect(after.children).toBe(before.children);
    expect(after.fds).toBeLessThanOrEqual(before.fds + 2);
    expect(after.heapMiB).toBeLessThanOrEqual(before.heapMiB + 16);
    expect(await mountsBelow(stateDir)).toEqual([]);
    expect(await readdir(join(stateDir, 'bundles')).catch(() => [])).toEqual([]);
    expect(await readdir(join(stateDir, 'run', 'crun')).catch(() => [])).toEqual([]);
  }, 600_000);
});
