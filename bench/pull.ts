/**
 * bench/pull: images pushed with skopeo into Debian's docker-registry on 127.0.0.1 (TLS with a
 * CA made here), then pulled in one run, interleaved, into fresh directories by
 *   - `lxcri pull` (`node bin/lxcri.js`, which runs the compiled dist/ as an installed package does),
 *   - `skopeo copy docker://… oci:…`, and
 *   - `pullImage()` in this process (modules loaded, JIT warm): the pull without the CLI's start-up.
 * Two images (built once, cached in the git-ignored bench/.cache/): 6 gzip layers of
 * incompressible data, 48 MiB by default (`BENCH_PULL_MB`), and 1 layer of 1 MiB.
 * Prints median wall and CPU (user + system) times, the ratios against the target
 * (≤ 1.0× skopeo), and the start-up alone (`node -e 0`, `lxcri --version`, `lxcri pull --help`,
 * `skopeo --version`). Needs docker-registry, skopeo and openssl; otherwise it says why and
 * exits 0. Only loopback is used. Not a timed test. BENCH_PROFILE=1 adds one `lxcri pull` of each
 * image under `node --cpu-prof` and prints the main thread's self time per function.
 *
 *   npx tsx bench/pull.ts        BENCH_RUNS=9 BENCH_PULL_MB=192 npx tsx bench/pull.ts
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { packTar, writeImageLayout } from '../test/helpers/oci-fixtures.js';
import { makePki, startDistribution } from '../test/integration/oci/registry/registry-server.js';
import { BENCH_DIR, loadDist, median, printProfile, ROOT, round, summariseProfile, writeResult } from './_lib.js';
import type * as Pull from '../src/oci/registry/pull.js';

const cacheDir = join(BENCH_DIR, '.cache');
const runs = Number(process.env['BENCH_RUNS'] ?? 5);
const totalMiB = Number(process.env['BENCH_PULL_MB'] ?? 48);
const bin = join(ROOT, 'bin', 'lxcri.js');
const profile = process.env['BENCH_PROFILE'] === '1';
const images = [
  { name: 'app', layers: 6, mib: totalMiB },
  { name: 'small', layers: 1, mib: 1 },
] as const;

interface Timed {
  ms: number;
  cpuMs: number;
  stdout: string;
}

async function ensureImage(layout: string, layers: number, mib: number): Promise<void> {
  if (existsSync(join(layout, 'index.json'))) return;
  console.log(`building a ${layers}-layer image of ${mib} MiB ...`);
  const per = Math.floor((mib * 1024 * 1024) / layers);
  const blobs = [];
  for (let i = 0; i < layers; i++) blobs.push({ tar: await packTar([{ name: `data/layer-${i}.bin`, content: randomBytes(per) }]) });
  writeImageLayout(layout, blobs, { ref: 'v1' });
}

/** Runs a command under bash, whose `times` reports the CPU time (user + system) its children used. */
async function timeProcess(command: string, args: readonly string[]): Promise<Timed> {
  const started = performance.now();
  const child = spawn('bash', ['-c', '"$@" 3>&-; rc=$?; times >&3; exit $rc', 'bash', command, ...args], { stdio: ['ignore', 'pipe', 'inherit', 'pipe'] });
  let stdout = '';
  let times = '';
  (child.stdio[1] as Readable).setEncoding('utf8').on('data', (d: string) => (stdout += d));
  (child.stdio[3] as Readable).setEncoding('utf8').on('data', (d: string) => (times += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}`);
  // second line of `times`: the children's user and system time, e.g. "0m0.210s 0m0.040s"
  const seconds = (times.trim().split('\n')[1] ?? '').split(/\s+/).map((t) => {
    const m = /^(\d+)m([\d.]+)s$/.exec(t);
    return m ? Number(m[1]) * 60 + Number(m[2]) : 0;
  });
  return { ms, cpuMs: seconds.reduce((a, b) => a + b, 0) * 1000, stdout };
}

const fmt = (values: readonly number[]): string => values.map((v) => v.toFixed(0)).join(', ');

async function startup(): Promise<Record<string, number>> {
  const commands: Record<string, [string, string[]]> = {
    'node -e 0': [process.execPath, ['-e', '0']],
    'lxcri --version': [process.execPath, [bin, '--version']],
    'lxcri pull --help': [process.execPath, [bin, 'pull', '--help']],
    'skopeo --version': ['skopeo', ['--version']],
  };
  const out: Record<string, number> = {};
  console.log(`start-up (median of ${runs * 2}, wall / CPU):`);
  for (const [name, [command, args]] of Object.entries(commands)) {
    const all: Timed[] = [];
    for (let i = 0; i < runs * 2; i++) all.push(await timeProcess(command, args));
    out[name] = round(median(all.map((t) => t.ms)), 0);
    console.log(`  ${name.padEnd(18)} ${out[name].toFixed(0).padStart(5)} ms / ${median(all.map((t) => t.cpuMs)).toFixed(0).padStart(4)} ms CPU`);
  }
  return out;
}

async function mainBench(): Promise<void> {
  for (const tool of ['docker-registry', 'skopeo', 'openssl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.log(`bench/pull: skipped (needs ${tool})`);
      return;
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  for (const image of images) await ensureImage(join(cacheDir, `pull-image-${image.name}-${image.layers}x${image.mib}`), image.layers, image.mib);
  await loadDist(); // builds dist/ when missing (BENCH_BUILD=1 rebuilds): bin/lxcri.js runs it
  const { pullImage } = (await import(pathToFileURL(join(ROOT, 'dist', 'oci', 'registry', 'pull.js')).href)) as typeof Pull;
  const work = join(cacheDir, 'pull-runs');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'registry'), { recursive: true });
  const pki = await makePki(work);
  const registry = await startDistribution(join(work, 'registry'), pki, { kind: 'none' });
  const results: Record<string, unknown> = { runs };
  try {
    results['startupMs'] = await startup();
    for (const image of images) {
      const layout = join(cacheDir, `pull-image-${image.name}-${image.layers}x${image.mib}`);
      const ref = `${registry.host}/bench/${image.name}:v1`;
      execFileSync('skopeo', ['copy', '--quiet', '--dest-cert-dir', pki.certDir, `oci:${layout}:v1`, `docker://${ref}`]);
      const lxcri: Timed[] = [];
      const skopeo: Timed[] = [];
      for (let run = 0; run < runs; run++) {
        const order = run % 2 === 0 ? (['lxcri', 'skopeo'] as const) : (['skopeo', 'lxcri'] as const);
        for (const tool of order) {
          const dest = join(work, `${image.name}-${tool}-${run}`);
          if (tool === 'lxcri') lxcri.push(await timeProcess(process.execPath, [bin, 'pull', ref, '--store', dest, '--ca', pki.caCert, '--platform', 'linux/amd64']));
          else skopeo.push(await timeProcess('skopeo', ['copy', '--quiet', '--src-cert-dir', pki.certDir, `docker://${ref}`, `oci:${dest}:${ref}`]));
        }
      }
      const pulled = JSON.parse(lxcri[0]?.stdout ?? '{}') as { manifestDigest?: string };
      const skopeoIndex = readFileSync(join(work, `${image.name}-skopeo-0`, 'index.json'), 'utf8');
      if (!pulled.manifestDigest || !skopeoIndex.includes(pulled.manifestDigest)) throw new Error('lxcri and skopeo pulled different manifests');
      const inProcess: number[] = [];
      const inProcessCpu: number[] = [];
      for (let run = 0; run < runs; run++) {
        const cpu = process.cpuUsage();
        const started = performance.now();
        await pullImage(ref, { store: join(work, `${image.name}-in-process-${run}`), tls: { ca: pki.caPem }, platform: 'linux/amd64' });
        inProcess.push(performance.now() - started);
        const used = process.cpuUsage(cpu);
        inProcessCpu.push((used.user + used.system) / 1000);
      }
      if (profile) {
        const profDir = join(work, 'profile');
        rmSync(profDir, { recursive: true, force: true });
        await timeProcess(process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '200', bin, 'pull', ref, '--store', join(work, `${image.name}-profiled`), '--ca', pki.caCert, '--platform', 'linux/amd64']);
        const file = readdirSync(profDir).find((n) => n.endsWith('.cpuprofile'));
        if (file) printProfile({ thread: `lxcri pull of '${image.name}', main thread`, ...summariseProfile(join(profDir, file)) });
      }
      const l = median(lxcri.map((t) => t.ms));
      const s = median(skopeo.map((t) => t.ms));
      const lc = median(lxcri.map((t) => t.cpuMs));
      const sc = median(skopeo.map((t) => t.cpuMs));
      const p = median(inProcess);
      console.log(`image '${image.name}': ${image.layers} layer(s), ${image.mib} MiB; ${runs} runs each, median wall / CPU time`);
      console.log(`  lxcri pull   ${l.toFixed(0).padStart(6)} ms / ${lc.toFixed(0).padStart(4)} ms CPU   runs: ${fmt(lxcri.map((t) => t.ms))}`);
      console.log(`  skopeo copy  ${s.toFixed(0).padStart(6)} ms / ${sc.toFixed(0).padStart(4)} ms CPU   runs: ${fmt(skopeo.map((t) => t.ms))}`);
      console.log(`  pullImage()  ${p.toFixed(0).padStart(6)} ms / ${median(inProcessCpu).toFixed(0).padStart(4)} ms CPU   (in this process)   runs: ${fmt(inProcess)}`);
      console.log(`  lxcri/skopeo = ${(l / s).toFixed(2)}x wall, ${(lc / sc).toFixed(2)}x CPU (target <= 1.0x); pullImage()/skopeo = ${(p / s).toFixed(2)}x wall`);
      results[image.name] = {
        layers: image.layers,
        mib: image.mib,
        lxcriMs: round(l, 0),
        lxcriCpuMs: round(lc, 0),
        skopeoMs: round(s, 0),
        skopeoCpuMs: round(sc, 0),
        pullImageMs: round(p, 0),
        pullImageCpuMs: round(median(inProcessCpu), 0),
        cliRatio: round(l / s),
        cliCpuRatio: round(lc / sc),
        libraryRatio: round(p / s),
      };
    }
  } finally {
    await registry.close();
    rmSync(work, { recursive: true, force: true });
  }
  console.log(`figures written to ${writeResult('pull', results)}`);
}

await mainBench();
