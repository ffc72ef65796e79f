/**
 * CRI → CT parameter mapping (pure): sizes, CPU, hostname, network from annotations,
 * privileges, mounts, the description marker, and the entrypoint quoting.
 */
import { describe, expect, it } from 'vitest';
import { normalizeCreateContainerRequest } from '../../../../src/cri/normalize.js';
import {
  buildCtParams,
  cpuParams,
  dnsSafeHostname,
  formatEntrypoint,
  formatMarker,
  memoryParams,
  parseMarker,
  pveArch,
  type LxcMarker,
} from '../../../../src/runtimes/proxmox-lxc/ct-params.js';
import { resolveProxmoxLxcRuntimeOptions } from '../../../../src/runtimes/proxmox-lxc/options.js';

const MIB = 1024 * 1024;

function req(config: Record<string, unknown> = {}, sandbox: Record<string, unknown> = {}) {
  return normalizeCreateContainerRequest({
    podSandboxId: 'sb',
    config: { metadata: { name: 'c', attempt: 2 }, image: { image: 'x' }, ...config },
    sandboxConfig: { metadata: { name: 'pod', uid: 'u', namespace: 'ns' }, ...sandbox },
  });
}
const ctx = (options: Record<string, unknown> = {}) => ({
  options: resolveProxmoxLxcRuntimeOptions(options),
  containerId: 'cid',
  imageDigest: 'sha256:abc',
  templateVolid: 'local:vztmpl/lxcri-0123456789abcdef.tar',
  mode: 'oci' as const,
});

describe('resources', () => {
  it('memory rounds up to MiB, at least 16; swap is the swap limit minus memory', () => {
    expect(memoryParams(0, 0)).toEqual({});
    expect(memoryParams(1, 0)).toEqual({ memory: 16, swap: 0 });
    expect(memoryParams(64 * MIB + 1, 0)).toEqual({ memory: 65, swap: 0 });
    expect(memoryParams(64 * MIB, 128 * MIB)).toEqual({ memory: 64, swap: 64 });
    expect(memoryParams(64 * MIB, 32 * MIB)).toEqual({ memory: 64, swap: 0 });
    expect(memoryParams(64 * MIB, -1)).toEqual({ memory: 64 });
  });
  it('cores and cpulimit from quota/period, cpuunits with the cgroup v2 conversion', () => {
    expect(cpuParams(0, 100000, 0)).toEqual({});
    expect(cpuParams(50000, 100000, 0)).toEqual({ cores: 1, cpulimit: 0.5 });
    expect(cpuParams(250000, 100000, 0)).toEqual({ cores: 3, cpulimit: 2.5 });
    expect(cpuParams(0, 0, 2)).toEqual({ cpuunits: 1 });
    expect(cpuParams(0, 0, 1024)).toEqual({ cpuunits: 39 });
    expect(cpuParams(0, 0, 262144)).toEqual({ cpuunits: 10000 });
    expect(cpuParams(0, 0, 1_000_000)).toEqual({ cpuunits: 10000 });
  });
  it('arch from the image', () => {
    expect([pveArch('amd64'), pveArch('arm64'), pveArch('arm', 'v7'), pveArch('386'), pveArch('s390x')]).toEqual(['amd64', 'arm64', 'armhf', 'i386', undefined]);
  });
});

describe('hostname', () => {
  it('is one DNS label of at most 63 characters', () => {
    expect(dnsSafeHostname('My_Pod.example.com')).toBe('my-pod-example-com');
    expect(dnsSafeHostname('--x--')).toBe('x');
    expect(dnsSafeHostname('a'.repeat(70))).toHaveLength(63);
    expect(dnsSafeHostname(`${'a'.repeat(62)}-b`)).toBe('a'.repeat(62));
    expect(dnsSafeHostname('___')).toBeUndefined();
  });
});

