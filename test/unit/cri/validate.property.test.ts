/**
 * Property (about 5 s on an idle core; allowed more on a loaded CI machine): for any input — random JSON, mutated real requests, structurally generated requests —
 * validation either returns a normalised request or throws a CriValidationError with well-formed
 * issues. Nothing else escapes. 20,000 inputs in total.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDeepStrictEqual } from 'node:util';
import { fastNormalizeCreateContainerRequest, tryNormalizeCreateContainerRequestWithSchema } from '../../../src/cri/normalize.js';
import { CriValidationError, validateCreateContainerRequest } from '../../../src/index.js';
import { normalizeCreateContainerRequest } from '../../../src/exports/cri.js';
import type { GrpcStatus } from '../../../src/index.js';
import { baseRequest, fixture, makeWorld, SB, SB_PRIVILEGED, SB_USERNS, USERNS_POD } from './world.js';

const STATUSES = new Set<GrpcStatus>(['InvalidArgument', 'NotFound', 'AlreadyExists', 'FailedPrecondition', 'Unimplemented']);
const world = makeWorld();

function assert(condition: boolean, what: string, input: unknown): void {
  if (!condition) throw new Error(`${what} for input ${JSON.stringify(input)?.slice(0, 2000)}`);
}

/** Plain-if assertions: this runs 20,000 times and must stay fast. */
const agreed = { count: 0 };

async function check(input: unknown): Promise<'ok' | 'invalid'> {
  // The fast normaliser and the zod schemas agree whenever the fast one accepts the input.
  const fast = fastNormalizeCreateContainerRequest(input);
  if (fast !== undefined) {
    const schema = tryNormalizeCreateContainerRequestWithSchema(input);
    assert(schema.ok && isDeepStrictEqual(schema.value, fast), 'fast path and zod schemas disagree', input);
    agreed.count++;
  }
  try {
    const result = await validateCreateContainerRequest(input, world);
    // A normalised request is a fixed point of normalisation.
    assert(isDeepStrictEqual(normalizeCreateContainerRequest(result), result), 'normalisation is not idempotent', input);
    assert(typeof result.config.metadata.name === 'string' && Array.isArray(result.config.mounts), 'malformed result', input);
    return 'ok';
  } catch (error) {
    if (!(error instanceof CriValidationError)) throw error;
    assert(error.issues.length > 0, 'no issues', input);
    for (const issue of error.issues) {
      assert(typeof issue.path === 'string' && /^[a-z_]+$/.test(issue.code) && issue.message.length > 0 && STATUSES.has(issue.grpcStatus), `bad issue ${JSON.stringify(issue)}`, input);
    }
    return 'invalid';
  }
}

// ---- mutations of real requests

const BASES: unknown[] = [
  baseRequest(),
  { pod_sandbox_id: SB, config: fixture('container-config.json'), sandbox_config: fixture('pod-config.json') },
  { pod_sandbox_id: SB_PRIVILEGED, config: fixture('container-config-full.json'), sandbox_config: fixture('pod-config-hostnet.json') },
  fixture('create-container-request.json'),
];

/** Every object / array inside `root` with the path to it. */
function containers(root: unknown): { holder: Record<string, unknown> | unknown[] }[] {
  const out: { holder: Record<string, unknown> | unknown[] }[] = [];
  const seen = new Set<unknown>();
  const walk = (node: unknown) => {
    if (typeof node !== 'object' || node === null || node instanceof Uint8Array || seen.has(node)) return;
    seen.add(node);
    out.push({ holder: node as Record<string, unknown> | unknown[] });
    for (const child of Object.values(node)) walk(child);
  };
  walk(root);
  return out;
}

const tricky = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    null,
    '',
    '-1',
    '1e3',
    '99999999999999999999',
    2 ** 53,
    -0,
    1.5,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    'SIGNAL_SIGKILL',
    'PROPAGATION_BIDIRECTIONAL',
    'TARGET',
    'Localhost',
    '/abs/path',
    '../rel',
    '__proto__',
    new Uint8Array([0xff]),
    { value: 2147483648 },
    [],
    {},
  ),
);

