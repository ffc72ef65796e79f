/**
 * bench/create-crun: `createContainer` (the compiled package) to a created container under runc and
 * under crun (with the hybrid-cgroup workaround on such hosts), against `umoci unpack` +
 * `<runtime> create` of the same image by hand with the same runtime (and the same wrapper).
 * Median of --runs (default 7) for each of:
 *   - cold: a new state dir (empty layer cache) and a new instance, one-shot `createContainer`
 *     (runs the pod too); the OCI runtime set-up of the instance is done before the clock starts;
 *   - warm, new pod: one instance, layers cached, one-shot `createContainer` (pod + container);
 *   - warm, existing pod: `lxcri.createContainer` into a pod that is already running (what a
 *     kubelet's CreateContainer is);
 * each split into "to the created container's bundle" (everything before the runtime's create,
 * from onProgress) and "to a created container", with per-step medians. The wrapper's own cost
 * (`unshare -m` + `sh` + `umount` before the runtime) is measured apart. Targets: warm ≤ 50 ms to
 * the bundle, cold ≤ 1.1× the manual pair. Needs root, umoci, runc and crun; otherwise it says why
 * and exits 0. Not a timed test.
 *
 *   npm run bench create-crun   |   npx tsx bench/create-crun.ts [--runs 7] [--runtime runc|crun]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type * as OciRuntime from '../src/lxcri/oci-runtime.js';
import { loadDist, loadDistTesting, median, round, writeResult } from './_lib.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '7' }, runtime: { type: 'string' } } });
const RUNS = Number(values.runs);
const RUNTIMES = values.runtime ? [values.runtime] : ['runc', 'crun'];

const has = (tool: string): boolean => {
  try {
    execFileSync(tool, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};
const lacking = ['umoci', ...RUNTIMES].filter((t) => !has(t));
if (process.getuid?.() !== 0 || lacking.length > 0) {
  console.log(`bench/create-crun skipped: needs root and ${lacking.join(', ') || 'nothing else'}`);
  process.exit(0);
}

const { Lxcri, createContainer } = await loadDist();
const { buildDemoImage } = await loadDistTesting();
const { CRUN_HYBRID_CGROUP_PREFIX, isHybridCgroupHost } = (await import(new URL('../dist/lxcri/oci-runtime.js', import.meta.url).href)) as typeof OciRuntime;
const hybrid = await isHybridCgroupHost();
const work = await mkdtemp(join(tmpdir(), 'lxcri-bench-crun-'));

type Lx = InstanceType<typeof Lxcri>;
interface Sample {
  toBundle: number;
  created: number;
  steps: Record<string, number>;
}
const m1 = (v: number[]): number => round(median(v), 1);
const summary = (samples: Sample[]): Record<string, unknown> => {
  const steps: Record<string, number[]> = {};
  for (const s of samples) for (const [k, v] of Object.entries(s.steps)) (steps[k] ??= []).push(v);
  return {
    toBundleMs: m1(samples.map((s) => s.toBundle)),
    createdMs: m1(samples.map((s) => s.created)),
    stepsMs: Object.fromEntries(Object.entries(steps).map(([k, v]) => [k, m1(v)])),
  };
};

/** Runs `argv` n times (output ignored) and returns the median wall time in ms. */
const timeCommand = (argv: readonly string[], n: number): number => {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    spawnSync(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
    ms.push(performance.now() - t);
  }
  return median(ms);
};

