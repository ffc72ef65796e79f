/**
 * Shared by the benchmarks (bench/run.ts skips files starting with `_`): the compiled package
 * (dist/, built with `npm run build` when missing), the machine's description, small statistics,
 * and bench/results/<date>.json (one file per day; each bench run replaces its own entry).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as Root from '../src/index.js';
import type * as Cri from '../src/exports/cri.js';
import type * as Oci from '../src/exports/oci.js';
import type * as Runtimes from '../src/exports/runtimes.js';
import type * as Proxmox from '../src/exports/proxmox.js';
import type * as Errors from '../src/exports/errors.js';

/** Every entry point of the package but `/testing`, merged. */
type Package = typeof Root & typeof Cri & typeof Oci & typeof Runtimes & typeof Proxmox & typeof Errors;
import type * as Testing from '../src/testing/index.js';

export const BENCH_DIR = dirname(fileURLToPath(import.meta.url));
export const ROOT = join(BENCH_DIR, '..');
const DIST = join(ROOT, 'dist');

/** The compiled package (`dist/index.js` and its subpath entry points, merged), built first when missing or with BENCH_BUILD=1. */
export async function loadDist(): Promise<Package> {
  if (!existsSync(join(DIST, 'index.js')) || process.env['BENCH_BUILD'] === '1') {
    console.log('building dist/ (npm run build) ...');
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0 || !existsSync(join(DIST, 'index.js'))) throw new Error('npm run build failed');
  }
  const load = async (file: string): Promise<object> => (await import(pathToFileURL(join(DIST, file)).href)) as object;
  const parts = await Promise.all(['index.js', ...['cri', 'oci', 'runtimes', 'proxmox', 'errors'].map((e) => `exports/${e}.js`)].map(load));
  return Object.assign({}, ...parts) as Package;
}

/** The compiled testing entry point (`dist/testing/index.js`): the simulator and the demo image. */
export async function loadDistTesting(): Promise<typeof Testing> {
  await loadDist();
  return (await import(pathToFileURL(join(DIST, 'testing', 'index.js')).href)) as typeof Testing;
}

/** What the figures were measured on. */
export function machine(): Record<string, unknown> {
  const cpu = cpus();
  return {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    loadavg: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
  };
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length === 0 ? Number.NaN : s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Writes `data` as the entry `name` of bench/results/<YYYY-MM-DD>.json (with the machine). */
export function writeResult(name: string, data: Record<string, unknown>): string {
  const dir = join(BENCH_DIR, 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${new Date().toISOString().slice(0, 10)}.json`);
  const all = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
  all[name] = { at: new Date().toISOString(), machine: machine(), ...data };
  writeFileSync(file, `${JSON.stringify(all, null, 2)}\n`);
  return file;
}

/** Self time per function of a `.cpuprofile`, fs calls grouped by name; the top rows. */
export function summariseProfile(file: string): { totalMs: number; rows: [string, number][] } {
  interface Node {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }
  const p = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const node = byId.get(p.samples[i] as number);
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    if (!node) continue;
    total += dt;
    const { functionName, url, lineNumber } = node.callFrame;
    const file = url.replace(/^.*\/(src|dist|node_modules)\//, '$1/').replace(/^file:\/\//, '');
    const key = url.startsWith('node:') || url === '' ? `${functionName || '(anonymous)'} ${url}`.trim() : `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  return { totalMs: total, rows: [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 18) };
}

/** Prints a summary of {@link summariseProfile}, headed by the thread's name. */
export function printProfile(p: { thread: string; totalMs: number; rows: [string, number][] }): void {
  console.log(`\nprofile, ${p.thread}: ${p.totalMs.toFixed(0)} ms sampled; self time by function:`);
  for (const [name, ms] of p.rows) console.log(`  ${ms.toFixed(0).padStart(6)} ms ${((ms / p.totalMs) * 100).toFixed(1).padStart(5)}%  ${name}`);
}
