import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ALL_CAPABILITIES, DEFAULT_CAPABILITIES, DEFAULT_PATH_ENV, buildRuntimeSpec, defaultSeccompProfile, type BuildRuntimeSpecOptions, type OciRuntimeSpec } from '../../../../src/exports/oci.js';
import { CriValidationError } from '../../../../src/index.js';
import { normalizeCreateContainerRequest } from '../../../../src/exports/cri.js';
import { ociRuntimeSpecSchema } from '../../../../src/oci/spec/runtime-spec.js';
import { BASE_OPTIONS, image, request, validatedRequest } from './fixtures.js';

type Req = Parameters<typeof request>[0];

function build(patch: Req = {}, imageConfig = image({ Cmd: ['sh'] }), options: Partial<BuildRuntimeSpecOptions> = {}): OciRuntimeSpec {
  return buildRuntimeSpec(request(patch), imageConfig, { ...BASE_OPTIONS, ...options });
}

function issuesOf(fn: () => unknown): { path: string; code: string; message: string }[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(CriValidationError);
    return (error as CriValidationError).issues.map(({ path, code, message }) => ({ path, code, message }));
  }
  throw new Error('expected a CriValidationError');
}

type Issue = { path: string; code: string; message: string };

/**
 * Validation, then spec building, as every caller of `buildRuntimeSpec` runs them: the CRI rules
 * are validation's (spec building trusts validated input); what only the image or the options
 * show is spec building's. The issues of whichever step refuses.
 */
