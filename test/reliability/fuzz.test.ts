/**
 * Fuzz: generated CRI CreateContainerRequests (random JSON, and real requests with one part
 * mutated into anything) through `Lxcri.createContainer`'s validation step (the call is aborted
 * once validation ends, so nothing is made), and validated requests with fuzzed image configs
 * through spec building (`buildRuntimeSpec`). Only typed errors come out, never a crash.
 * `npm test`: 2,000 and 200 cases; `npm run test:soak`: 20,000 and 2,000.
 */
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isLxcriError } from '../../src/errors.js';
import { validateCreateContainerRequest } from '../../src/cri/validate.js';
import type { NormalizedCreateContainerRequest } from '../../src/cri/types.js';
import { Lxcri } from '../../src/lxcri/lxcri.js';
import { buildRuntimeSpec } from '../../src/oci/spec/build.js';
import { ociRuntimeSpecSchema } from '../../src/oci/spec/runtime-spec.js';
import type { OciImageConfig } from '../../src/oci/image/types.js';
import { fixture } from '../unit/cri/world.js';
import { SOAK } from './helpers.js';

const VALIDATE_RUNS = SOAK ? 20_000 : 2_000;
const SPEC_RUNS = SOAK ? 2_000 : 200;
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n';
const GROUP = 'root:x:0:\nstaff:x:50:alice\nalice:x:1000:\n';

let work: string;
let lxcri: Lxcri;
let podSandboxId: string;
const POD = { metadata: { name: 'fuzz', uid: 'uid-fuzz', namespace: 'default' }, hostname: 'fuzz' };

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-fuzz-'));
  lxcri = new Lxcri({ stateDir: join(work, 'state'), images: join(work, 'images'), hostChecks: false, policy: { defaultRuntime: 'proxmox-lxc' } });
  ({ podSandboxId } = await lxcri.runPodSandbox(POD));
});
afterAll(async () => {
  await lxcri?.close();
  await rm(work, { recursive: true, force: true });
});

/** Real requests for the stored pod, in both JSON spellings. */
function bases(): Record<string, unknown>[] {
  return [
    { podSandboxId, config: { metadata: { name: 'app' }, image: { image: 'busybox:latest' }, command: ['sh'] }, sandboxConfig: POD },
    { pod_sandbox_id: podSandboxId, config: fixture('container-config.json'), sandbox_config: POD },
    { pod_sandbox_id: podSandboxId, config: fixture('container-config-full.json'), sandbox_config: POD },
  ];
}

/** Every object and array inside `root`. */
function holders(root: unknown): (Record<string, unknown> | unknown[])[] {
  const out: (Record<string, unknown> | unknown[])[] = [];
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return;
    out.push(v as Record<string, unknown> | unknown[]);
    for (const child of Object.values(v)) walk(child);
  };
  walk(root);
  return out;
}

const weird = fc.oneof(
  fc.anything({ maxDepth: 2 }),
  fc.string(),
  fc.constantFrom('', '..', '/', '../../etc/passwd', 'a=b', '\0', ' ', 'NODE', 'POD', 'CONTAINER', 'TARGET', 'RuntimeDefault', 'unconfined', 'localhost/x'),
  fc.integer(),
  fc.constantFrom(-1, 0, 2 ** 53, Number.NaN, -0, 1e308),
  fc.constant(undefined),
);

/** A real request with `min`-`max` parts replaced by something else (or removed). */
const mutatedRequest = (min: number, max: number): fc.Arbitrary<unknown> => fc
  .tuple(fc.nat(2), fc.array(fc.tuple(fc.nat(), fc.nat(), weird, fc.boolean()), { minLength: min, maxLength: max }))
  .map(([which, mutations]) => {
    const request = structuredClone(bases()[which] as Record<string, unknown>);
    for (const [h, k, value, remove] of mutations) {
      const all = holders(request);
      const holder = all[h % all.length] as Record<string, unknown>;
      const keys = Object.keys(holder);
      if (keys.length === 0) continue;
      const key = keys[k % keys.length] as string;
      if (remove) delete holder[key];
      else holder[key] = value;
    }
    return request as unknown;
  });