describe('buildCtParams', () => {
  it('maps a plain request', () => {
    const params = buildCtParams(req({}, { hostname: 'web' }), ctx());
    expect(params).toEqual({
      ostemplate: 'local:vztmpl/lxcri-0123456789abcdef.tar',
      hostname: 'web',
      storage: 'local-lvm',
      rootfs: { volume: 'local-lvm:4' },
      net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }],
      unprivileged: true,
      features: { nesting: true },
      tags: ['lxcri'],
      description: expect.stringContaining('<!-- lxcri:v1 {"containerId":"cid"') as unknown,
      start: false,
    });
  });
  it('static IP, VLAN, firewall, size and storages from options and pod annotations', () => {
    const params = buildCtParams(
      req({}, { annotations: { 'lxcri.io/ip': '10.0.0.5/24', 'lxcri.io/gw': '10.0.0.1', 'lxcri.io/rootfs-size': '8' } }),
      ctx({ bridge: 'vmbr1', vlan: 20, firewall: true, storages: { rootfs: 'fast', template: 'nfs' }, features: { nesting: false, keyctl: true }, tags: ['team-a'] }),
    );
    expect(params).toMatchObject({
      storage: 'fast',
      rootfs: { volume: 'fast:8' },
      net: [{ name: 'eth0', bridge: 'vmbr1', firewall: true, gw: '10.0.0.1', ip: '10.0.0.5/24', tag: 20 }],
      features: { keyctl: true },
      tags: ['lxcri', 'team-a'],
    });
  });
  it('refuses malformed annotations with the annotation named', () => {
    expect(() => buildCtParams(req({}, { annotations: { 'lxcri.io/ip': '10.0.0.5' } }), ctx())).toThrow(/lxcri\.io\/ip: expected an IPv4 address in CIDR form/);
    expect(() => buildCtParams(req({}, { annotations: { 'lxcri.io/rootfs-size': '8G' } }), ctx())).toThrow(/lxcri\.io\/rootfs-size/);
  });
  it('no network with bridge null or a host-network pod', () => {
    expect(buildCtParams(req(), ctx({ bridge: null })).net).toBeUndefined();
    expect(buildCtParams(req({}, { linux: { securityContext: { namespaceOptions: { network: 'NODE' } } } }), ctx()).net).toBeUndefined();
  });
  it('privileged only for a privileged container in a privileged pod', () => {
    const privileged = { linux: { securityContext: { privileged: true } } };
    expect(buildCtParams(req(privileged, privileged), ctx()).unprivileged).toBe(false);
    expect(buildCtParams(req(privileged, {}), ctx()).unprivileged).toBe(true);
  });
  it('CRI mounts become bind mount points', () => {
    const params = buildCtParams(req({ mounts: [{ hostPath: '/srv/data', containerPath: '/data', readonly: true }, { hostPath: '/srv/b', containerPath: '/b' }] }), ctx());
    expect(params.mp).toEqual([
      { volume: '/srv/data', mp: '/data', ro: true, backup: false },
      { volume: '/srv/b', mp: '/b', backup: false },
    ]);
    expect(() => buildCtParams(req({ mounts: [{ hostPath: '/a,b', containerPath: '/x' }] }), ctx())).toThrow(/comma/);
  });
});

describe('description marker', () => {
  it('round-trips and cannot be closed early by a name', () => {
    const marker: LxcMarker = { containerId: 'c1', name: 'evil --> <b>&', attempt: 3, sandboxId: 's', imageDigest: 'sha256:x', template: 'local:vztmpl/t.tar', mode: 'rootfs' };
    const text = formatMarker(marker);
    expect(text.match(/-->/g)).toHaveLength(1);
    expect(parseMarker(`notes\n${text}more notes`)).toEqual(marker);
    expect(parseMarker('no marker')).toBeUndefined();
    expect(parseMarker(undefined)).toBeUndefined();
  });
});

describe('formatEntrypoint', () => {
  it('joins like pve-container: first word bare, the others quoted', () => {
    expect(formatEntrypoint(['/app', '--port', '80'])).toBe('/app "--port" "80"');
    expect(formatEntrypoint(['/bin/sh', '-c', 'echo "hi"'])).toBe(`/bin/sh "-c" 'echo "hi"'`);
    expect(formatEntrypoint(['/my app'])).toBe('"/my app"');
    expect(() => formatEntrypoint([])).toThrow(/no command/);
    expect(() => formatEntrypoint(['a', `"'`])).toThrow(/both quote/);
    expect(() => formatEntrypoint(['a', 'x\ny'])).toThrow(/control character/);
  });
});