const mutation = fc.record({
  at: fc.nat(),
  op: fc.constantFrom('replace', 'delete', 'rename', 'insert'),
  key: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('value', 'name', 'image', 'readonly', 'propagation', 'pid', 'targetId', 'runAsGroup', 'mode', 'uids')),
  value: tricky,
});

function mutate(base: unknown, mutations: readonly { at: number; op: string; key: string; value: unknown }[]): unknown {
  const root = structuredClone(base);
  for (const raw of mutations) {
    const m = { ...raw, value: structuredClone(raw.value) };
    const list = containers(root);
    const target = list[m.at % list.length]?.holder;
    if (!target) continue;
    if (Array.isArray(target)) {
      if (m.op === 'delete') target.pop();
      else target[m.at % (target.length + 1)] = m.value;
      continue;
    }
    const keys = Object.keys(target);
    const existing = keys[m.at % Math.max(1, keys.length)];
    if (m.op === 'insert' || existing === undefined) target[m.key] = m.value;
    else if (m.op === 'replace') target[existing] = m.value;
    else if (m.op === 'delete') delete target[existing];
    else {
      target[m.key] = target[existing];
      delete target[existing];
    }
  }
  return root;
}

// ---- structurally generated requests (valid-ish, with semantic variety)

const idMapping = fc.record({ hostId: fc.oneof(fc.nat(), fc.constant(4294967295)), containerId: fc.nat(70000), length: fc.oneof(fc.constant(0), fc.nat(70000)) }, { requiredKeys: [] });
const profile = fc.record({ profileType: fc.constantFrom('RuntimeDefault', 'Unconfined', 'Localhost', 0, 1, 2, 3), localhostRef: fc.constantFrom('', '/p.json', 'name', 'rel/p') }, { requiredKeys: [] });
const structured = fc.record(
  {
    podSandboxId: fc.constantFrom(SB, SB_PRIVILEGED, SB_USERNS, 'sb-notready', 'nope', '', '../escape', 'a/b'),
    config: fc.record(
      {
        metadata: fc.record({ name: fc.constantFrom('app', '', 'taken', 'Bad_Name', 'x'.repeat(64)), attempt: fc.oneof(fc.nat(3), fc.constant(-1)) }, { requiredKeys: [] }),
        image: fc.record({ image: fc.constantFrom('busybox', '', 'a b') }, { requiredKeys: [] }),
        command: fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
        envs: fc.array(fc.record({ key: fc.constantFrom('A', '', 'HOME', 'B=C'), value: fc.constantFrom('1', '\n', 'x') }), { maxLength: 3 }),
        mounts: fc.array(
          fc.record(
            {
              containerPath: fc.constantFrom('/data', 'rel', '', '/data/'),
              hostPath: fc.constantFrom('/srv', '', 'rel'),
              readonly: fc.boolean(),
              recursiveReadOnly: fc.boolean(),
              propagation: fc.constantFrom(0, 1, 2, 3, 'PROPAGATION_PRIVATE'),
              image: fc.record({ image: fc.constantFrom('img', '') }),
              uidMappings: fc.array(idMapping, { maxLength: 2 }),
              gidMappings: fc.array(idMapping, { maxLength: 2 }),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 3 },
        ),
        linux: fc.record(
          {
            resources: fc.record(
              {
                cpuShares: fc.integer({ min: -5, max: 300000 }),
                cpuQuota: fc.integer({ min: -2, max: 200000 }),
                memoryLimitInBytes: fc.oneof(fc.nat(), fc.constant('268435456')),
                oomScoreAdj: fc.integer({ min: -1200, max: 1200 }),
                cpusetCpus: fc.constantFrom('', '0-1', '3-1', 'x'),
                hugepageLimits: fc.array(fc.record({ pageSize: fc.constantFrom('2MB', '64kB', ''), limit: fc.nat() }), { maxLength: 2 }),
              },
              { requiredKeys: [] },
            ),
            securityContext: fc.record(
              {
                privileged: fc.boolean(),
                runAsUser: fc.record({ value: fc.oneof(fc.integer({ min: -1, max: 3000000000 }), fc.constant('1000')) }),
                runAsGroup: fc.record({ value: fc.nat() }),
                runAsUsername: fc.constantFrom('', 'nobody', '1000', 'a:b'),
                supplementalGroups: fc.array(fc.integer({ min: -1, max: 2 ** 32 }), { maxLength: 2 }),
                namespaceOptions: fc.record(
                  {
                    network: fc.constantFrom('POD', 'NODE', 'TARGET', 1),
                    pid: fc.constantFrom('POD', 'CONTAINER', 'NODE', 'TARGET'),
                    targetId: fc.constantFrom('', 'c-running', 'c-created', 'c-other', 'ghost', '../x'),
                    usernsOptions: fc.oneof(fc.constant(USERNS_POD), fc.record({ mode: fc.constantFrom('POD', 'NODE', 'CONTAINER'), uids: fc.array(idMapping, { maxLength: 2 }), gids: fc.array(idMapping, { maxLength: 2 }) }, { requiredKeys: [] })),
                  },
                  { requiredKeys: [] },
                ),
                capabilities: fc.record({ addCapabilities: fc.array(fc.constantFrom('NET_ADMIN', 'cap_chown', 'ALL', 'FLY'), { maxLength: 2 }) }),
                seccomp: profile,
                apparmor: profile,
                seccompProfilePath: fc.constantFrom('', 'runtime/default', 'localhost//p.json', 'bogus'),
                selinuxOptions: fc.record({ level: fc.constantFrom('', 's0:c1,c2', 's0,c4,c5') }),
              },
              { requiredKeys: [] },
            ),
          },
          { requiredKeys: [] },
        ),
        stopSignal: fc.oneof(fc.integer({ min: -1, max: 70 }), fc.constantFrom('SIGTERM', 'SIGNAL_SIGKILL', 'SIGFOO')),
        windows: fc.constant({}),
      },
      { requiredKeys: ['metadata', 'image'] },
    ),
    sandboxConfig: fc.constantFrom<unknown>(fixture('pod-config.json'), fixture('pod-config-hostnet.json'), { metadata: { name: 'userns-pod', namespace: 'default', uid: 'u-1' } }, {}),
  },
  { requiredKeys: ['podSandboxId', 'config', 'sandboxConfig'] },
);

describe('validateCreateContainerRequest (property, 20,000 inputs)', () => {
  it('random JSON values (4,000): a CriValidationError, never another exception', async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.object({ maxDepth: 2, maxKeys: 5 })), async (input) => {
        expect(await check(input)).toBe('invalid');
      }),
      { numRuns: 4000 },
    );
  }, 120_000);

  it('mutated crictl / proto-JSON requests (10,000): normalised or CriValidationError', async () => {
    const seen = { ok: 0, invalid: 0 };
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...BASES), fc.array(mutation, { minLength: 0, maxLength: 4 }), async (base, mutations) => {
        seen[await check(mutate(base, mutations))]++;
      }),
      { numRuns: 10000 },
    );
    // Both outcomes really occur: the mutations neither always break nor never break a request.
    expect(seen.ok).toBeGreaterThan(100);
    expect(seen.invalid).toBeGreaterThan(100);
  }, 120_000);

  it('structurally generated requests (6,000): normalised or CriValidationError', async () => {
    const seen = { ok: 0, invalid: 0 };
    await fc.assert(
      fc.asyncProperty(structured, async (input) => {
        seen[await check(input)]++;
      }),
      { numRuns: 6000 },
    );
    expect(seen.invalid).toBeGreaterThan(100);
    // The fast path and the zod schemas were compared on many accepted inputs.
    expect(agreed.count).toBeGreaterThan(1000);
  }, 120_000);
});
