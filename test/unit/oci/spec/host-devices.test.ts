/** Privileged containers get the host's device nodes (containerd `WithHostDevices`). */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRuntimeSpec } from '../../../../src/oci/spec/build.js';
import { collectSpecInputs, listHostDevices } from '../../../../src/oci/spec/collect.js';
import type { HostDeviceNode } from '../../../../src/oci/spec/options.js';
import { missing } from '../../../helpers/requirements.js';
import { BASE_OPTIONS, image, request } from './fixtures.js';

const KVM: HostDeviceNode = { path: '/dev/kvm', type: 'c', major: 10, minor: 232, fileMode: 0o660, uid: 0, gid: 108 };
const TUN: HostDeviceNode = { path: '/dev/net/tun', type: 'c', major: 10, minor: 200, fileMode: 0o666, uid: 0, gid: 0 };
const LOOP: HostDeviceNode = { path: '/dev/loop0', type: 'b', major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 };
const privileged = { config: { linux: { security_context: { privileged: true } } }, sandbox_config: { linux: { security_context: { privileged: true } } } };

describe('buildRuntimeSpec: hostDevices', () => {
  it('a privileged container gets every host device node, then its CRI devices; the cgroup allows all', () => {
    const spec = buildRuntimeSpec(
      request({ ...privileged, config: { ...privileged.config, devices: [{ container_path: '/dev/kvm', host_path: '/dev/kvm', permissions: 'r' }, { container_path: '/dev/xvda', host_path: '/dev/loop0' }] } }),
      image({ Cmd: ['sh'] }),
      { ...BASE_OPTIONS, hostDevices: [KVM, TUN, LOOP], devices: { '/dev/kvm': { type: 'c', major: 10, minor: 232, fileMode: 0o600, uid: 0, gid: 0 }, '/dev/loop0': { type: 'b', major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 } } },
    );
    // the CRI /dev/kvm replaces the host's entry
    expect(spec.linux.devices).toEqual([TUN, LOOP, { type: 'c', path: '/dev/kvm', major: 10, minor: 232, fileMode: 0o600, uid: 0, gid: 0 }, { type: 'b', path: '/dev/xvda', major: 7, minor: 0, fileMode: 0o660, uid: 0, gid: 6 }]);
    expect(spec.linux.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
  });

  it('not for an unprivileged container, nor with privilegedWithoutHostDevices', () => {
    expect(buildRuntimeSpec(request(), image({ Cmd: ['sh'] }), { ...BASE_OPTIONS, hostDevices: [KVM] }).linux.devices).toBeUndefined();
    const spec = buildRuntimeSpec(request(privileged), image({ Cmd: ['sh'] }), { ...BASE_OPTIONS, hostDevices: [KVM], privilegedWithoutHostDevices: true });
    expect(spec.linux.devices).toBeUndefined();
    expect(spec.linux.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
  });

  it('paths must be below /dev/', () => {
    expect(() => buildRuntimeSpec(request(privileged), image({ Cmd: ['sh'] }), { ...BASE_OPTIONS, hostDevices: [{ ...KVM, path: '/etc/kvm' }] })).toThrow(/hostDevices\.0\.path/);
  });
});

const mknodSkip = missing({ tools: ['mknod'], root: true });

describe.skipIf(mknodSkip)('listHostDevices (as root, on a made-up /dev)', () => {
  let work: string;
  let dev: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'lxcri-hostdev-'));
    dev = join(work, 'dev');
    for (const d of ['net', 'pts', 'shm', '.udev', 'dri']) await mkdir(join(dev, d), { recursive: true });
    const node = (path: string, type: 'c' | 'b', major: number, minor: number, mode: string): void => {
      execFileSync('mknod', ['-m', mode, join(dev, path), type, String(major), String(minor)]);
    };
    node('null', 'c', 1, 3, '666');
    node('kvm', 'c', 10, 232, '660');
    node('net/tun', 'c', 10, 200, '666');
    node('loop0', 'b', 7, 0, '660');
    node('dri/renderD128', 'c', 226, 128, '666');
    node('console', 'c', 5, 1, '600');
    node('pts/0', 'c', 136, 0, '620');
    node('shm/x', 'c', 1, 5, '666');
    node('.udev/y', 'c', 1, 5, '666');
    await symlink('/proc/self/fd', join(dev, 'fd'));
    await symlink('null', join(dev, 'null-link'));
    await writeFile(join(dev, 'regular'), 'x');
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('lists character and block nodes by name, recursing, skipping pts/shm/.udev/console and symlinks', async () => {
    const list = await listHostDevices(dev);
    expect(list.map((d) => [d.path, d.type, d.major, d.minor, d.fileMode])).toEqual([
      ['/dev/dri/renderD128', 'c', 226, 128, 0o666],
      ['/dev/kvm', 'c', 10, 232, 0o660],
      ['/dev/loop0', 'b', 7, 0, 0o660],
      ['/dev/net/tun', 'c', 10, 200, 0o666],
      ['/dev/null', 'c', 1, 3, 0o666],
    ]);
    expect(list.every((d) => d.uid === 0 && d.gid === 0)).toBe(true);
  });

  it('collectSpecInputs lists them for a privileged request only', async () => {
    const rootfs = join(work, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    expect((await collectSpecInputs(request(privileged), { rootfs, devRoot: dev })).hostDevices).toHaveLength(5);
    expect((await collectSpecInputs(request(), { rootfs, devRoot: dev })).hostDevices).toBeUndefined();
  });

  it('stops when aborted', async () => {
    await expect(listHostDevices(dev, { signal: AbortSignal.abort() })).rejects.toThrow(/aborted/);
  });
});
