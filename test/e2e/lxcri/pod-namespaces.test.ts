/**
 * A crun pod's namespaces and /dev/shm, as root: made in one Perl process with system calls, and
 * with the util-linux tools where perl is missing (PATH without it) — the same mounts, hostname and
 * loopback either way; removal leaves no mount behind.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NormalizedPodSandboxConfig } from '../../../src/cri/types.js';
import { createPodNamespaces, removePodNamespaces } from '../../../src/lxcri/pod.js';
import { silentLogger } from '../../../src/logger.js';
import { missing } from '../../helpers/requirements.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-pod-ns-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const config = { metadata: { name: 'p', uid: 'u', namespace: 'n', attempt: 0 }, hostname: '12345', linux: { securityContext: { namespaceOptions: { network: 'POD', ipc: 'POD', pid: 'POD' } } } } as unknown as NormalizedPodSandboxConfig;

/** The mounts below `dir`: mount point, filesystem type, mount and super options. */
async function mountsUnder(dir: string): Promise<{ mountPoint: string; fsType: string; options: string }[]> {
  return (await readFile('/proc/self/mountinfo', 'utf8'))
    .split('\n')
    .map((line) => {
      const [left = '', right = ''] = line.split(' - ');
      const f = left.split(' ');
      const r = right.split(' ');
      return { mountPoint: f[4] ?? '', fsType: r[0] ?? '', options: `${f[5] ?? ''},${r[2] ?? ''}` };
    })
    .filter((m) => m.mountPoint.startsWith(`${dir}/`));
}

/** What the pod's namespaces look like from the host and from inside. */
async function inspect(dir: string): Promise<Record<string, unknown>> {
  const mounts = await mountsUnder(dir);
  const inside = execFileSync('nsenter', [`--net=${dir}/ns/net`, `--uts=${dir}/ns/uts`, 'sh', '-c', 'hostname; cat /sys/class/net/lo/flags; readlink /proc/self/ns/net']).toString().trim().split('\n');
  return {
    mounts: mounts.map((m) => [m.mountPoint.slice(dir.length), m.fsType]).sort(),
    shmOptions: mounts.find((m) => m.mountPoint === `${dir}/shm`)?.options,
    hostname: inside[0],
    loopbackUp: (Number.parseInt(inside[1] ?? '0', 16) & 1) === 1,
    ownNet: inside[2] !== (await readlink('/proc/self/ns/net')),
  };
}

describe.skipIf(missing({ tools: ['perl', 'unshare', 'mount', 'nsenter'], root: true }))('pod namespaces', () => {
  it('are made in one perl process, and with mount/unshare where perl is missing: the same result; removal unmounts everything', async () => {
    const seen: Record<string, unknown>[] = [];
    // PATH without perl: only the tools the fallback runs
    const bin = join(work, 'bin');
    await mkdir(bin);
    for (const tool of ['mount', 'umount', 'unshare', 'sh', 'hostname', 'ip']) {
      const path = execFileSync('sh', ['-c', `command -v ${tool} || true`]).toString().trim();
      if (path !== '') await symlink(path, join(bin, tool));
    }
    for (const withPerl of [true, false]) {
      const dir = join(work, withPerl ? 'perl' : 'tools');
      await mkdir(dir);
      const path = process.env['PATH'];
      if (!withPerl) process.env['PATH'] = bin;
      try {
        const made = await createPodNamespaces(dir, config, { logger: silentLogger });
        expect(made).toEqual({ namespacePaths: { network: `${dir}/ns/net`, uts: `${dir}/ns/uts`, ipc: `${dir}/ns/ipc` }, shmPath: `${dir}/shm` });
      } finally {
        process.env['PATH'] = path;
      }
      seen.push(await inspect(dir));
      await removePodNamespaces(dir, silentLogger);
      expect(await mountsUnder(dir)).toEqual([]);
    }
    expect(seen[0]).toMatchObject({
      mounts: [['/ns', expect.any(String)], ['/ns/ipc', 'nsfs'], ['/ns/net', 'nsfs'], ['/ns/uts', 'nsfs'], ['/shm', 'tmpfs']],
      hostname: '12345',
      loopbackUp: true,
      ownNet: true,
    });
    expect(String(seen[0]?.['shmOptions'])).toMatch(/nosuid,nodev,noexec/);
    expect(String(seen[0]?.['shmOptions'])).toContain('size=65536k');
    // the tools bring loopback up only when `ip` is there
    expect({ ...seen[1], loopbackUp: true }).toEqual({ ...seen[0], loopbackUp: true });
  });
});