async function validatedIssuesOf(patch: Req, imageConfig = image({ Cmd: ['sh'] }), options: Partial<BuildRuntimeSpecOptions> = {}, features = {}): Promise<Issue[]> {
  try {
    buildRuntimeSpec(await validatedRequest(patch, features), imageConfig, { ...BASE_OPTIONS, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(CriValidationError);
    return (error as CriValidationError).issues.map(({ path, code, message }) => ({ path, code, message }));
  }
  throw new Error('expected a CriValidationError');
}

const sc = (securityContext: Record<string, unknown>): Req => ({ config: { linux: { security_context: securityContext } } });

describe('process.args (command/args vs Entrypoint/Cmd, §7 #19)', () => {
  const img = image({ Entrypoint: ['/ep'], Cmd: ['cmd-arg'] });
  it('CRI command replaces Entrypoint and Cmd', () => {
    expect(build({ config: { command: ['a', 'b'] } }, img).process.args).toEqual(['a', 'b']);
  });
  it('CRI command + args', () => {
    expect(build({ config: { command: ['a'], args: ['x', 'y'] } }, img).process.args).toEqual(['a', 'x', 'y']);
  });
  it('CRI args only: image Entrypoint ++ CRI args (image Cmd dropped)', () => {
    expect(build({ config: { args: ['x'] } }, img).process.args).toEqual(['/ep', 'x']);
  });
  it('neither: Entrypoint ++ Cmd', () => {
    expect(build({}, img).process.args).toEqual(['/ep', 'cmd-arg']);
  });
  it('Entrypoint [""] is ignored', () => {
    expect(build({}, image({ Entrypoint: [''], Cmd: ['sh', '-c', 'true'] })).process.args).toEqual(['sh', '-c', 'true']);
    expect(build({ config: { args: ['echo', 'hi'] } }, image({ Entrypoint: [''], Cmd: ['sh'] })).process.args).toEqual(['echo', 'hi']);
  });
  it('image Cmd alone when neither CRI nor the image has an entrypoint; a CRI command beats Entrypoint [""]', () => {
    expect(build({}, image({ Cmd: ['g', 'h'] })).process.args).toEqual(['g', 'h']);
    expect(build({ config: { command: ['a'] } }, image({ Entrypoint: [''], Cmd: ['sh'] })).process.args).toEqual(['a']);
    expect(build({ config: { command: ['a', 'b'] } }, image({})).process.args).toEqual(['a', 'b']);
  });
  it('nothing at all: "no command specified" on config.command', () => {
    expect(issuesOf(() => build({}, image({})))).toEqual([
      { path: 'config.command', code: 'no_command', message: expect.stringContaining('no command specified') },
    ]);
    expect(issuesOf(() => build({}, image({ Entrypoint: [''] })))[0]?.code).toBe('no_command');
    expect(issuesOf(() => buildRuntimeSpec(request(), undefined, BASE_OPTIONS))[0]?.code).toBe('no_command');
  });
  it('an empty executable is refused', () => {
    expect(issuesOf(() => build({ config: { command: [''] } }))[0]).toMatchObject({ path: 'config.command[0]', code: 'empty_executable' });
  });
});

describe('process.env (§7 #20)', () => {
  it('default PATH, HOSTNAME, no TERM without a tty', () => {
    expect(build({}, image({ Cmd: ['sh'] })).process.env).toEqual([DEFAULT_PATH_ENV, 'HOSTNAME=pod-host']);
  });
  it('image PATH replaces the default in place; TERM=xterm with a tty; image env in order', () => {
    const spec = build({ config: { tty: true } }, image({ Cmd: ['sh'], Env: ['A=1', 'PATH=/bin', 'B=2'] }));
    expect(spec.process.env).toEqual(['PATH=/bin', 'TERM=xterm', 'HOSTNAME=pod-host', 'A=1', 'B=2']);
    expect(spec.process.terminal).toBe(true);
  });
  it('CRI envs override image envs in place, without duplicate keys; new keys are appended in order', () => {
    const spec = build(
      { config: { envs: [{ key: 'B', value: 'cri' }, { key: 'C', value: '3' }, { key: 'B', value: 'last' }, { key: 'EMPTY', value: '' }] } },
      image({ Cmd: ['sh'], Env: ['A=1', 'B=image', 'NOEQUALS'] }),
    );
    expect(spec.process.env).toEqual([DEFAULT_PATH_ENV, 'HOSTNAME=pod-host', 'A=1', 'B=last', 'C=3', 'EMPTY=']);
  });
  it('HOSTNAME falls back to the node hostname when the sandbox has none', () => {
    expect(build({ sandbox_config: { hostname: '' } }, undefined, { nodeHostname: 'node-1' }).process.env).toEqual([DEFAULT_PATH_ENV, 'HOSTNAME=node-1']);
  });
  it('a name with "=" is an error (it would change which variable is set)', async () => {
    expect((await validatedIssuesOf({ config: { envs: [{ key: 'A=B', value: 'c' }] } }))[0]).toMatchObject({ path: 'config.envs[0].key', code: 'invalid_env' });
  });
  it('a value with "=" and newlines is kept verbatim', () => {
    expect(build({ config: { command: ['sh'], envs: [{ key: 'X', value: 'a=b\nc' }] } }, undefined).process.env?.at(-1)).toBe('X=a=b\nc');
  });
});

describe('process.cwd (§7 #21)', () => {
  it('CRI workingDir > image WorkingDir > /', () => {
    expect(build({ config: { working_dir: '/srv/app/' } }, image({ Cmd: ['sh'], WorkingDir: '/work' })).process.cwd).toBe('/srv/app/');
    expect(build({}, image({ Cmd: ['sh'], WorkingDir: '/work' })).process.cwd).toBe('/work');
    expect(build({}, image({ Cmd: ['sh'], WorkingDir: 'rel/dir' })).process.cwd).toBe('/rel/dir');
    expect(build({}, image({ Cmd: ['sh'] })).process.cwd).toBe('/');
  });
  it('a relative CRI workingDir is an error', async () => {
    expect((await validatedIssuesOf({ config: { working_dir: 'srv' } }))[0]).toMatchObject({ path: 'config.workingDir', code: 'invalid_path' });
  });
});

describe('process.user and supplemental groups (§7 #22)', () => {
  it('run_as_user + run_as_group + supplemental groups, Merge: primary first, CRI groups, then /etc/group groups', () => {
    const spec = build(sc({ run_as_user: { value: 1000 }, run_as_group: { value: 2000 }, supplemental_groups: [3333] }));
    expect(spec.process.user).toEqual({ uid: 1000, gid: 2000, additionalGids: [2000, 3333, 50, 44] });
  });
  it('Strict: only the primary and the CRI groups', () => {
    const spec = build(sc({ run_as_user: { value: 1000 }, run_as_group: { value: 2000 }, supplemental_groups: [3333], supplemental_groups_policy: 'Strict' }));
    expect(spec.process.user).toEqual({ uid: 1000, gid: 2000, additionalGids: [2000, 3333] });
  });
  it('image User "1000": gid from passwd, groups listing alice (not the group named alice)', () => {
    expect(build({}, image({ Cmd: ['sh'], User: '1000' })).process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50, 44] });
  });
  it('nothing set: root with root’s groups', () => {
    expect(build().process.user).toEqual({ uid: 0, gid: 0, additionalGids: [0, 22222] });
  });
  it('run_as_username resolves in the image passwd and wins over run_as_user', () => {
    expect(build(sc({ run_as_username: 'bob', run_as_user: { value: 1000 } })).process.user).toEqual({ uid: 1001, gid: 1001, additionalGids: [1001, 50] });
    expect(build(sc({ run_as_username: 'bob', run_as_group: { value: 7 } })).process.user).toEqual({ uid: 1001, gid: 7, additionalGids: [7, 50] });
  });
  it('image User name:group and uid:group', () => {
    // containerd: the user's /etc/group groups are merged even when a group is named (primary first)
    expect(build({}, image({ Cmd: ['sh'], User: 'alice:video' })).process.user).toEqual({ uid: 1000, gid: 44, additionalGids: [44, 50] });
    expect(build({}, image({ Cmd: ['sh'], User: '1001:staff' })).process.user).toEqual({ uid: 1001, gid: 50, additionalGids: [50] });
    expect(build({}, image({ Cmd: ['sh'], User: 'bob' })).process.user).toEqual({ uid: 1001, gid: 1001, additionalGids: [1001, 50] });
    expect(build({}, image({ Cmd: ['sh'], User: '1000:7' })).process.user).toEqual({ uid: 1000, gid: 7, additionalGids: [7, 50, 44] });
    expect(build({}, image({ Cmd: ['sh'], User: '4242:4343' })).process.user).toEqual({ uid: 4242, gid: 4343, additionalGids: [4343] });
  });
  it('a numeric uid not in passwd gets gid 0', () => {
    expect(build(sc({ run_as_user: { value: 5000 } })).process.user).toEqual({ uid: 5000, gid: 0, additionalGids: [0] });
  });
  it('unknown user or group names are errors naming the field', () => {
    expect(issuesOf(() => build(sc({ run_as_username: 'mallory' })))).toEqual([
      { path: 'config.linux.securityContext.runAsUsername', code: 'user_not_found', message: 'user "mallory" is not in the image\'s /etc/passwd' },
    ]);
    expect(issuesOf(() => build({}, image({ Cmd: ['sh'], User: 'alice:nogroup' })))[0]).toMatchObject({ path: 'image.config.User', code: 'group_not_found' });
    expect(issuesOf(() => build({}, image({ Cmd: ['sh'], User: 'nobody' })))).toEqual([
      { path: 'image.config.User', code: 'user_not_found', message: 'user "nobody" is not in the image\'s /etc/passwd' },
    ]);
    // numeric-looking but not a decimal uid: a name, and no such name (never a fallback to root)
    for (const user of ['0x0', '+0', '1e3', ' 0']) expect(issuesOf(() => build({}, image({ Cmd: ['sh'], User: user })))[0]?.code).toBe('user_not_found');
    expect(issuesOf(() => build(sc({ run_as_username: 'alice' }), undefined, { userDb: {} }))[0]?.message).toContain('(the image has none)');
  });
  it('ids above 2^31-1 and malformed USER values are errors', async () => {
    expect(issuesOf(() => build({}, image({ Cmd: ['sh'], User: '4294967296' })))[0]).toMatchObject({ path: 'image.config.User', code: 'out_of_range' });
    expect(issuesOf(() => build({}, image({ Cmd: ['sh'], User: 'a:b:c' })))[0]).toMatchObject({ code: 'invalid_user' });
    expect((await validatedIssuesOf(sc({ run_as_user: { value: 2147483648 } }))).map((i) => i.code)).toContain('out_of_range');
    expect((await validatedIssuesOf(sc({ run_as_user: { value: 0 }, supplemental_groups: [2147483648] })))[0]).toMatchObject({ path: 'config.linux.securityContext.supplementalGroups[0]', code: 'out_of_range' });
  });
  it('run_as_group without a user is an error', async () => {
    expect((await validatedIssuesOf(sc({ run_as_group: { value: 5 } })))[0]).toMatchObject({ path: 'config.linux.securityContext.runAsGroup', code: 'group_without_user' });
  });
});

