/**
 * bench/create-lxc: `createContainer` (the compiled package) against the PVE simulator with zero
 * task latency, the simulator in its own process (`lxcri simulator --task-duration-ms 0`):
 *   - a cold burst of 16 concurrent creates of one image: template uploads (target 1), distinct VMIDs;
 *   - serial creates with the template cached: HTTP requests per create (target ≤ 6) and ms per create;
 *   - N creates (default 100) at concurrency 1, 4 and 16: wall time and speed-up (target ≥ 8× at 16).
 * Each create runs in its own pod; removal is not timed. Not a timed test.
 *
 *   npm run bench create-lxc   |   npx tsx bench/create-lxc.ts [--creates 100] [--pve-version 9.1|8.4]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, loadDist, loadDistTesting, median, round, writeResult } from './_lib.js';

const { values } = parseArgs({ options: { creates: { type: 'string', default: '100' }, 'pve-version': { type: 'string', default: '9.1' } } });
const CREATES = Number(values.creates);
const VERSION = values['pve-version'] as string;

const { Lxcri, createContainer } = await loadDist();
const { buildDemoImage } = await loadDistTesting();

interface Sim {
  url: string;
  fingerprint256: string;
  tokenId: string;
  tokenSecret: string;
  child: ChildProcess;
}

/** Starts `lxcri simulator` in a child process and reads its JSON line. */
function startSimulator(): Promise<Sim> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'lxcri.js'), 'simulator', '--task-duration-ms', '0', '--pve-version', VERSION], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      out += d;
      // one pretty-printed JSON object, ending with a "}" line
      const end = out.indexOf('\n}');
      if (end >= 0) resolve({ ...(JSON.parse(out.slice(0, end + 2)) as Omit<Sim, 'child'>), child });
    });
    child.on('error', reject);
    child.on('exit', (code) => reject(new Error(`the simulator exited with ${code}`)));
  });
}

const work = await mkdtemp(join(tmpdir(), 'lxcri-bench-lxc-'));
const sim = await startSimulator();
try {
  const image = await buildDemoImage(join(work, 'image'));
  let requests = 0;
  let uploads = 0;
  const count = (): void => {
    requests++;
  };
  const logger = { debug: (_f: Record<string, unknown>, m?: string) => (m?.startsWith('proxmox request') ? count() : undefined), info: () => undefined, warn: () => undefined, error: () => undefined };
  const lxcri = new Lxcri({
    stateDir: join(work, 'state'),
    images: image.layout,
    policy: { defaultRuntime: 'proxmox-lxc' },
    hostChecks: false,
    logger,
    proxmox: {
      client: {
        baseUrl: sim.url,
        auth: { type: 'token', tokenId: sim.tokenId, secret: sim.tokenSecret },
        tls: { fingerprint256: sim.fingerprint256 },
        tasks: { pollMinMs: 10, pollMaxMs: 100, timeoutMs: 60_000, logPageSize: 50 },
      },
      lxc: { workDir: join(work, 'templates'), pollMs: 10 },
    },
  });
  const onProgress = (p: { phase?: string | undefined }): void => {
    if (p.phase === 'template-task') uploads++;
  };
  let n = 0;
  const request = (): Record<string, unknown> => {
    const name = `pod-${n++}`;
    return { config: { metadata: { name: 'app' }, image: { image: image.reference }, command: ['/bin/sh', '-c', 'echo hi'] }, sandboxConfig: { metadata: { name, uid: `uid-${name}`, namespace: 'bench' } } };
  };
  const pool = async <T>(total: number, concurrency: number, job: () => Promise<T>): Promise<T[]> => {
    const out: T[] = [];
    let started = 0;
    await Promise.all(
      Array.from({ length: Math.min(concurrency, total) }, async () => {
        while (started < total) {
          started++;
          out.push(await job());
        }
      }),
    );
    return out;
  };
  const removeAll = async (made: { podSandboxId: string }[]): Promise<void> => {
    for (const m of made) await lxcri.removePodSandbox(m.podSandboxId);
  };

  // cold burst: one upload for 16 concurrent creates of one image
  const t0 = performance.now();
  const burst = await pool(16, 16, () => createContainer(request(), { lxcri, onProgress }));
  const burstMs = performance.now() - t0;
  const burstVmids = new Set(burst.map((b) => b.vmid)).size;
  await removeAll(burst);
  const coldUploads = uploads;

  // serial, template cached: requests and ms per create
  const serial: { ms: number; requests: number }[] = [];
  for (let i = 0; i < 20; i++) {
    const before = requests;
    const t = performance.now();
    const made = await createContainer(request(), { lxcri });
    serial.push({ ms: performance.now() - t, requests: requests - before });
    await lxcri.removePodSandbox(made.podSandboxId);
  }

  const scaling: { concurrency: number; ms: number; perCreateMs: number; distinctVmids: number }[] = [];
  for (const concurrency of [1, 4, 16]) {
    const t = performance.now();
    const made = await pool(CREATES, concurrency, () => createContainer(request(), { lxcri }));
    const ms = performance.now() - t;
    scaling.push({ concurrency, ms: round(ms, 0), perCreateMs: round(ms / CREATES, 1), distinctVmids: new Set(made.map((m) => m.vmid)).size });
    await removeAll(made);
  }
  await lxcri.close();

  const base = scaling[0]?.ms ?? Number.NaN;
  const result = {
    pveVersion: VERSION,
    creates: CREATES,
    coldBurst16: { ms: round(burstMs, 0), uploads: coldUploads, distinctVmids: burstVmids, target: 'uploads = 1, 16 distinct VMIDs' },
    cached: {
      requestsPerCreate: median(serial.map((s) => s.requests)),
      requestsMax: Math.max(...serial.map((s) => s.requests)),
      msPerCreate: round(median(serial.map((s) => s.ms)), 1),
      target: 'requests ≤ 6',
    },
    scaling: scaling.map((s) => ({ ...s, speedUp: round(base / s.ms, 2) })),
    speedUpAt16: round(base / (scaling[2]?.ms ?? Number.NaN), 2),
    target: 'speed-up ≥ 8× at concurrency 16',
    note: 'tasks polled every 10-100 ms (pollMinMs 10); the simulator answers task status at once',
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${writeResult(`create-lxc-${VERSION}`, result)}`);
} finally {
  sim.child.kill('SIGTERM');
  await rm(work, { recursive: true, force: true });
}
