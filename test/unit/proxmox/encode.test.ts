import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeForm } from '../../../src/proxmox/transport/encode.js';
import { expandPath, toParamPairs } from '../../../src/proxmox/transport/encode.js';

/** PVE's decoder (pve-http-server decode_urlencoded): split on & and ;, key/value on the first =, + is space, then %XX. */
function pveDecode(body: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of body.split(/[&;]/)) {
    if (kv === '') continue;
    const [k = '', v = ''] = kv.split('=');
    const dec = (s: string): string => decodeURIComponent(s.replace(/\+/g, ' '));
    out[dec(k)] = dec(v);
  }
  return out;
}

describe('form encoding', () => {
  it('percent-encodes every special character, booleans as 1/0, drops undefined/null, repeats arrays', () => {
    const params = { a: 'x;y=z,w+v\nu', b: true, c: false, d: undefined, e: null, f: 42, g: ['1', 2] };
    const copy = structuredClone(params);
    expect(encodeForm(params)).toBe('a=x%3By%3Dz%2Cw%2Bv%0Au&b=1&c=0&f=42&g=1&g=2');
    expect(params).toEqual(copy);
    expect(toParamPairs(undefined)).toEqual([]);
  });
  it("round-trips through PVE's decoder for any string (property test)", () => {
    fc.assert(
      fc.property(fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9-]{0,8}$/), fc.string({ unit: 'binary' }).filter((s) => !/[\uD800-\uDFFF]/.test(s))), (params) => {
        expect(pveDecode(encodeForm(params))).toEqual(params);
      }),
    );
  });
  it('refuses non-finite numbers and objects, naming the field', () => {
    expect(() => encodeForm({ memory: Number.NaN })).toThrow('memory: must be a finite number');
    expect(() => encodeForm({ x: {} as unknown as string })).toThrow('x: unsupported parameter type object');
  });
  it('expands path parameters with encoding and refuses missing ones', () => {
    expect(expandPath('/nodes/{node}/storage/{storage}/content/{volume}', { node: 'pve1', storage: 'local', volume: 'local:vztmpl/a b.tar' })).toBe(
      '/nodes/pve1/storage/local/content/local%3Avztmpl%2Fa%20b.tar',
    );
    expect(() => expandPath('/nodes/{node}', { node: '' })).toThrow('node: path parameter is required');
  });
});
