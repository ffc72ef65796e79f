/**
 * Benchmark: validated CreateContainerRequests per second on one core (target ≥ 50,000).
 *
 *   npx tsx bench/validate.ts [--seconds 3]
 *
 * Validates three real request shapes (crictl's minimal files, a full crictl container config in a
 * host-network sandbox, and a proto3 JSON request) against in-memory stores, in one loop on the
 * main thread, and prints JSON with the rate of each shape and of the mix, per second of CPU time
 * (the one-core rate, independent of other load on the machine) and per wall-clock second. Also
 * prints the rate of rejected requests (with several issues each), which take the error path.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { NormalizedPodSandboxConfig, SandboxRecord, ValidateContext } from '../src/exports/cri.js';
import type * as Normalize from '../src/cri/normalize.js';
import { loadDist, writeResult } from './_lib.js';

// the compiled package (dist/), as users run it
const { CriValidationError, InMemoryContainerStore, InMemorySandboxStore, normalizeCreateContainerRequest, normalizePodSandboxConfig, validateCreateContainerRequest } =
  await loadDist();
const { fastNormalizeCreateContainerRequest, tryNormalizeCreateContainerRequestWithSchema } = (await import(
  new URL('../dist/cri/normalize.js', import.meta.url).href
)) as typeof Normalize;

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } });
const seconds = Number(values.seconds);

const fixtures = fileURLToPath(new URL('../test/fixtures/cri/', import.meta.url));
const load = (name: string): Record<string, unknown> => JSON.parse(readFileSync(`${fixtures}${name}`, 'utf8')) as Record<string, unknown>;

function sandbox(id: string, config: NormalizedPodSandboxConfig): SandboxRecord {
  return { id, metadata: config.metadata, config, state: 'SANDBOX_READY', runtimeHandler: '', namespacePaths: {}, createdAt: Date.now() };
}

const protoRequest = load('create-container-request.json');
const proto = normalizeCreateContainerRequest(protoRequest);
const ctx: ValidateContext = {
  sandboxes: new InMemorySandboxStore([
    sandbox('sb1', normalizePodSandboxConfig(load('pod-config.json'))),
    sandbox('sb-hostnet', normalizePodSandboxConfig(load('pod-config-hostnet.json'))),
    sandbox(proto.podSandboxId, proto.sandboxConfig),
  ]),
  containers: new InMemoryContainerStore(),
};

const shapes: Record<string, unknown> = {
  'crictl minimal': { pod_sandbox_id: 'sb1', config: load('container-config.json'), sandbox_config: load('pod-config.json') },
  'crictl full': { pod_sandbox_id: 'sb-hostnet', config: load('container-config-full.json'), sandbox_config: load('pod-config-hostnet.json') },
  'proto3 JSON': protoRequest,
};
const invalid = { pod_sandbox_id: 'nope', config: { metadata: { name: 'Bad_Name' }, image: { image: '' }, comand: ['x'] }, sandbox_config: load('pod-config.json') };

interface Rate {
  shape: string;
  /** Requests per second of CPU time used by this process (all its threads): the one-core rate. */
  perCpuSecond: number;
  /** Requests per second of wall-clock time (lower when other processes share the core). */
  perWallSecond: number;
  runs: number;
}

async function rate(label: string, inputs: readonly unknown[], expectValid: boolean, only?: (input: unknown) => unknown): Promise<Rate> {
  const run = async (input: unknown) => {
    if (only) {
      if (only(input) === undefined) throw new Error(`${label}: not accepted`);
      return;
    }
    try {
      await validateCreateContainerRequest(input, ctx);
      if (!expectValid) throw new Error(`${label}: expected a rejection`);
    } catch (error) {
      if (expectValid || !(error instanceof CriValidationError)) throw error;
    }
  };
  for (let i = 0; i < 30000; i++) await run(inputs[i % inputs.length]); // warm-up: let the JIT settle
  let runs = 0;
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(seconds * 1e9));
  let now = start;
  while (now < deadline) {
    for (let i = 0; i < 1000; i++) await run(inputs[(runs + i) % inputs.length]);
    runs += 1000;
    now = process.hrtime.bigint();
  }
  const elapsed = Number(now - start) / 1e9;
  const cpu = process.cpuUsage(cpuStart);
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { shape: label, perCpuSecond: Math.round(runs / cpuSeconds), perWallSecond: Math.round(runs / elapsed), runs };
}

const results = [];
for (const [label, input] of Object.entries(shapes)) results.push(await rate(label, [input], true));
const mix = await rate('mix of the three', Object.values(shapes), true);
results.push(mix);
results.push(await rate('rejected (error path, 4 issues)', [invalid], false));
// normalisation alone: the hand-written fast path, and the full zod schemas it stands in for
const fast = await rate('normalise: fast path (mix)', Object.values(shapes), true, (i) => fastNormalizeCreateContainerRequest(i));
const zod = await rate('normalise: full zod path (mix)', Object.values(shapes), true, (i) => {
  const r = tryNormalizeCreateContainerRequestWithSchema(i);
  return r.ok ? r.value : undefined;
});
results.push(fast, zod);
const summary = {
  benchmark: 'validateCreateContainerRequest',
  node: process.version,
  seconds,
  target: 50000,
  meetsTarget: mix.perCpuSecond >= 50000,
  fastVsZod: Math.round((fast.perCpuSecond / zod.perCpuSecond) * 100) / 100,
  results,
};
console.log(JSON.stringify(summary, null, 2));
console.log(`written to ${writeResult('validate', summary)}`);
