import { describe, expect, it } from 'vitest';
import { ENDPOINT_RULES, decodeUrlencoded, splitPropertyString, validateParams } from '../../../src/testing/index.js';

const rules = (method: string, path: string) => {
  const found = ENDPOINT_RULES.find((r) => r.method === method && r.path === path);
  if (!found) throw new Error('no rules');
  return found.params;
};
const create = rules('POST', '/nodes/{node}/lxc');
const netFormat = (() => {
  const format = create['net[n]']?.format;
  if (typeof format !== 'object') throw new Error('no net format');
  return format;
})();

describe('validateParams', () => {
  it('types values: integers and booleans become numbers, strings stay strings', () => {
    const { values, errors } = validateParams(create, { node: 'pve1', vmid: '101', ostemplate: 'local:vztmpl/a.tar.gz', onboot: '1', cpulimit: '1.5', net0: 'name=eth0' }, '9.1');
    expect(errors).toEqual({});
    expect(values).toEqual({ node: 'pve1', vmid: 101, ostemplate: 'local:vztmpl/a.tar.gz', onboot: 1, cpulimit: 1.5, net0: 'name=eth0' });
  });

  it('accepts JSON booleans and numbers, refuses other JSON shapes with the Perl type names', () => {
    const { errors } = validateParams(create, { node: 'pve1', vmid: 101, ostemplate: 'x', onboot: true, memory: true, tags: ['a'] }, '9.1');
    expect(errors).toEqual({ memory: "type check ('integer') failed - got JSON::PP::Boolean", tags: "type check ('string') failed - got ARRAY" });
  });

  it('resolves indexed names within their limits', () => {
    const { errors } = validateParams(create, { node: 'pve1', vmid: 101, ostemplate: 'x', mp255: 'local-lvm:1,mp=/a', mp256: 'x', net01: 'name=a', dev0: '/dev/null' }, '9.1');
    expect(errors).toEqual({
      mp256: 'property is not defined in schema and the schema does not allow additional properties',
      net01: 'property is not defined in schema and the schema does not allow additional properties',
    });
  });

  it('checks the format before the range, as pve-common does', () => {
    expect(validateParams(create, { node: 'pve1', vmid: 99, ostemplate: 'x' }, '9.1').errors).toEqual({
      vmid: 'invalid format - value does not look like a valid VM ID\n',
    });
  });

  it('validates the named formats it uses', () => {
    const { errors } = validateParams(
      create,
      {
        node: 'pve1',
        vmid: 101,
        ostemplate: 'x',
        nameserver: '10.0.0.1 fe80::1%eth0 2001:db8::1',
        searchdomain: 'example.com,bad_domain',
        tags: 'web;prod',
        timezone: 'Nowhere/Special',
        hookscript: 'no-volume',
        pool: 'bad pool',
      },
      '9.1',
    );
    expect(errors).toEqual({
      searchdomain: 'invalid format - value does not look like a valid DNS name\n',
      timezone: "invalid format - invalid time zone 'Nowhere/Special'\n",
      hookscript: "invalid format - unable to parse volume ID 'no-volume'\n",
      pool: "invalid format - pool name 'bad pool' contains invalid characters\n",
    });
  });
});

describe('splitPropertyString (pve-common split in the simulator)', () => {
  it('takes the default key bare and first', () => {
    const rootfs = create['rootfs']?.format;
    if (typeof rootfs !== 'object') throw new Error('no rootfs format');
    expect(splitPropertyString(rootfs, 'local-lvm:8,mountoptions=noatime;nodev,ro=1')).toEqual({ volume: 'local-lvm:8', mountoptions: 'noatime;nodev', ro: '1' });
  });

  it("reports PVE's parse errors", () => {
    expect(splitPropertyString(netFormat, 'name=a,name=b')).toBe('duplicate key in comma-separated list property: name\n');
    expect(splitPropertyString(netFormat, 'eth0')).toBe('value without key, but schema does not define a default key\n');
    expect(splitPropertyString(netFormat, 'name=')).toBe('missing key in comma-separated list property\n');
    expect(splitPropertyString(netFormat, 'name=a,foo=b')).toBe('invalid key in comma-separated list property: foo\n');
    expect(splitPropertyString(netFormat, 'name=a,host-managed=1', '8.4')).toBe('invalid key in comma-separated list property: host-managed\n');
  });
});

describe('decodeUrlencoded', () => {
  it("splits on '&' and ';', decodes '+' and %XX, joins repeated keys with NUL, cuts at a second '='", () => {
    expect(decodeUrlencoded('a=1;b=x+y&c=%3B%26&a=2&d=k=v&flag')).toEqual({ a: '1\u00002', b: 'x y', c: ';&', d: 'k', flag: '' });
  });
});

describe('named formats', () => {
  it('checks nameserver lists with link-local interfaces as pve-container does', () => {
    const check = (nameserver: string) => validateParams(create, { node: 'pve1', vmid: 101, ostemplate: 'x', nameserver }, '9.1').errors;
    expect(check('10.0.0.1 fe80::1%eth0 2001:db8::1')).toEqual({});
    expect(check('10.0.0.1 fe80::1%-bad')).toEqual({ nameserver: 'invalid format - value does not look like a valid IP address\n' });
    expect(check('300.1.1.1')).toEqual({ nameserver: 'invalid format - value does not look like a valid IP address\n' });
  });
});
