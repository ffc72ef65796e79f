/**
 * bench/pull: one multi-layer image (6 gzip layers of incompressible data, 48 MiB by default,
 * cached in the git-ignored bench/.cache/) pushed with skopeo into Debian's docker-registry on
 * 127.0.0.1 (TLS with a CA made here), then pulled in one run, interleaved, into fresh
 * directories by
 *   - `lxcri pull` (the compiled CLI in its own process), and
 *   - `skopeo copy docker://… oci:…`.
 * Prints wall times (median of RUNS), lxcri's peak RSS, and the ratio against the target
 * (≤ 1.0× skopeo). Needs docker-registry, skopeo and openssl; otherwise it says why and exits 0.
 * Only loopback is used. Not a timed test.
 *
 *   npx tsx bench/pull.ts        BENCH_RUNS=5 BENCH_PULL_MB=96 npx tsx bench/pull.ts
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { packTar, writeImageLayout } from '../test/helpers/oci-fixtures.js';
import { makePki, startDistribution } from '../test/integration/oci/registry/registry-server.js';

const here = dirname(fileURLToPath(import.meta.url));
const cacheDir = join(here, '.cache');
const runs = Number(process.env['BENCH_RUNS'] ?? 3);
const totalMiB = Number(process.env['BENCH_PULL_MB'] ?? 48);
const LAYERS = 6;
const layout = join(cacheDir, `pull-image-${totalMiB}`);
const dist = join(cacheDir, 'dist');
const runner = join(cacheDir, 'lxcri-cli.mjs');

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function buildCli(): void {
  console.log('compiling src/ for the lxcri process (tsc -p tsconfig.build.json --outDir bench/.cache/dist) ...');
  rmSync(dist, { recursive: true, force: true });
  spawnSync('npx', ['tsc', '-p', join(here, '..', 'tsconfig.build.json'), '--outDir', dist, '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], { stdio: 'ignore' });
  if (!existsSync(join(dist, 'cli', 'main.js'))) throw new Error('compiling src/ failed');
  writeFileSync(
    runner,
    `const { main } = await import(${JSON.stringify(join(dist, 'cli', 'main.js'))});
const started = performance.now();
const code = await main(process.argv.slice(2), { stdout: { write() {} }, stderr: process.stderr, env: process.env, cwd: process.cwd() });
process.stdout.write(JSON.stringify({ code, ms: performance.now() - started, maxRssKiB: process.resourceUsage().maxRSS }) + '\\n');
process.exitCode = code;
`,
  );
}

async function ensureImage(): Promise<void> {
  if (existsSync(join(layout, 'index.json'))) return;
  console.log(`building a ${LAYERS}-layer image of ${totalMiB} MiB ...`);
  const per = Math.floor((totalMiB * 1024 * 1024) / LAYERS);
  const layers = [];
  for (let i = 0; i < LAYERS; i++) layers.push({ tar: await packTar([{ name: `data/layer-${i}.bin`, content: randomBytes(per) }]) });
  writeImageLayout(layout, layers, { ref: 'v1' });
}

async function timeProcess(command: string, args: readonly string[]): Promise<{ ms: number; stdout: string }> {
  const started = performance.now();
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let stdout = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d: string) => (stdout += d));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  if (code !== 0) throw new Error(`${command} exited with ${code}`);
  return { ms: performance.now() - started, stdout };
}

async function mainBench(): Promise<void> {
  for (const tool of ['docker-registry', 'skopeo', 'openssl']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.log(`bench/pull: skipped (needs ${tool})`);
      return;
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  await ensureImage();
  buildCli();
  const work = join(cacheDir, 'pull-runs');
  rmSync(work, { recursive: true, force: true });
  mkdirSync(join(work, 'registry'), { recursive: true });
  const pki = await makePki(work);
  const registry = await startDistribution(join(work, 'registry'), pki, { kind: 'none' });
  try {
    const ref = `${registry.host}/bench/app:v1`;
    execFileSync('skopeo', ['copy', '--quiet', '--dest-cert-dir', pki.certDir, `oci:${layout}:v1`, `docker://${ref}`]);
    const lxcri: number[] = [];
    const skopeo: number[] = [];
    let rssKiB = 0;
    for (let run = 0; run < runs; run++) {
      const order = run % 2 === 0 ? (['lxcri', 'skopeo'] as const) : (['skopeo', 'lxcri'] as const);
      for (const tool of order) {
        const dest = join(work, `${tool}-${run}`);
        if (tool === 'lxcri') {
          const r = await timeProcess(process.execPath, [runner, 'pull', ref, '--store', dest, '--ca', pki.caCert, '--platform', 'linux/amd64']);
          lxcri.push(r.ms);
          const inner = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { maxRssKiB: number };
          rssKiB = Math.max(rssKiB, inner.maxRssKiB);
        } else {
          skopeo.push((await timeProcess('skopeo', ['copy', '--quiet', '--src-cert-dir', pki.certDir, `docker://${ref}`, `oci:${dest}:${ref}`])).ms);
        }
      }
    }
    // pullImage in this process (modules loaded, JIT warm): the pull without the CLI's start-up
    const { pullImage } = await import('../src/oci/registry/pull.js');
    const inProcess: number[] = [];
    const inProcessCpu: number[] = [];
    for (let run = 0; run < runs; run++) {
      const cpu = process.cpuUsage();
      const started = performance.now();
      await pullImage(ref, { store: join(work, `in-process-${run}`), tls: { ca: pki.caPem }, platform: 'linux/amd64' });
      inProcess.push(performance.now() - started);
      const used = process.cpuUsage(cpu);
      inProcessCpu.push((used.user + used.system) / 1000);
    }
    const l = median(lxcri);
    const s = median(skopeo);
    console.log(`image: ${LAYERS} layers, ${totalMiB} MiB; ${runs} runs each, median wall time`);
    console.log(`  lxcri pull   ${l.toFixed(0).padStart(6)} ms   (peak RSS ${(rssKiB / 1024).toFixed(0)} MiB)   runs: ${lxcri.map((v) => v.toFixed(0)).join(', ')}`);
    console.log(`  skopeo copy  ${s.toFixed(0).padStart(6)} ms   runs: ${skopeo.map((v) => v.toFixed(0)).join(', ')}`);
    console.log(`  pullImage()  ${median(inProcess).toFixed(0).padStart(6)} ms   (in this process, CPU ${median(inProcessCpu).toFixed(0)} ms)   runs: ${inProcess.map((v) => v.toFixed(0)).join(', ')}`);
    console.log(`  ratio lxcri/skopeo = ${(l / s).toFixed(2)}x   (target <= 1.0x); pullImage()/skopeo = ${(median(inProcess) / s).toFixed(2)}x`);
  } finally {
    await registry.close();
    rmSync(work, { recursive: true, force: true });
  }
}

await mainBench();