const mutated = mutatedRequest(1, 4);

const inputs = fc.oneof({ arbitrary: mutated, weight: 8 }, { arbitrary: fc.anything(), weight: 1 }, { arbitrary: fc.jsonValue(), weight: 1 });

describe('fuzz', () => {
  it(`${VALIDATE_RUNS} generated requests through createContainer's validation step: valid or a typed error`, async () => {
    const outcomes = { valid: 0, invalid: 0 };
    await fc.assert(
      fc.asyncProperty(inputs, async (input) => {
        const controller = new AbortController();
        try {
          await lxcri.createContainer(input, {
            signal: controller.signal,
            onProgress: (p) => {
              if (p.step === 'validate' && p.event === 'end') controller.abort();
            },
          });
          throw new Error('the create went past validation');
        } catch (error) {
          if (!isLxcriError(error)) throw error;
          if (error.code === 'ERR_ABORTED') outcomes.valid++;
          else {
            if (error.code !== 'ERR_CRI_VALIDATION') throw error;
            outcomes.invalid++;
          }
        }
      }),
      { numRuns: VALIDATE_RUNS },
    );
    // both sides were reached, and nothing was made
    expect(outcomes.valid).toBeGreaterThan(VALIDATE_RUNS / 50);
    expect(outcomes.invalid).toBeGreaterThan(VALIDATE_RUNS / 10);
    expect(await lxcri.listContainers()).toEqual([]);
  }, 600_000);

  it(`at least ${SPEC_RUNS} validated requests with fuzzed image configs through spec building: a valid spec or a typed error`, async () => {
    const imageConfig = fc.record(
      {
        Entrypoint: fc.oneof(fc.array(fc.string(), { maxLength: 3 }), fc.constant(undefined)),
        Cmd: fc.oneof(fc.array(fc.string(), { maxLength: 3 }), fc.constant(undefined)),
        Env: fc.array(fc.oneof(fc.string(), fc.constantFrom('A=1', 'PATH=/x', '=', 'NOEQ')), { maxLength: 4 }),
        WorkingDir: fc.oneof(fc.string(), fc.constantFrom('/', '/work', 'relative')),
        User: fc.oneof(fc.string(), fc.constantFrom('root', 'alice', '1000', '1000:50', 'nobody', 'alice:staff', '0:0')),
      },
      { requiredKeys: [] },
    );
    const ctx = { sandboxes: lxcri.sandboxes, containers: lxcri.containers };
    let built = 0;
    let rejected = 0;
    let seen = 0;
    await fc.assert(
      fc.asyncProperty(mutatedRequest(0, 1), imageConfig, async (input, config) => {
        let request: NormalizedCreateContainerRequest;
        try {
          request = await validateCreateContainerRequest(input, ctx);
        } catch (error) {
          if (!isLxcriError(error)) throw error;
          return;
        }
        seen++;
        const image = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config } as OciImageConfig;
        try {
          const spec = buildRuntimeSpec(request, image, { containerId: 'c1', userDb: { passwd: PASSWD, group: GROUP }, arch: 'x64' });
          const parsed = ociRuntimeSpecSchema.safeParse(spec);
          if (!parsed.success) throw new Error(`an invalid spec for ${JSON.stringify(input).slice(0, 500)}: ${parsed.error.message.slice(0, 500)}`);
          built++;
        } catch (error) {
          if (!isLxcriError(error) || error.code === 'ERR_INTERNAL') throw error;
          rejected++;
        }
      }),
      { numRuns: SPEC_RUNS * 3 },
    );
    expect(seen).toBeGreaterThanOrEqual(SPEC_RUNS);
    expect(built).toBeGreaterThan(0);
    expect(built + rejected).toBe(seen);
  }, 600_000);
});
