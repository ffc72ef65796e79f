/**
 * bench/unpack: a Debian bookworm minbase image in 3 layers (debootstrap + umoci, cached in the
 * git-ignored bench/.cache/), unpacked in one run by
 *   - lxcri unpackImage (cold, in a child process so its peak RSS is its own),
 *   - GNU tar extracting the same three gzip layers,
 *   - umoci unpack,
 * plus a warm root filesystem from the layer cache (overlayfs). Prints wall times (median of
 * RUNS), ratios and the targets. Needs root, debootstrap, umoci and tar; otherwise it
 * says why and exits 0. Not a timed test.
 *
 *   npm run bench            (all benches)   |   npx tsx bench/unpack.ts   (just this one)
 *   BENCH_RUNS=5 npx tsx bench/unpack.ts
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LayerCache, openImageLayout } from '../src/index.js';
import { writeResult } from './_lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const cacheDir = join(here, '.cache');
const layout = join(cacheDir, 'bookworm-minbase');
const tag = 'bookworm';
const runs = Number(process.env['BENCH_RUNS'] ?? 3);

/**
 * The cold unpack runs in a child process on the compiled JavaScript (tsc into bench/.cache/dist),
 * so its time and peak RSS are those of a real `lxcri` process, not of the tsx loader.
 */
const CHILD_SOURCE = `
const { openImageLayout } = await import(process.env.LXCRI_DIST + '/oci/image/layout.js');
const { unpackImage } = await import(process.env.LXCRI_DIST + '/oci/layers/unpack-image.js');
const image = await (await openImageLayout(process.env.LXCRI_LAYOUT)).resolve(process.env.LXCRI_TAG);
const started = performance.now();
const cpu = process.cpuUsage();
const result = await unpackImage(image, process.argv[2]);
const ms = performance.now() - started;
const used = process.cpuUsage(cpu);
process.stdout.write(JSON.stringify({ ms, cpuMs: (used.user + used.system) / 1000, maxRssKiB: process.resourceUsage().maxRSS, entries: result.entries, bytes: result.bytes }) + '\\n');
`;
const dist = join(cacheDir, 'dist');
const childFile = join(cacheDir, 'unpack-child.mjs');

function buildChild(): void {
  console.log('compiling src/ for the child process (tsc -p tsconfig.build.json --outDir bench/.cache/dist) ...');
  rmSync(dist, { recursive: true, force: true });
  // tsc emits even when some other part of src/ has type errors; only the oci modules are used.
  spawnSync('npx', ['tsc', '-p', join(here, '..', 'tsconfig.build.json'), '--outDir', dist, '--declaration', 'false', '--declarationMap', 'false', '--sourceMap', 'false'], { stdio: 'ignore' });
  if (!existsSync(join(dist, 'oci', 'layers', 'unpack-image.js'))) throw new Error('compiling src/ failed');
  writeFileSync(childFile, CHILD_SOURCE);
}

function mirror(): string {
  const candidates = ['/etc/apt/sources.list', '/etc/apt/sources.list.d/debian.sources'];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const deb822 = /^URIs:\s*(\S+)/m.exec(text);
    if (deb822?.[1]) return deb822[1];
    const line = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(text);
    if (line?.[1]) return line[1];
  }
  return 'http://deb.debian.org/debian';
}

