import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  encodeIndexedParams,
  encodePropertyString,
  parseIndexedParamName,
  parsePropertyString,
  type NetProperty,
} from '../../../src/proxmox/property-string.js';
import { isLxcriError } from '../../../src/errors.js';

function errorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (e) {
    if (isLxcriError(e)) return { code: e.code, message: e.message };
    throw e;
  }
  throw new Error('expected a throw');
}

describe('encodePropertyString', () => {
  it('encodes net[n] with booleans as 1/0, lists joined by ;, in schema order', () => {
    expect(
      encodePropertyString('net', { name: 'eth0', bridge: 'vmbr0', ip: '10.0.0.5/24', gw: '10.0.0.1', ip6: 'auto', firewall: true, tag: 20, trunks: [10, 20], 'host-managed': false }),
    ).toBe('name=eth0,bridge=vmbr0,firewall=1,gw=10.0.0.1,host-managed=0,ip=10.0.0.5/24,ip6=auto,tag=20,trunks=10;20');
  });
  it('emits the default key bare and first', () => {
    expect(encodePropertyString('rootfs', { size: '8G', volume: 'local-lvm:8', mountoptions: ['noatime', 'nodev'] })).toBe(
      'local-lvm:8,mountoptions=noatime;nodev,size=8G',
    );
    expect(encodePropertyString('mp', { mp: '/data', volume: 'local-lvm:16', backup: true })).toBe('local-lvm:16,mp=/data,backup=1');
    expect(encodePropertyString('startup', { order: 2, up: 30 })).toBe('2,up=30');
    expect(encodePropertyString('dev', { path: '/dev/fuse', mode: '0666', uid: 0 })).toBe('/dev/fuse,mode=0666,uid=0');
    expect(encodePropertyString('features', { nesting: true, mount: ['nfs', 'cifs'], keyctl: false })).toBe('keyctl=0,mount=nfs;cifs,nesting=1');
  });
  it('drops undefined and never mutates the input', () => {
    const input: NetProperty = { name: 'eth0', bridge: undefined, ip: 'dhcp' };
    const copy = structuredClone(input);
    expect(encodePropertyString('net', input)).toBe('name=eth0,ip=dhcp');
    expect(input).toEqual(copy);
  });
  it('refuses bad values with a typed error naming the field', () => {
    expect(errorOf(() => encodePropertyString('net', { name: 'eth0', ip: '10.0.0.5' }))).toMatchObject({
      code: 'ERR_INVALID_ARGUMENT',
      message: expect.stringMatching(/^net: ip: ip must be IPv4\/CIDR/),
    });
    expect(errorOf(() => encodePropertyString('mp', { volume: 'a,b', mp: '/x' })).message).toMatch(/volume must not contain ','/);
    expect(errorOf(() => encodePropertyString('net', { name: 'eth0', tag: 5000 }, 'net3')).message).toMatch(/^net3: tag/);
    expect(errorOf(() => encodePropertyString('net', { name: 'eth0', bogus: 1 } as unknown as NetProperty)).message).toMatch(/bogus/);
  });
});

describe('parsePropertyString', () => {
  it('parses typed values and the bare default key', () => {
    expect(parsePropertyString('mp', 'local-lvm:16,mp=/data,backup=1,mountoptions=noatime;nosuid')).toEqual({
      volume: 'local-lvm:16',
      mp: '/data',
      backup: true,
      mountoptions: ['noatime', 'nosuid'],
    });
    expect(parsePropertyString('net', 'name=eth0,bridge=vmbr0,hwaddr=BC:24:11:2A:3B:4C,ip=dhcp,type=veth,mtu=1500,trunks=1;2')).toEqual({
      name: 'eth0',
      bridge: 'vmbr0',
      hwaddr: 'BC:24:11:2A:3B:4C',
      ip: 'dhcp',
      type: 'veth',
      mtu: 1500,
      trunks: [1, 2],
    });
    expect(parsePropertyString('rootfs', 'volume=local:100/vm-100-disk-0.raw,size=8G')).toEqual({ volume: 'local:100/vm-100-disk-0.raw', size: '8G' });
    expect(parsePropertyString('startup', 'order=3,down=10')).toEqual({ order: 3, down: 10 });
  });
  it('refuses unknown keys, duplicates, bad booleans and missing required keys', () => {
    expect(errorOf(() => parsePropertyString('net', 'name=eth0,colour=red')).message).toBe("net.colour: unknown key 'colour'");
    expect(errorOf(() => parsePropertyString('net', 'name=eth0,name=eth1')).message).toMatch(/given twice/);
    expect(errorOf(() => parsePropertyString('features', 'nesting=maybe')).message).toMatch(/expected a boolean/);
    expect(errorOf(() => parsePropertyString('mp', 'local:8')).message).toMatch(/^mp: mp:/);
    expect(errorOf(() => parsePropertyString('net', 'eth0')).message).toMatch(/no default key/);
  });
  it('round-trips arbitrary valid net values (property test)', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_.-]{0,10}$/);
    const net = fc.record(
      {
        name,
        bridge: name,
        firewall: fc.boolean(),
        'host-managed': fc.boolean(),
        ip: fc.constantFrom('dhcp', 'manual', '192.168.1.7/24'),
        mtu: fc.integer({ min: 64, max: 65535 }),
        tag: fc.integer({ min: 1, max: 4094 }),
        trunks: fc.array(fc.integer({ min: 1, max: 4094 }), { minLength: 1, maxLength: 4 }),
      },
      { requiredKeys: ['name'] },
    );
    fc.assert(
      fc.property(net, (value) => {
        expect(parsePropertyString('net', encodePropertyString('net', value))).toEqual(value);
      }),
    );
  });
});

describe('indexed parameters', () => {
  it('expands arrays and sparse records into net0.., mp..', () => {
    expect(encodeIndexedParams('net', [{ name: 'eth0', ip: 'dhcp' }, undefined, { name: 'eth2', ip: 'manual' }])).toEqual({
      net0: 'name=eth0,ip=dhcp',
      net2: 'name=eth2,ip=manual',
    });
    expect(encodeIndexedParams('mp', { 255: { volume: 'local:1', mp: '/m' } })).toEqual({ mp255: 'local:1,mp=/m' });
  });
  it('enforces the PVE limits net0..net31, mp0..mp255', () => {
    expect(errorOf(() => encodeIndexedParams('net', { 32: { name: 'eth0' } })).message).toBe('net32: index must be an integer from 0 to 31');
    expect(errorOf(() => encodeIndexedParams('mp', { 256: { volume: 'a', mp: '/b' } })).message).toMatch(/^mp256:/);
    expect(parseIndexedParamName('net31')).toEqual({ kind: 'net', index: 31 });
    expect(parseIndexedParamName('net32')).toBeUndefined();
    expect(parseIndexedParamName('mp255')).toEqual({ kind: 'mp', index: 255 });
    expect(parseIndexedParamName('net01')).toBeUndefined();
  });
});
