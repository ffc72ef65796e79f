/**
 * bench/unpack: a Debian bookworm minbase image in 3 gzip layers (debootstrap + umoci, cached in
 * the git-ignored bench/.cache/), unpacked cold on two targets — a tmpfs mounted under the bench's
 * scratch directory (the disk's noise is not ours) and the state disk (bench/.cache/, the
 * filesystem the state directory lives on) — by
 *   - lxcri: the compiled CLI, `node bin/lxcri.js unpack` on dist/ (wall time of the process,
 *     like the others; a preloaded hook reports its CPU time and peak RSS),
 *   - GNU tar: `tar -xzpf` of the same three blobs, one after the other,
 *   - umoci unpack,
 *   - the Node inflate floor: a Node process that only inflates the three blobs (zlib's raw
 *     inflate, as lxcri; output discarded) — what no Node unpacker can beat,
 * plus, on the disk, a warm root filesystem from the layer cache (overlayfs).
 *
 * "Cold" means: no layer cache, a fresh target directory, a fresh process; the blobs' page cache
 * is warm for every tool alike (they are read once before the first run). The tools run
 * interleaved in a rotating order within each run and the figures are medians (the machine is
 * shared: load varies, the ratios matter). On the disk nothing is deleted until all runs are
 * done (ext4 makes whoever creates files right after a large delete pay for skipping recently
 * freed inodes) and `sync` runs (untimed) before each tool, so no one pays for another's
 * writeback; on the tmpfs each run's trees are removed after the run.
 *
 * BENCH_BASELINE=<git ref> adds that revision's unpacker (src/ of the ref, compiled into
 * bench/.cache/baseline/) to the rotation, so a change is measured against it under the same load.
 * BENCH_PROFILE=1 adds one lxcri run on the tmpfs under `node --cpu-prof` and prints where the
 * time goes per thread (self time by function, fs calls grouped). Needs root, debootstrap, umoci
 * and tar; otherwise it says why and exits 0. Not a timed test.
 *
 *   npm run bench unpack   |   BENCH_RUNS=7 BENCH_TARGETS=tmpfs BENCH_PROFILE=1 npx tsx bench/unpack.ts
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_DIR, loadDist, median, printProfile, ROOT, round, summariseProfile, writeResult } from './_lib.js';

const cacheDir = join(BENCH_DIR, '.cache');
const layout = join(cacheDir, 'bookworm-minbase');
const tag = 'bookworm';
const runs = Number(process.env['BENCH_RUNS'] ?? 5);
const targets = (process.env['BENCH_TARGETS'] ?? 'tmpfs,disk').split(',').filter((t): t is Target => t === 'tmpfs' || t === 'disk');
const profile = process.env['BENCH_PROFILE'] === '1';
type Target = 'tmpfs' | 'disk';
const baselineRef = process.env['BENCH_BASELINE'];
const TOOLS = ['lxcri', 'tar', 'umoci', 'floor', ...(baselineRef ? (['base'] as const) : [])] as const;
type Tool = 'lxcri' | 'tar' | 'umoci' | 'floor' | 'base';

/** Preloaded into the lxcri process: its CPU time and peak RSS, written at exit. */
const RUSAGE_HOOK = `
import { writeFileSync } from 'node:fs';
process.on('exit', () => {
  const u = process.resourceUsage();
  writeFileSync(process.env.LXCRI_BENCH_RUSAGE, JSON.stringify({ cpuMs: (u.userCPUTime + u.systemCPUTime) / 1000, maxRssKiB: u.maxRSS }));
});
`;
/**
 * The floor: inflate the blobs in Node as the unpacker does — zlib's raw inflate of the deflate
 * body (no CRC-32: see src/oci/layers/gunzip.ts), 256 KiB reads, 1 MiB output chunks — output
 * discarded. The blobs are single-member gzip (made by umoci); the header is parsed here.
 */
const FLOOR = `
import { createReadStream, openSync, readSync, closeSync, fstatSync } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
function headerLength(b) {
  let p = 10;
  if (b[3] & 4) p += 2 + (b[10] | (b[11] << 8));
  for (const flag of [8, 16]) if (b[3] & flag) p = b.indexOf(0, p) + 1;
  return b[3] & 2 ? p + 2 : p;
}
for (const blob of process.argv.slice(2)) {
  const fd = openSync(blob, 'r');
  const head = Buffer.alloc(4096);
  readSync(fd, head, 0, head.length, 0);
  const size = fstatSync(fd).size;
  closeSync(fd);
  const body = createReadStream(blob, { start: headerLength(head), end: size - 9, highWaterMark: 256 * 1024 });
  await pipeline(body, createInflateRaw({ chunkSize: 1024 * 1024 }), new Writable({ write: (_c, _e, cb) => cb() }));
}
`;
const hookFile = join(cacheDir, 'rusage-hook.mjs');
const floorFile = join(cacheDir, 'inflate-floor.mjs');
const cli = join(ROOT, 'bin', 'lxcri.js');
const baselineDir = join(cacheDir, 'baseline');

