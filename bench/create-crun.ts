/**
 * bench/create-crun: `createContainer` (the compiled package, OCI runtime crun, with the
 * hybrid-cgroup workaround on such hosts) to a created container, cold (empty layer cache, new
 * state dir) and warm (layers cached), against `umoci unpack` + `runc create` of the same image by
 * hand. Median of --runs (default 5). Targets: warm ≤ 50 ms, cold ≤ 1.1× the manual pair. Needs
 * root, umoci, runc and crun; otherwise it says why and exits 0. Not a timed test.
 *
 *   npm run bench create-crun   |   npx tsx bench/create-crun.ts [--runs 5]
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type * as OciRuntime from '../src/lxcri/oci-runtime.js';
import { loadDist, loadDistTesting, median, round, writeResult } from './_lib.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);

const has = (tool: string): boolean => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const lacking = ['umoci', 'runc', 'crun'].filter((t) => !has(t));
if (process.getuid?.() !== 0 || lacking.length > 0) {
  console.log(`bench/create-crun skipped: needs root and ${lacking.join(', ') || 'nothing else'}`);
  process.exit(0);
}

const { Lxcri, createContainer } = await loadDist();
const { buildDemoImage } = await loadDistTesting();
const work = await mkdtemp(join(tmpdir(), 'lxcri-bench-crun-'));
try {
  const image = await buildDemoImage(join(work, 'image'));
  const tag = image.reference.split(':').pop() as string;
  let n = 0;
  const request = (): Record<string, unknown> => {
    const name = `pod-${n++}`;
    return { config: { metadata: { name: 'app' }, image: { image: image.reference }, command: ['/bin/sh', '-c', 'echo hi'] }, sandboxConfig: { metadata: { name, uid: `uid-${name}`, namespace: 'bench' } } };
  };
  // crun itself (auto picks runc on a hybrid-cgroup host); there with the workaround of DEVELOPERS.md
  const { CRUN_HYBRID_CGROUP_PREFIX, isHybridCgroupHost } = (await import(new URL('../dist/lxcri/oci-runtime.js', import.meta.url).href)) as typeof OciRuntime;
  const oci = (await isHybridCgroupHost()) ? { runtime: 'crun', commandPrefix: [...CRUN_HYBRID_CGROUP_PREFIX], cgroupManager: 'disabled' as const } : { runtime: 'crun' };
  const options = (stateDir: string): Record<string, unknown> => ({ stateDir, images: image.layout, policy: { defaultRuntime: 'crun' }, hostChecks: false, oci });

  /** One create in a fresh or the given instance; returns ms and removes it (untimed). */
  const steps: Record<string, number[]> = {};
  const lxcriCreate = async (lxcri: InstanceType<typeof Lxcri>): Promise<number> => {
    const t = performance.now();
    const made = await createContainer(request(), { lxcri });
    const ms = performance.now() - t;
    for (const [step, v] of Object.entries(made.timings)) (steps[step] ??= []).push(v);
    await lxcri.removePodSandbox(made.podSandboxId);
    return ms;
  };

  // cold: a new state dir (empty layer cache) and instance each time; the runtime probe is done first
  const cold: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const lxcri = new Lxcri(options(await mkdtemp(join(work, 'cold-'))));
    await lxcri.ociRuntime();
    cold.push(await lxcriCreate(lxcri));
    await lxcri.close();
  }
  // warm: one instance, layers cached after the first create
  const warmLxcri = new Lxcri(options(await mkdtemp(join(work, 'warm-'))));
  await lxcriCreate(warmLxcri);
  const warm: number[] = [];
  for (const k of Object.keys(steps)) delete steps[k];
  for (let i = 0; i < RUNS; i++) warm.push(await lxcriCreate(warmLxcri));
  const warmSteps = Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, round(median(v), 1)]));
  const runtime = (await warmLxcri.ociRuntime()).name;
  await warmLxcri.close();

  // by hand: umoci unpack + runc create (the config umoci writes, without a terminal)
  const manual: number[] = [];
  const runcRoot = await mkdtemp(join(work, 'runc-root-'));
  for (let i = 0; i < RUNS; i++) {
    const bundle = join(work, `manual-${i}`);
    const id = `bench-manual-${process.pid}-${i}`;
    const t = performance.now();
    execFileSync('umoci', ['unpack', '--image', `${image.layout}:${tag}`, bundle], { stdio: 'ignore' });
    const configPath = join(bundle, 'config.json');
    const config = JSON.parse(await readFile(configPath, 'utf8')) as { process: { terminal?: boolean } };
    config.process.terminal = false;
    await writeFile(configPath, JSON.stringify(config));
    execFileSync('runc', ['--root', runcRoot, 'create', '--bundle', bundle, id], { stdio: 'ignore' });
    manual.push(performance.now() - t);
    execFileSync('runc', ['--root', runcRoot, 'delete', '--force', id], { stdio: 'ignore' });
    await rm(bundle, { recursive: true, force: true });
  }

  const m = median(manual);
  const result = {
    image: image.reference,
    runs: RUNS,
    runtime,
    coldMs: round(median(cold), 1),
    warmMs: round(median(warm), 1),
    manualUmociRuncMs: round(m, 1),
    coldVsManual: round(median(cold) / m, 2),
    warmVsManual: round(median(warm) / m, 2),
    warmStepsMs: warmSteps,
    target: 'warm ≤ 50 ms; cold ≤ 1.1× umoci unpack + runc create',
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${writeResult('create-crun', result)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
