/** Property tests of the mapping over generated requests (fast-check). */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES, buildRuntimeSpec } from '../../../../src/exports/oci.js';
import { ociRuntimeSpecSchema } from '../../../../src/oci/spec/runtime-spec.js';
import { BASE_OPTIONS, image, request } from './fixtures.js';

const key = fc.constantFrom('A', 'B', 'C', 'PATH', 'HOME', 'X_1');
const value = fc.string({ maxLength: 8 });

describe('buildRuntimeSpec properties', () => {
  it('env: keys are unique, CRI values win (last one), image-only keys keep their image value', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, value), { maxLength: 8 }), fc.array(fc.tuple(key, value), { maxLength: 6 }), (cri, img) => {
        const spec = buildRuntimeSpec(
          request({ config: { envs: cri.map(([k, v]) => ({ key: k, value: v })) } }),
          image({ Cmd: ['sh'], Env: img.map(([k, v]) => `${k}=${v}`) }),
          BASE_OPTIONS,
        );
        const env = spec.process.env ?? [];
        const keys = env.map((e) => e.slice(0, e.indexOf('=')));
        expect(new Set(keys).size).toBe(keys.length);
        const map = new Map(env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
        for (const [k] of cri) expect(map.get(k)).toBe([...cri].reverse().find(([c]) => c === k)?.[1]);
        for (const [k] of img) if (!cri.some(([c]) => c === k)) expect(map.get(k)).toBe([...img].reverse().find(([c]) => c === k)?.[1]);
      }),
      { numRuns: 200 },
    );
  });

  it('mounts: every CRI bind appears once, after the defaults, ordered by depth', () => {
    const segment = fc.constantFrom('a', 'b', 'data', 'x');
    const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
    fc.assert(
      fc.property(fc.uniqueArray(path, { maxLength: 8 }), fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }), (paths, ro) => {
        const spec = buildRuntimeSpec(
          request({ config: { mounts: paths.map((p, i) => ({ container_path: p, host_path: `/host${p}`, readonly: ro[i] })) } }),
          image({ Cmd: ['sh'] }),
          BASE_OPTIONS,
        );
        const binds = (spec.mounts ?? []).filter((m) => m.type === 'bind');
        expect(binds.map((m) => m.destination).sort()).toEqual([...paths].sort());
        const depths = binds.map((m) => m.destination.split('/').length);
        expect(depths).toEqual([...depths].sort((a, b) => a - b));
        for (const m of binds) expect(m.options?.[2]).toBe(ro[paths.indexOf(m.destination)] ? 'ro' : 'rw');
        expect(spec.mounts?.slice(0, spec.mounts.length - binds.length).every((m) => m.type !== 'bind')).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('capabilities: added ones are present, dropped ones absent, sets agree; every spec parses', () => {
    const cap = fc.constantFrom('CHOWN', 'NET_ADMIN', 'NET_RAW', 'SYS_TIME', 'KILL', 'MKNOD', 'SYS_ADMIN');
    fc.assert(
      fc.property(fc.uniqueArray(cap, { maxLength: 4 }), fc.uniqueArray(cap, { maxLength: 4 }), (add, drop) => {
        const spec = buildRuntimeSpec(request({ config: { linux: { security_context: { capabilities: { add_capabilities: add, drop_capabilities: drop } } } } }), image({ Cmd: ['sh'] }), BASE_OPTIONS);
        const caps = spec.process.capabilities;
        for (const c of add) if (!drop.includes(c)) expect(caps?.bounding).toContain(`CAP_${c}`);
        for (const c of drop) expect(caps?.bounding).not.toContain(`CAP_${c}`);
        for (const c of DEFAULT_CAPABILITIES) if (!(drop as string[]).includes(c.slice(4))) expect(caps?.bounding).toContain(c);
        expect(caps?.effective).toEqual(caps?.bounding);
        expect(caps?.permitted).toEqual(caps?.bounding);
        expect(ociRuntimeSpecSchema.safeParse(spec).success).toBe(true);
      }),
      { numRuns: 200 },
    );
  });
});
