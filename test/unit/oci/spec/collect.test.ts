import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { CriValidationError } from '../../../../src/index.js';
import { collectSpecInputs } from '../../../../src/oci/spec/collect.js';
import { detectHostSpecDefaults } from '../../../../src/exports/oci.js';
import { capabilitiesFromMask } from '../../../../src/oci/spec/collect.js';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES } from '../../../../src/oci/spec/defaults.js';
import { GROUP, PASSWD, request, validatedRequest } from './fixtures.js';

let work: string;
let rootfs: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-collect-'));
  rootfs = join(work, 'rootfs');
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc/passwd'), PASSWD);
  await writeFile(join(rootfs, 'etc/group'), GROUP);
  await mkdir(join(work, 'data'));
  await symlink(join(work, 'data'), join(work, 'data-link'));
  await writeFile(join(work, 'profile.json'), JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
  await writeFile(join(work, 'not-json.json'), '{');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('collectSpecInputs', () => {
  it('reads the rootfs user db, resolves host paths, stats devices and loads the Localhost seccomp profile', async () => {
    const r = request({
      config: {
        mounts: [{ container_path: '/d', host_path: join(work, 'data-link') }],
        devices: [{ container_path: '/dev/null2', host_path: '/dev/null', permissions: 'rw' }],
        linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(work, 'profile.json') } } },
      },
    });
    const inputs = await collectSpecInputs(r, { rootfs });
    expect(inputs.userDb).toEqual({ passwd: PASSWD, group: GROUP });
    expect(inputs.hostPaths).toEqual({ [join(work, 'data-link')]: join(work, 'data') });
    expect(inputs.devices['/dev/null']).toMatchObject({ type: 'c', major: 1, minor: 3 });
    expect(inputs.seccompProfiles).toEqual({ [join(work, 'profile.json')]: { defaultAction: 'SCMP_ACT_ALLOW' } });
  });

  it('reports every missing or invalid host object with the request field', async () => {
    const r = request({
      config: {
        mounts: [{ container_path: '/d', host_path: join(work, 'nope') }],
        devices: [{ container_path: '/dev/x', host_path: join(work, 'profile.json') }],
        linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(work, 'not-json.json') } } },
      },
    });
    const error = await collectSpecInputs(r, { rootfs }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CriValidationError);
    expect((error as CriValidationError).issues.map((i) => [i.path, i.code])).toEqual([
      ['config.linux.securityContext.seccomp.localhostRef', 'invalid_profile'],
      ['config.mounts[0].hostPath', 'not_found'],
      ['config.devices[0].hostPath', 'not_a_device'],
    ]);
    // a relative Localhost profile never gets here: validation refuses it (collecting trusts validated input)
    const relative = { config: { linux: { security_context: { seccomp_profile_path: 'localhost/relative.json' } } } };
    expect(((await validatedRequest(relative).catch((e: unknown) => e)) as CriValidationError).issues[0]).toMatchObject({
      path: 'config.linux.securityContext.seccompProfilePath',
      code: 'invalid_profile',
    });
  });

  it('honours an aborted signal', async () => {
    await expect(collectSpecInputs(request(), { rootfs, signal: AbortSignal.abort() })).rejects.toMatchObject({ code: 'ERR_ABORTED' });
  });
});

describe('detectHostSpecDefaults', () => {
  it('cgroup v2: controllers from cgroup.controllers', async () => {
    const root = join(work, 'cg2');
    await mkdir(root);
    await writeFile(join(root, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    expect(await detectHostSpecDefaults(root, join(work, 'no-status'))).toEqual({ nodeHostname: hostname(), cgroupV2: true, hugetlbController: false, swapController: true });
    await writeFile(join(root, 'cgroup.controllers'), 'cpu hugetlb\n');
    expect(await detectHostSpecDefaults(root)).toMatchObject({ hugetlbController: true, swapController: false });
  });
  it('cgroup v1: hugetlb hierarchy and memsw files', async () => {
    const root = join(work, 'cg1');
    await mkdir(join(root, 'memory'), { recursive: true });
    expect(await detectHostSpecDefaults(root)).toMatchObject({ cgroupV2: false, hugetlbController: false, swapController: false });
    await mkdir(join(root, 'hugetlb'));
    await writeFile(join(root, 'memory/memory.memsw.limit_in_bytes'), '0');
    expect(await detectHostSpecDefaults(root)).toMatchObject({ cgroupV2: false, hugetlbController: true, swapController: true });
  });
  it('allCapabilities: the bounding set of this process (containerd cap.Current()), as privileged and ALL grant', async () => {
    const status = join(work, 'status');
    // every capability but CAP_SYS_RESOURCE (24), and bits beyond CAP_CHECKPOINT_RESTORE (40) ignored
    await writeFile(status, 'Name:\tnode\nCapInh:\t0000000000000000\nCapBnd:\t00003ffffeffffff\n');
    const caps = (await detectHostSpecDefaults(join(work, 'none'), status)).allCapabilities;
    expect(caps).toEqual(ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE'));
    expect(capabilitiesFromMask('a80425fb')).toEqual([...DEFAULT_CAPABILITIES].sort((a, b) => ALL_CAPABILITIES.indexOf(a) - ALL_CAPABILITIES.indexOf(b)));
    expect((await detectHostSpecDefaults(join(work, 'none'), join(work, 'no-status'))).allCapabilities).toBeUndefined();
  });
});