/** The baseline revision's package (git archive of the ref, compiled with this checkout's node_modules). */
function buildBaseline(ref: string): void {
  console.log(`compiling ${ref} into ${baselineDir} ...`);
  rmSync(baselineDir, { recursive: true, force: true });
  mkdirSync(baselineDir, { recursive: true });
  execFileSync('sh', ['-c', 'git -C "$1" archive "$2" src bin package.json tsconfig.json tsconfig.build.json | tar -x -C "$3"', 'sh', ROOT, ref, baselineDir]);
  execFileSync('ln', ['-s', join(ROOT, 'node_modules'), join(baselineDir, 'node_modules')]);
  spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(baselineDir, 'tsconfig.build.json')], { stdio: 'ignore' });
  if (!existsSync(join(baselineDir, 'dist', 'cli', 'main.js'))) throw new Error(`compiling ${ref} failed`);
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

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** dist/ is rebuilt when src/ changed after it was built (a stale build would time old code). */
function distIsStale(): boolean {
  const built = join(ROOT, 'dist', 'oci', 'layers', 'unpack-image.js');
  return !existsSync(built) || newest(join(ROOT, 'src')) > statSync(built).mtimeMs;
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

interface Timed {
  ms: number;
  stdout: string;
}

/** Runs a command to completion; its wall time from spawn to exit. */
async function timed(command: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Timed> {
  const started = performance.now();
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], env: env ?? process.env });
  let stdout = '';
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => (stdout += d));
  const code = await new Promise<number | null>((resolve) => proc.on('close', resolve));
  const ms = performance.now() - started;
  if (code !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${code}`);
  return { ms, stdout };
}

interface LxcriRun {
  ms: number;
  cpuMs: number;
  maxRssKiB: number;
  entries: number;
  bytes: number;
}

async function runLxcri(dir: string, nodeFlags: readonly string[] = [], command = cli): Promise<LxcriRun> {
  const rusage = `${dir}.rusage.json`;
  const r = await timed(process.execPath, [...nodeFlags, '--import', hookFile, command, 'unpack', '--image', `${layout}:${tag}`, dir], { ...process.env, LXCRI_BENCH_RUSAGE: rusage });
  const out = JSON.parse(r.stdout) as { entries: number; bytes: number };
  const usage = JSON.parse(readFileSync(rusage, 'utf8')) as { cpuMs: number; maxRssKiB: number };
  rmSync(rusage, { force: true });
  return { ms: r.ms, cpuMs: usage.cpuMs, maxRssKiB: usage.maxRssKiB, entries: out.entries, bytes: out.bytes };
}

async function runTool(tool: Exclude<Tool, 'lxcri' | 'base'>, dir: string, blobs: readonly string[]): Promise<number> {
  if (tool === 'tar') {
    mkdirSync(join(dir, 'rootfs'), { recursive: true });
    const script = 'd="$1"; shift; for b; do tar -xzpf "$b" -C "$d" --numeric-owner || exit 1; done';
    return (await timed('sh', ['-c', script, 'sh', join(dir, 'rootfs'), ...blobs])).ms;
  }
  if (tool === 'umoci') return (await timed('umoci', ['unpack', '--image', `${layout}:${tag}`, dir])).ms;
  return (await timed(process.execPath, [floorFile, ...blobs])).ms;
}

interface Series {
  lxcri: number[];
  lxcriCpu: number[];
  tar: number[];
  umoci: number[];
  floor: number[];
  base: number[];
  baseCpu: number[];
}

async function mainBench(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('bench/unpack: skipped (needs root: umoci unpack, chown, tmpfs and overlayfs mounts)');
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
  if (distIsStale()) process.env['BENCH_BUILD'] = '1';
  const { LayerCache, openImageLayout } = await loadDist();
  writeFileSync(hookFile, RUSAGE_HOOK);
  if (baselineRef) buildBaseline(baselineRef);
  writeFileSync(floorFile, FLOOR);
  const image = await (await openImageLayout(layout)).resolve(tag);
  const blobs = image.layers.map((l) => image.layout.blobPath(l.digest));
  const compressed = image.layers.reduce((s, l) => s + l.size, 0);
  console.log(`image: ${image.layers.length} layers, ${(compressed / 1048576).toFixed(1)} MiB compressed (${image.layers.map((l) => l.mediaType.split('.').pop()).join(', ')})`);
  // the blobs' page cache is warm for every tool alike
  for (const blob of blobs) readFileSync(blob);

  const scratch = join(cacheDir, 'runs');
  const tmpfs = join(scratch, 'tmpfs');
  rmSync(scratch, { recursive: true, force: true });
  const dirs: Record<Target, string> = { tmpfs, disk: join(scratch, 'disk') };
  for (const t of targets) mkdirSync(dirs[t], { recursive: true });
  const series: Record<Target, Series> = {
    tmpfs: { lxcri: [], lxcriCpu: [], tar: [], umoci: [], floor: [], base: [], baseCpu: [] },
    disk: { lxcri: [], lxcriCpu: [], tar: [], umoci: [], floor: [], base: [], baseCpu: [] },
  };
  let rssKiB = 0;
  let entries = 0;
  let bytes = 0;
  let mounted = false;
  const profiles: { thread: string; totalMs: number; rows: [string, number][] }[] = [];
  let coldCache = Number.NaN;
  const warm: number[] = [];
  let warmMode = '';
  try {
    if (targets.includes('tmpfs')) {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3g,mode=0755', 'lxcri-bench', tmpfs]);
      mounted = true;
    }
    for (let run = 0; run < runs; run++) {
      for (const target of targets) {
        const s = series[target];
        for (let k = 0; k < TOOLS.length; k++) {
          const tool = TOOLS[(run + k) % TOOLS.length] as Tool;
          const dir = join(dirs[target], `${tool}-${run}`);
          if (target === 'disk') execFileSync('sync');
          if (tool === 'lxcri') {
            const r = await runLxcri(dir);
            s.lxcri.push(r.ms);
            s.lxcriCpu.push(r.cpuMs);
            rssKiB = Math.max(rssKiB, r.maxRssKiB);
            entries = r.entries;
            bytes = r.bytes;
          } else if (tool === 'base') {
            const r = await runLxcri(dir, [], join(baselineDir, 'bin', 'lxcri.js'));
            s.base.push(r.ms);
            s.baseCpu.push(r.cpuMs);
          } else s[tool].push(await runTool(tool, dir, blobs));
        }
        if (run === 0) {
          const counts = (['lxcri', 'tar', 'umoci'] as const).map((t) => countPaths(join(dirs[target], `${t}-0`, 'rootfs')));
          console.log(`${target}: paths in the rootfs: lxcri ${counts[0]}, tar ${counts[1]}, umoci ${counts[2]}`);
        }
        if (target === 'tmpfs') for (const t of TOOLS) rmSync(join(tmpfs, `${t}-${run}`), { recursive: true, force: true });
      }
    }
    if (profile && mounted) {
      const profDir = join(cacheDir, 'profile');
      rmSync(profDir, { recursive: true, force: true });
      await runLxcri(join(tmpfs, 'profiled'), ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '200']);
      for (const f of readdirSync(profDir).filter((n) => n.endsWith('.cpuprofile')).sort()) {
        // CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile: thread 0 is the main thread
        const tid = f.split('.')[4] ?? '?';
        profiles.push({ thread: tid === '0' ? 'main thread' : `worker ${tid}`, ...summariseProfile(join(profDir, f)) });
      }
      rmSync(join(tmpfs, 'profiled'), { recursive: true, force: true });
    }

    if (targets.includes('disk')) {
      // layer cache: cold (extract into the cache + mount), then warm (mount only)
      const cacheRoot = join(cacheDir, 'layer-cache');
      rmSync(cacheRoot, { recursive: true, force: true });
      const cache = new LayerCache({ root: cacheRoot });
      let started = performance.now();
      const first = await cache.createRootfs(image, join(dirs.disk, 'ctr-cold'));
      coldCache = performance.now() - started;
      await first.release();
      for (let i = 0; i < Math.max(5, runs); i++) {
        started = performance.now();
        const handle = await cache.createRootfs(image, join(dirs.disk, `ctr-warm-${i}`));
        warm.push(performance.now() - started);
        warmMode = handle.mode;
        await handle.release();
      }
    }
  } finally {
    if (mounted) execFileSync('umount', [tmpfs]);
    rmSync(scratch, { recursive: true, force: true });
  }

  const fmt = (v: readonly number[]): string => `[${v.map((x) => x.toFixed(0)).join(', ')}]`;
  const row = (name: string, ms: number, note = ''): string => `  ${name.padEnd(36)} ${ms.toFixed(0).padStart(7)} ms ${note}`;
  const paired = (a: readonly number[], b: readonly number[]): number => median(a.map((v, i) => v / (b[i] as number)));
  const rssMiB = rssKiB / 1024;
  const result: Record<string, unknown> = { runs, entries, mib: Math.round(bytes / 1048576), compressedMiB: round(compressed / 1048576, 1), peakRssMiB: Math.round(rssMiB) };
  console.log(`\nbench/unpack (median of ${runs} runs; ${entries} entries, ${(bytes / 1048576).toFixed(0)} MiB uncompressed, ${(compressed / 1048576).toFixed(0)} MiB gzip; blobs in the page cache)`);
  for (const target of targets) {
    const s = series[target];
    const [L, T, U, F] = [median(s.lxcri), median(s.tar), median(s.umoci), median(s.floor)];
    console.log(`${target === 'tmpfs' ? 'tmpfs' : `state disk (${cacheDir})`}:`);
    console.log(row('lxcri unpack (cold, CLI)', L, `${fmt(s.lxcri)} cpu ${median(s.lxcriCpu).toFixed(0)} ms`));
    console.log(row('GNU tar -xzpf, 3 layers', T, fmt(s.tar)));
    console.log(row('umoci unpack', U, fmt(s.umoci)));
    console.log(row('Node inflate floor (inflate only)', F, fmt(s.floor)));
    if (baselineRef) {
      const B = median(s.base);
      console.log(row(`lxcri at ${baselineRef} (baseline)`, B, `${fmt(s.base)} cpu ${median(s.baseCpu).toFixed(0)} ms`));
      console.log(`  lxcri / baseline ${(L / B).toFixed(2)} (paired ${paired(s.lxcri, s.base).toFixed(2)}; cpu ${(median(s.lxcriCpu) / median(s.baseCpu)).toFixed(2)}), baseline / tar ${(B / T).toFixed(2)} (paired ${paired(s.base, s.tar).toFixed(2)})`);
    }
    console.log(`  lxcri / tar ${(L / T).toFixed(2)} (paired ${paired(s.lxcri, s.tar).toFixed(2)}; target <= 0.7 ${L / T <= 0.7 ? 'ok' : 'MISSED'}), lxcri / umoci ${(L / U).toFixed(2)} (paired ${paired(s.lxcri, s.umoci).toFixed(2)}; target <= 0.6 ${L / U <= 0.6 ? 'ok' : 'MISSED'}), lxcri / floor ${(L / F).toFixed(2)}, tar / floor ${(T / F).toFixed(2)}`);
    result[target] = {
      lxcriMs: round(L),
      lxcriCpuMs: round(median(s.lxcriCpu)),
      tarMs: round(T),
      umociMs: round(U),
      floorMs: round(F),
      lxcriVsTar: round(L / T),
      lxcriVsTarPaired: round(paired(s.lxcri, s.tar)),
      lxcriVsUmoci: round(L / U),
      lxcriVsUmociPaired: round(paired(s.lxcri, s.umoci)),
      lxcriVsFloor: round(L / F),
      ...(baselineRef ? { baseline: baselineRef, baselineMs: round(median(s.base)), baselineCpuMs: round(median(s.baseCpu)), lxcriVsBaselinePaired: round(paired(s.lxcri, s.base)) } : {}),
      runsMs: { lxcri: s.lxcri.map((v) => round(v, 0)), tar: s.tar.map((v) => round(v, 0)), umoci: s.umoci.map((v) => round(v, 0)), floor: s.floor.map((v) => round(v, 0)) },
    };
  }
  if (targets.includes('disk')) {
    const W = median(warm);
    console.log(row('layer cache: first rootfs (extract)', coldCache));
    console.log(row(`layer cache: warm rootfs (${warmMode})`, W, `[${warm.map((v) => v.toFixed(1)).join(', ')}]`));
    console.log(`  warm rootfs = ${W.toFixed(1)} ms (target <= 50 ms) ${W <= 50 ? 'ok' : 'MISSED'}`);
    Object.assign(result, { layerCacheFirstMs: round(coldCache), warmRootfsMs: round(W) });
  }
  console.log(`  lxcri peak RSS = ${rssMiB.toFixed(0)} MiB (target <= 150 MiB) ${rssMiB <= 150 ? 'ok' : 'MISSED'}`);
  for (const p of profiles) printProfile(p);
  if (profiles.length > 0) result['profile'] = profiles.map((p) => ({ thread: p.thread, totalMs: round(p.totalMs, 0), top: p.rows.slice(0, 12).map(([n, ms]) => [n, round(ms, 0)]) }));
  console.log(`written to ${writeResult('unpack', result)}`);
}

await mainBench();
