/** The pod's shared files (`podFiles`) and `/dev/shm`, bound as containerd's CRI plugin does. */
import { describe, expect, it } from 'vitest';
import { buildRuntimeSpec } from '../../../../src/oci/spec/build.js';
import type { BuildRuntimeSpecOptions } from '../../../../src/oci/spec/options.js';
import type { OciMount } from '../../../../src/oci/spec/runtime-spec.js';
import { InvalidOptionsError } from '../../../../src/errors.js';
import { BASE_OPTIONS, image, request } from './fixtures.js';

type Req = Parameters<typeof request>[0];
const POD_FILES = { hostsPath: '/run/lxcri/pods/p1/hosts', hostnamePath: '/run/lxcri/pods/p1/hostname', resolvConfPath: '/run/lxcri/pods/p1/resolv.conf', shmPath: '/run/lxcri/pods/p1/shm' };

function mounts(patch: Req = {}, options: Partial<BuildRuntimeSpecOptions> = {}): OciMount[] {
  return buildRuntimeSpec(request(patch), image({ Cmd: ['sh'] }), { ...BASE_OPTIONS, ...options }).mounts ?? [];
}
const at = (list: OciMount[], destination: string): OciMount[] => list.filter((m) => m.destination === destination);

describe('podFiles', () => {
  it('binds hosts, hostname and resolv.conf rw and the pod’s /dev/shm in place of the private tmpfs', () => {
    const list = mounts({}, { podFiles: POD_FILES });
    expect(at(list, '/etc/hosts')).toEqual([{ destination: '/etc/hosts', type: 'bind', source: POD_FILES.hostsPath, options: ['rbind', 'rprivate', 'rw'] }]);
    expect(at(list, '/etc/hostname')).toEqual([{ destination: '/etc/hostname', type: 'bind', source: POD_FILES.hostnamePath, options: ['rbind', 'rprivate', 'rw'] }]);
    expect(at(list, '/etc/resolv.conf')).toEqual([{ destination: '/etc/resolv.conf', type: 'bind', source: POD_FILES.resolvConfPath, options: ['rbind', 'rprivate', 'rw'] }]);
    expect(at(list, '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'bind', source: POD_FILES.shmPath, options: ['rbind', 'rprivate', 'rw'] }]);
    // the default mounts come first, then the binds by depth: /dev/shm (2) before /etc/... (2) in containerd's order
    expect(list.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/dev/shm']);
  });

  it('a read-only rootfs makes the files read-only; /dev/shm stays writable', () => {
    const list = mounts({ config: { linux: { security_context: { readonly_rootfs: true } } } }, { podFiles: POD_FILES });
    for (const d of ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf']) expect(at(list, d)[0]?.options).toEqual(['rbind', 'rprivate', 'ro']);
    expect(at(list, '/dev/shm')[0]?.options).toEqual(['rbind', 'rprivate', 'rw']);
  });

  it('only what the pod provides is bound; without shmPath the private 64 MiB tmpfs stays', () => {
    const list = mounts({}, { podFiles: { resolvConfPath: POD_FILES.resolvConfPath } });
    expect(list.filter((m) => m.type === 'bind').map((m) => m.destination)).toEqual(['/etc/resolv.conf']);
    expect(at(list, '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] }]);
    expect(mounts().filter((m) => m.type === 'bind')).toEqual([]);
  });

  it('a CRI mount on the same path wins over the pod’s file', () => {
    const list = mounts({ config: { mounts: [{ container_path: '/etc/hosts/', host_path: '/srv/my-hosts', readonly: true }, { container_path: '/dev/shm', host_path: '/srv/shm' }] } }, { podFiles: POD_FILES, hostPaths: {} });
    expect(at(list, '/etc/hosts')).toEqual([{ destination: '/etc/hosts', type: 'bind', source: '/srv/my-hosts', options: ['rbind', 'rprivate', 'ro'] }]);
    expect(at(list, '/dev/shm')).toEqual([{ destination: '/dev/shm', type: 'bind', source: '/srv/shm', options: ['rbind', 'rprivate', 'rw'] }]);
    expect(at(list, '/etc/resolv.conf')).toHaveLength(1);
  });

  it('a host-IPC pod shares the host’s /dev/shm (containerd), with or without pod files', () => {
    const hostIpc: Req = { sandbox_config: { linux: { security_context: { namespace_options: { ipc: 'NODE' } } } } };
    const expected = [{ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate', 'rw'] }];
    expect(at(mounts(hostIpc), '/dev/shm')).toEqual(expected);
    expect(at(mounts(hostIpc, { podFiles: POD_FILES }), '/dev/shm')).toEqual(expected);
  });

  it('paths must be absolute (InvalidOptionsError naming the field)', () => {
    expect(() => mounts({}, { podFiles: { hostsPath: 'hosts' } })).toThrow(InvalidOptionsError);
    expect(() => mounts({}, { podFiles: { hostsPath: 'hosts' } })).toThrow(/podFiles\.hostsPath/);
    expect(() => mounts({}, { podFiles: { extra: '/x' } as never })).toThrow(InvalidOptionsError);
  });
});