try {
  const image = await buildDemoImage(join(work, 'image'));
  const tag = image.reference.split(':').pop() as string;
  let n = 0;
  const sandboxConfig = (name: string): Record<string, unknown> => ({ metadata: { name, uid: `uid-${name}`, namespace: 'bench' } });
  const containerConfig = (): Record<string, unknown> => ({ metadata: { name: `app-${n++}` }, image: { image: image.reference }, command: ['/bin/sh', '-c', 'echo hi'] });

  // one create; `toBundle` ends where the runtime's create begins
  const timed = async (run: (onProgress: (p: { step: string; event: string }) => void) => Promise<{ timings: Record<string, number | undefined> }>): Promise<Sample & { made: unknown }> => {
    let toBundle = Number.NaN;
    const t = performance.now();
    const made = await run((p) => {
      if (p.step === 'create' && p.event === 'begin') toBundle = performance.now() - t;
    });
    const created = performance.now() - t;
    const steps = Object.fromEntries(Object.entries(made.timings).filter((e): e is [string, number] => typeof e[1] === 'number'));
    return { toBundle, created, steps, made };
  };
  const oneShot = async (lxcri: Lx): Promise<Sample> => {
    const s = await timed((onProgress) => createContainer({ config: containerConfig(), sandboxConfig: sandboxConfig(`pod-${n++}`) }, { lxcri, onProgress }));
    await lxcri.removePodSandbox((s.made as { podSandboxId: string }).podSandboxId);
    return s;
  };

  const results: Record<string, unknown> = {};
  for (const runtime of RUNTIMES) {
    const wrapped = runtime === 'crun' && hybrid;
    const prefix = wrapped ? [...CRUN_HYBRID_CGROUP_PREFIX] : [];
    const oci = wrapped ? { runtime, commandPrefix: prefix, cgroupManager: 'disabled' as const } : { runtime };
    const options = (stateDir: string): Record<string, unknown> => ({ stateDir, images: image.layout, policy: { defaultRuntime: 'crun' }, hostChecks: false, oci });

    // cold: a new state dir (empty layer cache) and instance each time
    const cold: Sample[] = [];
    for (let i = 0; i < RUNS; i++) {
      const lxcri = new Lxcri(options(await mkdtemp(join(work, 'cold-'))));
      await lxcri.ociRuntime();
      cold.push(await oneShot(lxcri));
      await lxcri.close();
    }

    // warm: one instance, layers cached after the first create
    const lxcri = new Lxcri(options(await mkdtemp(join(work, 'warm-'))));
    await oneShot(lxcri);
    const warmNewPod: Sample[] = [];
    for (let i = 0; i < RUNS; i++) warmNewPod.push(await oneShot(lxcri));
    const podName = `pod-${n++}`;
    const pod = await lxcri.runPodSandbox(sandboxConfig(podName));
    const inPod = async (): Promise<Sample> => {
      const s = await timed((onProgress) => lxcri.createContainer({ podSandboxId: pod.podSandboxId, config: containerConfig(), sandboxConfig: sandboxConfig(podName) }, { onProgress }));
      await lxcri.removeContainer((s.made as { containerId: string }).containerId);
      return s;
    };
    await inPod();
    const warmInPod: Sample[] = [];
    for (let i = 0; i < RUNS; i++) warmInPod.push(await inPod());
    const name = (await lxcri.ociRuntime()).name;
    await lxcri.removePodSandbox(pod.podSandboxId);
    await lxcri.close();

    // by hand: umoci unpack + <runtime> create (the config umoci writes, without a terminal), same wrapper
    const manualUnpack: number[] = [];
    const manualCreate: number[] = [];
    const root = await mkdtemp(join(work, `${runtime}-root-`));
    for (let i = 0; i < RUNS; i++) {
      const bundle = join(work, `manual-${runtime}-${i}`);
      const id = `bench-manual-${process.pid}-${i}`;
      const t = performance.now();
      execFileSync('umoci', ['unpack', '--image', `${image.layout}:${tag}`, bundle], { stdio: 'ignore' });
      const configPath = join(bundle, 'config.json');
      const config = JSON.parse(await readFile(configPath, 'utf8')) as { process: { terminal?: boolean } };
      config.process.terminal = false;
      await writeFile(configPath, JSON.stringify(config));
      const t2 = performance.now();
      const global = ['--root', root, ...(wrapped ? ['--cgroup-manager=disabled'] : [])];
      const argv = [...prefix, runtime, ...global, 'create', '--bundle', bundle, id];
      execFileSync(argv[0] as string, argv.slice(1), { stdio: 'ignore' });
      manualCreate.push(performance.now() - t2);
      manualUnpack.push(t2 - t);
      const del = [...prefix, runtime, ...global, 'delete', '--force', id];
      execFileSync(del[0] as string, del.slice(1), { stdio: 'ignore' });
      await rm(bundle, { recursive: true, force: true });
    }
    const manual = manualUnpack.map((u, i) => u + (manualCreate[i] as number));

    const c = summary(cold);
    const w = summary(warmNewPod);
    const p = summary(warmInPod);
    const manualMs = median(manual);
    results[runtime] = {
      runtime: name,
      wrapper: wrapped ? 'unshare -m + sh + umount /sys/fs/cgroup/unified' : 'none',
      cold: c,
      warmNewPod: w,
      warmExistingPod: p,
      manual: { unpackMs: m1(manualUnpack), createMs: m1(manualCreate), totalMs: round(manualMs, 1) },
      coldVsManual: round((c['createdMs'] as number) / manualMs, 2),
      warmNewPodVsManual: round((w['createdMs'] as number) / manualMs, 2),
      warmExistingPodVsManual: round((p['createdMs'] as number) / manualMs, 2),
    };
  }

  // the wrapper alone: the prefix running `true`, against `true`
  const wrapperMs = hybrid ? round(timeCommand([...CRUN_HYBRID_CGROUP_PREFIX, 'true'], 30) - timeCommand(['true'], 30), 1) : 0;
  const result = {
    image: image.reference,
    runs: RUNS,
    hybridCgroupHost: hybrid,
    wrapperMs,
    ...results,
    target: 'warm ≤ 50 ms to the bundle; cold ≤ 1.1× umoci unpack + <runtime> create',
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(`written to ${writeResult('create-crun', result)}`);
} finally {
  await rm(work, { recursive: true, force: true });
}