function sh(command: string, args: readonly string[]): void {
  execFileSync(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

function ensureImage(): void {
  if (existsSync(join(layout, 'index.json')) && readFileSync(join(layout, 'index.json'), 'utf8').includes(`"${tag}"`)) return;
  const source = join(cacheDir, 'debootstrap-rootfs');
  if (!existsSync(join(source, 'etc', 'os-release'))) {
    console.log(`building ${source} with debootstrap --variant=minbase bookworm (${mirror()}) ...`);
    rmSync(source, { recursive: true, force: true });
    sh('debootstrap', ['--variant=minbase', 'bookworm', source, mirror()]);
  }
  console.log('building the 3-layer OCI image with umoci ...');
  rmSync(layout, { recursive: true, force: true });
  sh('umoci', ['init', '--layout', layout]);
  sh('umoci', ['new', '--image', `${layout}:${tag}`]);
  const splits: readonly (readonly string[])[] = [
    ['--exclude=./usr/share', '--exclude=./var/lib', '.'],
    ['./usr/share'],
    ['./var/lib'],
  ];
  for (const [i, split] of splits.entries()) {
    const bundle = join(cacheDir, `bundle-${i}`);
    rmSync(bundle, { recursive: true, force: true });
    sh('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
    execFileSync('bash', ['-o', 'pipefail', '-c', 'tar -C "$1" --xattrs --numeric-owner -cf - "${@:3}" | tar -C "$2" --xattrs --numeric-owner -xpf -', 'bash', source, join(bundle, 'rootfs'), ...split], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    sh('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
    rmSync(bundle, { recursive: true, force: true });
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

function timeSync(fn: () => void): number {
  const started = performance.now();
  fn();
  return performance.now() - started;
}

function countPaths(dir: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      n++;
      if (e.isDirectory()) walk(join(d, e.name));
    }
  };
  walk(dir);
  return n;
}

async function runChild(target: string): Promise<{ ms: number; cpuMs: number; maxRssKiB: number; entries: number; bytes: number }> {
  const proc = spawn(process.execPath, [childFile, target], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, LXCRI_DIST: dist, LXCRI_LAYOUT: layout, LXCRI_TAG: tag },
  });
  let out = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => (out += d));
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  if (code !== 0) throw new Error(`lxcri child exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop() as string) as { ms: number; cpuMs: number; maxRssKiB: number; entries: number; bytes: number };
}

async function mainBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('bench/unpack: skipped (needs root: umoci unpack, chown, overlayfs)');
    return;
  }
  for (const tool of ['debootstrap', 'umoci', 'tar']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
      console.log(`bench/unpack: skipped (needs ${tool})`);
      return;
    }
  }
  mkdirSync(cacheDir, { recursive: true });
  ensureImage();
  buildChild();
  const image = await (await openImageLayout(layout)).resolve(tag);
  const blobs = image.layers.map((l) => image.layout.blobPath(l.digest));
  const compressed = image.layers.reduce((s, l) => s + l.size, 0);
  console.log(`image: ${image.layers.length} layers, ${(compressed / 1048576).toFixed(1)} MiB compressed (${image.layers.map((l) => l.mediaType.split('.').pop()).join(', ')})`);

  const scratch = join(cacheDir, 'runs');
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(scratch, { recursive: true });
  const lxcri: number[] = [];
  const lxcriCpu: number[] = [];
  const tar: number[] = [];
  const umoci: number[] = [];
  let rssKiB = 0;
  let entries = 0;
  let bytes = 0;
  // Interleaved, in a rotating order, and nothing is deleted until all runs are done: ext4 makes
  // whoever creates files right after a large delete pay for skipping recently freed inodes.
  const tools = ['lxcri', 'tar', 'umoci'] as const;
  for (let run = 0; run < runs; run++) {
    for (let k = 0; k < tools.length; k++) {
      const tool = tools[(run + k) % tools.length] as (typeof tools)[number];
      const dir = join(scratch, `${tool}-${run}`);
      if (tool === 'lxcri') {
        const r = await runChild(dir);
        lxcri.push(r.ms);
        lxcriCpu.push(r.cpuMs);
        rssKiB = Math.max(rssKiB, r.maxRssKiB);
        entries = r.entries;
        bytes = r.bytes;
      } else if (tool === 'tar') {
        mkdirSync(join(dir, 'rootfs'), { recursive: true });
        tar.push(timeSync(() => {
          for (const blob of blobs) execFileSync('tar', ['-xzpf', blob, '-C', join(dir, 'rootfs'), '--numeric-owner'], { stdio: 'inherit' });
        }));
      } else {
        umoci.push(timeSync(() => execFileSync('umoci', ['unpack', '--image', `${layout}:${tag}`, dir], { stdio: 'inherit' })));
      }
    }
    if (run === 0) {
      const counts = tools.map((t) => countPaths(join(scratch, `${t}-0`, 'rootfs')));
      console.log(`paths in the rootfs: lxcri ${counts[0]}, tar ${counts[1]}, umoci ${counts[2]}`);
    }
  }

  // layer cache: cold (extract into the cache + mount), then warm (mount only)
  const cacheRoot = join(cacheDir, 'layer-cache');
  rmSync(cacheRoot, { recursive: true, force: true });
  const cache = new LayerCache({ root: cacheRoot });
  let started = performance.now();
  const first = await cache.createRootfs(image, join(scratch, 'ctr-cold'));
  const coldCache = performance.now() - started;
  await first.release();
  const warm: number[] = [];
  let warmMode = '';
  for (let i = 0; i < Math.max(5, runs); i++) {
    started = performance.now();
    const handle = await cache.createRootfs(image, join(scratch, `ctr-warm-${i}`));
    warm.push(performance.now() - started);
    warmMode = handle.mode;
    await handle.release();
  }
  rmSync(scratch, { recursive: true, force: true });

  const L = median(lxcri);
  const T = median(tar);
  const U = median(umoci);
  const W = median(warm);
  const rssMiB = rssKiB / 1024;
  const row = (name: string, ms: number, note = ''): string => `  ${name.padEnd(34)} ${ms.toFixed(0).padStart(7)} ms ${note}`;
  console.log(`\nbench/unpack (median of ${runs} runs; ${entries} entries, ${(bytes / 1048576).toFixed(0)} MiB uncompressed)`);
  console.log(row('lxcri unpack (cold)', L, `[${lxcri.map((v) => v.toFixed(0)).join(', ')}] cpu ${median(lxcriCpu).toFixed(0)} ms`));
  console.log(row('GNU tar -xzpf, 3 layers', T, `[${tar.map((v) => v.toFixed(0)).join(', ')}]`));
  console.log(row('umoci unpack', U, `[${umoci.map((v) => v.toFixed(0)).join(', ')}]`));
  console.log(row('layer cache: first rootfs (extract)', coldCache));
  console.log(row(`layer cache: warm rootfs (${warmMode})`, W, `[${warm.map((v) => v.toFixed(1)).join(', ')}]`));
  console.log(`  ${'lxcri peak RSS'.padEnd(34)} ${rssMiB.toFixed(0).padStart(7)} MiB`);
  const check = (ok: boolean): string => (ok ? 'ok' : 'MISSED');
  const paired = (other: readonly number[]): string => median(lxcri.map((v, i) => v / (other[i] as number))).toFixed(2);
  console.log(`  paired per-run ratios (median): lxcri/tar ${paired(tar)}, lxcri/umoci ${paired(umoci)}`);
  console.log('\nratios and targets (of the medians):');
  console.log(`  lxcri / GNU tar = ${(L / T).toFixed(2)}   (target <= 1.0)  ${check(L / T <= 1)}`);
  console.log(`  lxcri / umoci   = ${(L / U).toFixed(2)}   (target <= 0.6)  ${check(L / U <= 0.6)}`);
  console.log(`  warm rootfs     = ${W.toFixed(1)} ms (target <= 50 ms) ${check(W <= 50)}`);
  console.log(`  peak RSS        = ${rssMiB.toFixed(0)} MiB (target <= 150 MiB) ${check(rssMiB <= 150)}`);
  const r = (v: number): number => Math.round(v * 100) / 100;
  const file = writeResult('unpack', { runs, entries, mib: Math.round(bytes / 1048576), lxcriMs: r(L), tarMs: r(T), umociMs: r(U), warmRootfsMs: r(W), lxcriVsTar: r(L / T), lxcriVsUmoci: r(L / U), peakRssMiB: Math.round(rssMiB) });
  console.log(`written to ${file}`);
}

await mainBench();