describe('capabilities (§7 #23)', () => {
  it('defaults: containerd’s 14 in bounding/effective/permitted, none inheritable or ambient', () => {
    expect(build().process.capabilities).toEqual({
      bounding: [...DEFAULT_CAPABILITIES],
      effective: [...DEFAULT_CAPABILITIES],
      permitted: [...DEFAULT_CAPABILITIES],
      inheritable: [],
      ambient: [],
    });
    expect(DEFAULT_CAPABILITIES).toHaveLength(14);
  });
  it('add NET_ADMIN (any case, with or without CAP_), drop NET_RAW', () => {
    const caps = build(sc({ capabilities: { add_capabilities: ['net_admin', 'CAP_SYS_TIME'], drop_capabilities: ['NET_RAW'] } })).process.capabilities;
    const expected = [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW'), 'CAP_NET_ADMIN', 'CAP_SYS_TIME'];
    expect(caps?.bounding).toEqual(expected);
    expect(caps?.effective).toEqual(expected);
    expect(caps?.permitted).toEqual(expected);
  });
  it('add ALL, drop ALL, drop ALL + add one', () => {
    expect(build(sc({ capabilities: { add_capabilities: ['ALL'] } })).process.capabilities?.bounding).toEqual([...ALL_CAPABILITIES]);
    expect(build(sc({ capabilities: { drop_capabilities: ['ALL'] } })).process.capabilities?.bounding).toEqual([]);
    expect(build(sc({ capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['CHOWN'] } })).process.capabilities?.effective).toEqual(['CAP_CHOWN']);
    expect(build(sc({ capabilities: { add_capabilities: ['ALL'], drop_capabilities: ['ALL'] } })).process.capabilities?.permitted).toEqual([]);
    const allButRaw = build(sc({ capabilities: { add_capabilities: ['ALL'], drop_capabilities: ['net_raw'] } })).process.capabilities;
    expect(allButRaw?.bounding).toEqual(ALL_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW'));
    expect(allButRaw?.inheritable).toEqual([]);
    expect(allButRaw?.ambient).toEqual([]);
  });
  it('ambient capabilities go to every set, including inheritable', () => {
    const caps = build(sc({ capabilities: { drop_capabilities: ['ALL'], add_ambient_capabilities: ['NET_BIND_SERVICE'] } })).process.capabilities;
    expect(caps).toEqual({
      bounding: ['CAP_NET_BIND_SERVICE'],
      effective: ['CAP_NET_BIND_SERVICE'],
      permitted: ['CAP_NET_BIND_SERVICE'],
      inheritable: ['CAP_NET_BIND_SERVICE'],
      ambient: ['CAP_NET_BIND_SERVICE'],
    });
  });
  it('unknown capability names are errors naming the list entry', async () => {
    expect(await validatedIssuesOf(sc({ capabilities: { add_capabilities: ['CHOWN', 'NET_ADMN'] } }))).toEqual([
      { path: 'config.linux.securityContext.capabilities.addCapabilities[1]', code: 'unknown_capability', message: expect.stringContaining('unknown capability "NET_ADMN"') },
    ]);
  });
  it('allCapabilities (the host’s bounding set) limits ALL and privileged, not which names are known', () => {
    const reduced = ALL_CAPABILITIES.filter((c) => c !== 'CAP_SYS_RESOURCE');
    expect(build(sc({ capabilities: { add_capabilities: ['ALL'] } }), undefined, { allCapabilities: reduced }).process.capabilities?.bounding).toEqual(reduced);
    expect(build(sc({ capabilities: { add_capabilities: ['SYS_RESOURCE'] } }), undefined, { allCapabilities: reduced }).process.capabilities?.bounding).toContain('CAP_SYS_RESOURCE');
  });
});

describe('privileged', () => {
  const priv: Req = { config: { linux: { security_context: { privileged: true, seccomp: {}, masked_paths: ['/proc/kcore'] } } }, sandbox_config: { linux: { security_context: { privileged: true } } } };
  it('all capabilities, no masked/readonly paths, rw sysfs and cgroupfs, no seccomp, all devices', () => {
    const spec = build(priv);
    expect(spec.process.capabilities?.bounding).toEqual([...ALL_CAPABILITIES]);
    expect(spec.linux.maskedPaths).toBeUndefined();
    expect(spec.linux.readonlyPaths).toBeUndefined();
    expect(spec.linux.seccomp).toBeUndefined();
    expect(spec.mounts?.find((m) => m.destination === '/sys')?.options).toEqual(['nosuid', 'noexec', 'nodev', 'rw']);
    expect(spec.mounts?.find((m) => m.destination === '/sys/fs/cgroup')?.options).toEqual(['nosuid', 'noexec', 'nodev', 'relatime', 'rw']);
    expect(spec.linux.resources?.devices).toEqual([{ allow: true, access: 'rwm' }]);
  });
  it('privileged ignores AppArmor and SELinux settings and gets no cgroup namespace', () => {
    const spec = build(
      { ...priv, config: { linux: { security_context: { privileged: true, apparmor: { profile_type: 'Localhost', localhost_ref: 'p' }, selinux_options: { type: 'spc_t' } } } } },
      undefined,
      { apparmorDefaultProfile: 'lxcri-default', cgroupV2: true },
    );
    expect(spec.process.apparmorProfile).toBeUndefined();
    expect(spec.process.selinuxLabel).toBeUndefined();
    expect(spec.linux.namespaces?.map((n) => n.type)).not.toContain('cgroup');
  });
  it('a privileged container needs a privileged sandbox', async () => {
    expect((await validatedIssuesOf({ config: { linux: { security_context: { privileged: true } } } }))[0]).toEqual({
      path: 'config.linux.securityContext.privileged',
      code: 'privileged_not_allowed',
      message: 'no privileged container allowed in sandbox',
    });
  });
});

describe('masked and readonly paths (§7 #24)', () => {
  it('CRI lists verbatim; none → []', () => {
    const spec = build(sc({ masked_paths: ['/proc/kcore', '/sys/firmware'], readonly_paths: ['/proc/sys'] }));
    expect(spec.linux.maskedPaths).toEqual(['/proc/kcore', '/sys/firmware']);
    expect(spec.linux.readonlyPaths).toEqual(['/proc/sys']);
    expect(build().linux.maskedPaths).toEqual([]);
    expect(build().linux.readonlyPaths).toEqual([]);
  });
});

describe('mounts (§7 #25)', () => {
  const defaults = ['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup'];
  it('default mounts, exactly', () => {
    const spec = build();
    expect(spec.mounts?.map((m) => m.destination)).toEqual(defaults);
    expect(spec.mounts?.[0]).toEqual({ destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] });
    expect(spec.mounts?.[3]).toEqual({ destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] });
    expect(spec.mounts?.[6]).toEqual({ destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] });
  });
  it('CRI binds: rbind + propagation + ro/rw/rro, resolved host paths, sorted by depth after the defaults', () => {
    const spec = build(
      {
        config: {
          mounts: [
            { container_path: '/data/deep/er', host_path: '/h/c', readonly: true, recursive_read_only: true },
            { container_path: '/data', host_path: '/h/a' },
            { container_path: '/logs/', host_path: '/h/link', readonly: true },
          ],
        },
      },
      undefined,
      { hostPaths: { '/h/link': '/h/real' } },
    );
    expect(spec.mounts?.slice(7)).toEqual([
      { destination: '/data', type: 'bind', source: '/h/a', options: ['rbind', 'rprivate', 'rw'] },
      { destination: '/logs', type: 'bind', source: '/h/real', options: ['rbind', 'rprivate', 'ro'] },
      { destination: '/data/deep/er', type: 'bind', source: '/h/c', options: ['rbind', 'rprivate', 'rro'] },
    ]);
    expect(spec.linux.rootfsPropagation).toBeUndefined();
  });
  it('HOST_TO_CONTAINER → rslave + rootfsPropagation "slave"; BIDIRECTIONAL → rshared + "shared" (schema enum)', () => {
    const slave = build({ config: { mounts: [{ container_path: '/m', host_path: '/h', propagation: 'PROPAGATION_HOST_TO_CONTAINER' }] } });
    expect(slave.mounts?.at(-1)?.options).toEqual(['rbind', 'rslave', 'rw']);
    expect(slave.linux.rootfsPropagation).toBe('slave');
    const shared = build({
      config: {
        mounts: [
          { container_path: '/s', host_path: '/h1', propagation: 'PROPAGATION_BIDIRECTIONAL' },
          { container_path: '/t', host_path: '/h2', propagation: 1 },
        ],
      },
    });
    expect(shared.mounts?.at(-2)?.options).toEqual(['rbind', 'rshared', 'rw']);
    expect(shared.linux.rootfsPropagation).toBe('shared');
  });
  it('a CRI mount replaces the default at the same destination; /dev replaces all /dev/* defaults', () => {
    const shm = build({ config: { mounts: [{ container_path: '/dev/shm', host_path: '/run/shm-1' }] } });
    expect(shm.mounts?.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/mqueue', '/sys', '/sys/fs/cgroup', '/dev/shm']);
    expect(shm.mounts?.at(-1)?.source).toBe('/run/shm-1');
    const dev = build({ config: { mounts: [{ container_path: '/dev', host_path: '/dev' }] } });
    expect(dev.mounts?.map((m) => m.destination)).toEqual(['/proc', '/sys', '/sys/fs/cgroup', '/dev']);
    const cg = build({ config: { mounts: [{ container_path: '/sys/fs/cgroup/', host_path: '/sys/fs/cgroup', readonly: true }] } });
    expect(cg.mounts?.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys', '/sys/fs/cgroup']);
    expect(cg.mounts?.at(-1)).toEqual({ destination: '/sys/fs/cgroup', type: 'bind', source: '/sys/fs/cgroup', options: ['rbind', 'rprivate', 'ro'] });
    const sys = build({ config: { mounts: [{ container_path: '/sys', host_path: '/sys', readonly: true }] } });
    expect(sys.mounts?.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/dev/shm', '/dev/mqueue', '/sys']);
  });
  it('rejects rro with rw or non-private propagation, duplicates, relative paths (validation) and image volumes (spec building)', async () => {
    const issues = await validatedIssuesOf(
      {
        config: {
          mounts: [
            { container_path: '/a', host_path: '/h', recursive_read_only: true },
            { container_path: '/b', host_path: '/h', readonly: true, recursive_read_only: true, propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
            { container_path: '/c', host_path: '/h' },
            { container_path: '/c/', host_path: '/h' },
            { container_path: 'rel', host_path: '/h' },
          ],
        },
      },
      undefined,
      {},
      { recursiveReadOnlyMounts: true },
    );
    expect(issues.map((i) => [i.path, i.code])).toEqual([
      ['config.mounts[0].recursiveReadOnly', 'invalid_rro'],
      ['config.mounts[1].propagation', 'invalid_rro'],
      ['config.mounts[3].containerPath', 'duplicate_mount'],
      ['config.mounts[4].containerPath', 'invalid_path'],
    ]);
    const image = await validatedIssuesOf({ config: { mounts: [{ container_path: '/c', host_path: '/h' }, { container_path: '/img', image: { image: 'x' }, readonly: true }] } });
    expect(image.map((i) => [i.path, i.code])).toEqual([['config.mounts[1].image', 'unsupported']]);
  });
});

describe('resources (§7 #26)', () => {
  it('copies cpu, cpuset, memory (swap = limit when unset), hugepages, unified; oomScoreAdj', () => {
    const spec = build({
      config: {
        linux: {
          resources: {
            cpu_period: 100000,
            cpu_quota: 200000,
            cpu_shares: 300,
            cpuset_cpus: '0-1',
            cpuset_mems: '0',
            memory_limit_in_bytes: 400 * 1024 * 1024,
            oom_score_adj: 500,
            hugepage_limits: [{ page_size: '2MB', limit: 4194304 }],
            unified: { 'memory.high': '300M', 'cpu.weight': '50' },
          },
        },
      },
    });
    expect(spec.linux.resources).toEqual({
      devices: [{ allow: false, access: 'rwm' }],
      cpu: { shares: 300, quota: 200000, period: 100000, cpus: '0-1', mems: '0' },
      memory: { limit: 419430400, swap: 419430400 },
      hugepageLimits: [{ pageSize: '2MB', limit: 4194304 }],
      unified: { 'cpu.weight': '50', 'memory.high': '300M' },
    });
    expect(spec.process.oomScoreAdj).toBe(500);
  });
  it('explicit swap; no swap controller; oomScoreAdj 0 only when resources are present', () => {
    expect(build({ config: { linux: { resources: { memory_limit_in_bytes: 100, memory_swap_limit_in_bytes: 300 } } } }).linux.resources?.memory).toEqual({ limit: 100, swap: 300 });
    expect(build({ config: { linux: { resources: { memory_limit_in_bytes: 100 } } } }, undefined, { swapController: false }).linux.resources?.memory).toEqual({ limit: 100 });
    expect(build({ config: { linux: { resources: {} } } }).process.oomScoreAdj).toBe(0);
    expect(build().process.oomScoreAdj).toBeUndefined();
    expect(build().linux.resources).toEqual({ devices: [{ allow: false, access: 'rwm' }] });
  });
  it('bad hugepage sizes (validation) and a missing hugetlb controller (spec options) are errors', async () => {
    const r = { config: { linux: { resources: { hugepage_limits: [{ page_size: '64kB', limit: 1 }] } } } };
    expect((await validatedIssuesOf(r))[0]).toMatchObject({ path: 'config.linux.resources.hugepageLimits[0].pageSize', code: 'invalid_hugepage_size' });
    expect(issuesOf(() => build({ config: { linux: { resources: { hugepage_limits: [{ page_size: '2MB', limit: 1 }] } } } }, undefined, { hugetlbController: false }))[0]?.code).toBe('unsupported');
    expect((await validatedIssuesOf({ config: { linux: { resources: { oom_score_adj: 1001 } } } }))[0]).toMatchObject({ path: 'config.linux.resources.oomScoreAdj', code: 'out_of_range' });
  });
});

describe('root, noNewPrivileges, terminal (§7 #27)', () => {
  it('readonly_rootfs → root.readonly; no_new_privs → noNewPrivileges; tty → terminal', () => {
    const spec = build({ config: { tty: true, linux: { security_context: { readonly_rootfs: true, no_new_privs: true } } } });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.process.noNewPrivileges).toBe(true);
    expect(spec.process.terminal).toBe(true);
    const plain = build();
    expect(plain.root).toEqual({ path: 'rootfs' });
    expect(plain.process.noNewPrivileges).toBe(false);
    expect(plain.process.terminal).toBeUndefined();
  });
});

describe('seccomp (§7 #28)', () => {
  it('nil → none; {} → the RuntimeDefault allow-list; Unconfined → none', () => {
    expect(build().linux.seccomp).toBeUndefined();
    expect(build(sc({ seccomp: {} })).linux.seccomp).toEqual(defaultSeccompProfile('x64'));
    expect(defaultSeccompProfile('x64')).toMatchObject({ defaultAction: 'SCMP_ACT_ERRNO', architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'] });
    expect(build(sc({ seccomp: { profile_type: 'Unconfined' } })).linux.seccomp).toBeUndefined();
  });
  it('Localhost → the profile content; missing → NotFound issue', () => {
    const profile = { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' }] };
    expect(build(sc({ seccomp: { profile_type: 'Localhost', localhost_ref: '/p.json' } }), undefined, { seccompProfiles: { '/p.json': profile } }).linux.seccomp).toEqual(profile);
    expect(issuesOf(() => build(sc({ seccomp: { profile_type: 'Localhost', localhost_ref: '/none.json' } }))).map((i) => i.code)).toEqual(['profile_not_found']);
    expect(issuesOf(() => build(sc({ seccomp: { profile_type: 'Localhost', localhost_ref: '/p.json' } }), undefined, { seccompProfiles: { '/p.json': { syscalls: 'x' } } }))[0]?.code).toBe('invalid_profile');
  });
  it('deprecated seccomp_profile_path forms', async () => {
    expect(build(sc({ seccomp_profile_path: 'runtime/default' })).linux.seccomp).toEqual(defaultSeccompProfile('x64'));
    expect(build(sc({ seccomp_profile_path: 'unconfined' })).linux.seccomp).toBeUndefined();
    expect((await validatedIssuesOf(sc({ seccomp_profile_path: 'bogus' })))[0]).toMatchObject({ path: 'config.linux.securityContext.seccompProfilePath', code: 'invalid_profile' });
  });
  it('localhostRef with a non-Localhost type is an error', async () => {
    expect((await validatedIssuesOf(sc({ seccomp: { profile_type: 'RuntimeDefault', localhost_ref: '/x' } })))[0]).toMatchObject({
      path: 'config.linux.securityContext.seccomp.localhostRef',
      code: 'invalid_profile',
      message: expect.stringContaining('LocalhostRef must only be set if ProfileType is Localhost'),
    });
  });
});

describe('AppArmor and SELinux', () => {
  it('AppArmor: Localhost → its name; RuntimeDefault → the configured default (none by default); Unconfined → none', () => {
    expect(build(sc({ apparmor: { profile_type: 'Localhost', localhost_ref: 'my-prof' } })).process.apparmorProfile).toBe('my-prof');
    expect(build().process.apparmorProfile).toBeUndefined();
    expect(build({}, undefined, { apparmorDefaultProfile: 'lxcri-default' }).process.apparmorProfile).toBe('lxcri-default');
    expect(build(sc({ apparmor: { profile_type: 'Unconfined' } }), undefined, { apparmorDefaultProfile: 'lxcri-default' }).process.apparmorProfile).toBeUndefined();
    expect(build(sc({ apparmor_profile: 'localhost/old' })).process.apparmorProfile).toBe('old');
  });
  it('SELinux labels from the container (else pod) options; bad level is an error', async () => {
    const spec = build(sc({ selinux_options: { type: 'spc_t', level: 's0:c1,c2' } }));
    expect(spec.process.selinuxLabel).toBe('system_u:system_r:spc_t:s0:c1,c2');
    expect(spec.linux.mountLabel).toBe('system_u:object_r:container_file_t:s0:c1,c2');
    expect((await validatedIssuesOf(sc({ selinux_options: { level: 's0,c4,c5' } })))[0]).toMatchObject({ path: 'config.linux.securityContext.selinuxOptions.level', code: 'invalid_selinux_level' });
    expect((await validatedIssuesOf({ sandbox_config: { linux: { security_context: { selinux_options: { level: 'x' } } } } }))[0]).toMatchObject({
      path: 'sandboxConfig.linux.securityContext.selinuxOptions.level',
      code: 'invalid_selinux_level',
    });
  });
});

describe('namespaces and hostname (§7 #29)', () => {
  const sandbox = { id: 'sandbox-1', namespacePaths: { network: '/proc/42/ns/net', ipc: '/proc/42/ns/ipc', uts: '/proc/42/ns/uts', pid: '/proc/42/ns/pid' } };
  it('joins the sandbox network/ipc/uts and pod pid namespaces; no hostname when UTS is shared', () => {
    const spec = build({}, undefined, { sandbox });
    expect(spec.linux.namespaces).toEqual([
      { type: 'pid', path: '/proc/42/ns/pid' },
      { type: 'network', path: '/proc/42/ns/net' },
      { type: 'ipc', path: '/proc/42/ns/ipc' },
      { type: 'uts', path: '/proc/42/ns/uts' },
      { type: 'mount' },
    ]);
    expect(spec.hostname).toBeUndefined();
  });
  it('accepts a whole SandboxRecord as the sandbox option', () => {
    const record = { id: 'sandbox-1', state: 'SANDBOX_READY', runtimeHandler: '', createdAt: 1, config: {}, metadata: {}, namespacePaths: { network: '/proc/5/ns/net' } };
    expect(build({}, undefined, { sandbox: record }).linux.namespaces).toContainEqual({ type: 'network', path: '/proc/5/ns/net' });
  });
  it('without sandbox paths: new namespaces and the pod hostname', () => {
    const spec = build();
    expect(spec.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }]);
    expect(spec.hostname).toBe('pod-host');
  });
  it('pid CONTAINER → new; NODE → host; TARGET → the target’s namespace', () => {
    const ns = (mode: string, opts: Partial<BuildRuntimeSpecOptions> = {}): unknown =>
      build(sc({ namespace_options: { pid: mode, target_id: 'other' } }), undefined, { sandbox, ...opts }).linux.namespaces?.find((n) => n.type === 'pid');
    expect(ns('CONTAINER')).toEqual({ type: 'pid' });
    expect(ns('NODE')).toBeUndefined();
    expect(ns('TARGET', { targetPidNamespacePath: '/proc/77/ns/pid' })).toEqual({ type: 'pid', path: '/proc/77/ns/pid' });
    expect(issuesOf(() => ns('TARGET'))[0]).toMatchObject({ path: 'config.linux.securityContext.namespaceOptions.targetId', code: 'target_not_found' });
  });
  it('host network → no network and no UTS namespace, no hostname; host IPC → no ipc', () => {
    const spec = build({ sandbox_config: { linux: { security_context: { namespace_options: { network: 'NODE', ipc: 'NODE' } } } } });
    expect(spec.linux.namespaces).toEqual([{ type: 'pid' }, { type: 'mount' }]);
    expect(spec.hostname).toBeUndefined();
  });
  it('network and IPC follow the pod: a container asking for NODE in a non-host pod still joins the sandbox', () => {
    const spec = build(sc({ namespace_options: { network: 'NODE', ipc: 2 } }), undefined, { sandbox });
    expect(spec.linux.namespaces).toEqual([
      { type: 'pid', path: '/proc/42/ns/pid' },
      { type: 'network', path: '/proc/42/ns/net' },
      { type: 'ipc', path: '/proc/42/ns/ipc' },
      { type: 'uts', path: '/proc/42/ns/uts' },
      { type: 'mount' },
    ]);
    // and the other way round: a host-network pod's container gets the host network whatever it says
    const host = build({ config: { linux: { security_context: { namespace_options: { network: 'POD', ipc: 'POD' } } } }, sandbox_config: { linux: { security_context: { namespace_options: { network: 'NODE', ipc: 'NODE' } } } } });
    expect(host.linux.namespaces?.map((n) => n.type)).toEqual(['pid', 'mount']);
  });
  it('a user namespace only with POD mappings; NODE with mappings or POD without them is an error', async () => {
    const userns = { mode: 'POD', uids: [{ host_id: 100000, container_id: 0, length: 65536 }], gids: [{ host_id: 100000, container_id: 0, length: 65536 }] };
    const spec = build({
      config: { linux: { security_context: { namespace_options: { userns_options: userns } } } },
      sandbox_config: { linux: { security_context: { namespace_options: { userns_options: userns } } } },
    });
    expect(spec.linux.namespaces?.at(-1)).toEqual({ type: 'user' });
    expect(spec.linux.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(spec.linux.gidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
    expect(build(sc({ namespace_options: { userns_options: { mode: 'NODE' } } })).linux.uidMappings).toBeUndefined();
    expect((await validatedIssuesOf(sc({ namespace_options: { userns_options: { mode: 'POD', uids: userns.uids } } })))[0]?.message).toContain('without UID and GID mappings');
    expect((await validatedIssuesOf(sc({ namespace_options: { userns_options: { ...userns, mode: 'NODE' } } })))[0]?.message).toContain('"NODE" with mappings');
  });
  it('a container cannot leave or change the pod\'s user namespace (§7 #12); without its own options it joins the pod\'s', async () => {
    const userns = { mode: 'POD', uids: [{ host_id: 100000, container_id: 0, length: 65536 }], gids: [{ host_id: 100000, container_id: 0, length: 65536 }] };
    const pod = { linux: { security_context: { namespace_options: { userns_options: userns } } } };
    expect(await validatedIssuesOf({ config: { linux: { security_context: { namespace_options: { userns_options: { mode: 'NODE' } } } } }, sandbox_config: pod })).toEqual([
      { path: 'config.linux.securityContext.namespaceOptions.usernsOptions', code: 'userns_mismatch', message: expect.stringContaining('user namespace config for sandbox is different from container') },
    ]);
    const other = { ...userns, uids: [{ host_id: 200000, container_id: 0, length: 65536 }] };
    expect((await validatedIssuesOf({ config: { linux: { security_context: { namespace_options: { userns_options: other } } } }, sandbox_config: pod }))[0]?.code).toBe('userns_mismatch');
    const inherited = build({ sandbox_config: pod });
    expect(inherited.linux.namespaces?.at(-1)).toEqual({ type: 'user' });
    expect(inherited.linux.uidMappings).toEqual([{ containerID: 0, hostID: 100000, size: 65536 }]);
  });
  it('cgroup namespace on cgroup v2 for non-privileged containers', () => {
    expect(build({}, undefined, { cgroupV2: true }).linux.namespaces?.at(-1)).toEqual({ type: 'cgroup' });
  });
});

describe('sysctls', () => {
  it('namespaced sysctls are applied; host-namespace and non-namespaced ones are errors', async () => {
    expect(build({ sandbox_config: { linux: { sysctls: { 'net.ipv4.ip_forward': '1', 'kernel.shm_rmid_forced': '1' } } } }).linux.sysctl).toEqual({
      'kernel.shm_rmid_forced': '1',
      'net.ipv4.ip_forward': '1',
    });
    expect((await validatedIssuesOf({ sandbox_config: { linux: { sysctls: { 'kernel.core_pattern': '|/x' } } } }))[0]).toMatchObject({
      path: 'sandboxConfig.linux.sysctls["kernel.core_pattern"]',
      code: 'invalid_sysctl',
    });
    expect((await validatedIssuesOf({ sandbox_config: { linux: { sysctls: { 'net.core.somaxconn': '1' }, security_context: { namespace_options: { network: 'NODE' } } } } }))[0]?.message).toContain(
      'host network',
    );
    expect((await validatedIssuesOf({ sandbox_config: { linux: { sysctls: { 'net.x': '1\nkernel.core_pattern=|/evil' } } } }))[0]?.code).toBe('invalid_sysctl');
    // "/" form (accepted by the CRI validation) is written in "." form, swapping "." and "/" like the kubelet
    expect(build({ sandbox_config: { linux: { sysctls: { 'net/ipv4/conf/eth0.100/forwarding': '1', 'kernel/shm_rmid_forced': '1' } } } }).linux.sysctl).toEqual({
      'kernel.shm_rmid_forced': '1',
      'net.ipv4.conf.eth0/100.forwarding': '1',
    });
    expect((await validatedIssuesOf({ sandbox_config: { linux: { sysctls: { 'kernel/core_pattern': '|/x' } } } }))[0]).toMatchObject({ code: 'invalid_sysctl', message: expect.stringContaining('"kernel/core_pattern" is not allowed') });
    expect((await validatedIssuesOf({ sandbox_config: { linux: { sysctls: { 'net.a=b': '1' } } } }))[0]).toMatchObject({
      path: 'sandboxConfig.linux.sysctls["net.a=b"]',
      code: 'invalid_sysctl',
      message: expect.stringContaining('"="'),
    });
    expect((await validatedIssuesOf({ sandbox_config: { linux: { sysctls: { 'net.ipv4.ip_forward': '1', 'net/ipv4/ip_forward': '0' } } } }))[0]).toMatchObject({
      path: 'sandboxConfig.linux.sysctls["net/ipv4/ip_forward"]',
      code: 'duplicate',
    });
  });
});

describe('devices', () => {
  it('a CRI device becomes a linux.devices entry and a cgroup allow rule', () => {
    const spec = build({ config: { devices: [{ container_path: '/dev/fuse0', host_path: '/dev/fuse', permissions: 'rw' }] } }, undefined, {
      devices: { '/dev/fuse': { type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 } },
    });
    expect(spec.linux.devices).toEqual([{ type: 'c', path: '/dev/fuse0', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }]);
    expect(spec.linux.resources?.devices).toEqual([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rw' }]);
    expect(issuesOf(() => build({ config: { devices: [{ container_path: '/dev/x', host_path: '/dev/x' }] } }))[0]).toMatchObject({ path: 'config.devices[0].hostPath', code: 'not_a_device' });
  });
});

describe('annotations (§7 #30) and cgroupsPath (§7 #31)', () => {
  it('io.kubernetes.cri.* annotations only (CRI annotations are not copied)', () => {
    const spec = build({ config: { annotations: { 'secret.example/x': 'no' }, image: { image: 'sha256:abc', user_specified_image: 'busybox:1.36' } } });
    expect(spec.annotations).toEqual({
      'io.kubernetes.cri.container-name': 'app',
      'io.kubernetes.cri.container-type': 'container',
      'io.kubernetes.cri.image-name': 'busybox:1.36',
      'io.kubernetes.cri.sandbox-id': 'sandbox-1',
      'io.kubernetes.cri.sandbox-name': 'pod',
      'io.kubernetes.cri.sandbox-namespace': 'default',
      'io.kubernetes.cri.sandbox-uid': 'pod-uid',
    });
  });
  it('cgroupfs <parent>/<id>, systemd <slice>:<prefix>:<id>, none without a parent', () => {
    expect(build({ sandbox_config: { linux: { cgroup_parent: '/kubepods/burstable/pod1' } } }).linux.cgroupsPath).toBe('/kubepods/burstable/pod1/c1');
    expect(build({ sandbox_config: { linux: { cgroup_parent: '/kubepods.slice/kubepods-pod1.slice' } } }).linux.cgroupsPath).toBe('kubepods-pod1.slice:lxcri:c1');
    expect(build().linux.cgroupsPath).toBeUndefined();
    expect(build({}, undefined, { defaultCgroupParent: '/lxcri' }).linux.cgroupsPath).toBe('/lxcri/c1');
  });
});

describe('determinism and the prose MUSTs (§7 #32)', () => {
  it('the same input gives the same JSON; output parses with the strict zod schema', () => {
    const r = { config: { command: ['sh'], envs: [{ key: 'A', value: '1' }], mounts: [{ container_path: '/m', host_path: '/h' }] } };
    const a = JSON.stringify(build(r));
    expect(JSON.stringify(build(r))).toBe(a);
    const spec = build(r);
    expect(ociRuntimeSpecSchema.parse(spec)).toEqual(spec);
    expect(spec.process.cwd.startsWith('/')).toBe(true);
    expect(spec.process.args.length).toBeGreaterThan(0);
    expect(spec.ociVersion).toBe('1.0.2');
  });
  it('rejects bad options with InvalidOptionsError', () => {
    expect(() => buildRuntimeSpec(request(), image({ Cmd: ['sh'] }), { containerId: '../x' })).toThrow(/containerId/);
    expect(() => buildRuntimeSpec(request(), image({ Cmd: ['sh'] }), { containerId: 'c', bogus: 1 } as unknown as BuildRuntimeSpecOptions)).toThrow(/bogus/);
  });
});

describe("crictl's own files, end to end (container-config-full.json in the privileged host-network pod-config-hostnet.json)", () => {
  const read = (name: string): Record<string, unknown> => JSON.parse(readFileSync(new URL(`../../../fixtures/cri/${name}`, import.meta.url), 'utf8')) as Record<string, unknown>;
  it('maps every field exactly', () => {
    const req = normalizeCreateContainerRequest({ pod_sandbox_id: 'sb-priv', config: read('container-config-full.json'), sandbox_config: read('pod-config-hostnet.json') });
    const spec = buildRuntimeSpec(req, image({ Entrypoint: ['/ignored'], Cmd: ['ignored'], Env: ['PATH=/bin:/usr/bin'] }), {
      ...BASE_OPTIONS,
      hostPaths: { '/var/lib/example/data': '/var/lib/example/data', '/var/cache/example': '/srv/cache-real' },
      devices: { '/dev/fuse': { type: 'c', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 } },
    });
    expect(spec.process).toEqual({
      terminal: true,
      user: { uid: 1000, gid: 1000, additionalGids: [1000, 1234, 5678, 50, 44] },
      args: ['sh', '-c', 'echo hello && sleep 3600'],
      env: ['PATH=/bin:/usr/bin', 'TERM=xterm', 'HOSTNAME=node-1', 'GREETING=hello world', 'EMPTY='],
      cwd: '/srv',
      capabilities: {
        bounding: [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW' && c !== 'CAP_MKNOD'), 'CAP_NET_ADMIN'],
        effective: [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW' && c !== 'CAP_MKNOD'), 'CAP_NET_ADMIN'],
        permitted: [...DEFAULT_CAPABILITIES.filter((c) => c !== 'CAP_NET_RAW' && c !== 'CAP_MKNOD'), 'CAP_NET_ADMIN'],
        inheritable: [],
        ambient: [],
      },
      noNewPrivileges: true,
      oomScoreAdj: 100,
      selinuxLabel: 'system_u:system_r:container_t:s0:c1,c2',
    });
    expect(spec.root).toEqual({ path: 'rootfs', readonly: true });
    expect(spec.hostname).toBeUndefined();
    expect(spec.mounts?.slice(7)).toEqual([
      { destination: '/data', type: 'bind', source: '/var/lib/example/data', options: ['rbind', 'rslave', 'ro'] },
      { destination: '/cache', type: 'bind', source: '/srv/cache-real', options: ['rbind', 'rprivate', 'rw'] },
    ]);
    expect(spec.linux).toEqual({
      // pid 1 = CONTAINER; network 2 = NODE in the pod (no net, no uts); ipc 0 = POD
      namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'mount' }],
      devices: [{ type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 }],
      resources: {
        devices: [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' }],
        cpu: { shares: 512, quota: 50000, period: 100000, cpus: '0-1' },
        memory: { limit: 268435456, swap: 268435456 },
        hugepageLimits: [{ pageSize: '2MB', limit: 0 }],
        unified: { 'memory.high': '200M' },
      },
      cgroupsPath: '/kubepods/burstable/pod0c9b5a4e/c1',
      rootfsPropagation: 'slave',
      seccomp: defaultSeccompProfile('x64'),
      sysctl: { 'fs.mqueue.msg_max': '100', 'kernel.shm_rmid_forced': '1' },
      maskedPaths: ['/proc/kcore', '/sys/firmware'],
      readonlyPaths: ['/proc/sys'],
      mountLabel: 'system_u:object_r:container_file_t:s0:c1,c2',
    });
    expect(spec.annotations).toMatchObject({
      'io.kubernetes.cri.container-name': 'web',
      'io.kubernetes.cri.image-name': 'registry.k8s.io/e2e-test-images/busybox:1.29-2',
      'io.kubernetes.cri.sandbox-id': 'sb-priv',
      'io.kubernetes.cri.sandbox-namespace': 'kube-system',
    });
  });
});
