/**
 * Host checks that containerd's side-by-side run showed missing (issue #19, items 1, 2 and 4):
 * Localhost seccomp profiles are read and parsed as the spec step reads them, pod sysctls must
 * exist under /proc/sys with a value of the kernel's shape, and AppArmor profiles other than
 * Unconfined are refused on a host without AppArmor.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CriValidationError } from '../../../src/errors.js';
import type { CriValidationIssue } from '../../../src/errors.js';
import { createLinuxHostInspector } from '../../../src/cri/host-inspector.js';
import type { HostInspector } from '../../../src/cri/host-inspector.js';
import { normalizeCreateContainerRequest } from '../../../src/cri/normalize.js';
import { validateCreateContainerRequest } from '../../../src/cri/validate.js';
import { buildRuntimeSpec } from '../../../src/oci/spec/build.js';
import { collectSpecInputs } from '../../../src/oci/spec/collect.js';
import { baseRequest, fixture, makeWorld, SB_PRIVILEGED } from './world.js';

const SC = 'config.linux.securityContext';
const tmp = mkdtempSync(join(tmpdir(), 'lxcri-host-checks-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const noAppArmor = join(tmp, 'no-apparmor', 'profiles');
mkdirSync(join(tmp, 'apparmor'));
const appArmorProfiles = join(tmp, 'apparmor', 'profiles');
writeFileSync(appArmorProfiles, 'k8s-nginx (enforce)\ncri-containerd.apparmor.d (enforce)\n');

/** Validates with the real Linux host inspector (options as given); returns the issues, [] when valid. */
async function hostIssues(request: unknown, options: Parameters<typeof createLinuxHostInspector>[0] = {}): Promise<CriValidationIssue[]> {
  try {
    await validateCreateContainerRequest(request, { ...makeWorld(), host: createLinuxHostInspector(options) });
    return [];
  } catch (error) {
    if (error instanceof CriValidationError) return [...error.issues];
    throw error;
  }
}

async function statusOf(request: unknown, options: Parameters<typeof createLinuxHostInspector>[0] = {}): Promise<string | undefined> {
  try {
    await validateCreateContainerRequest(request, { ...makeWorld(), host: createLinuxHostInspector(options) });
    return undefined;
  } catch (error) {
    if (error instanceof CriValidationError) return error.grpcStatus;
    throw error;
  }
}

function withSecurity(sc: Record<string, unknown>): ReturnType<typeof baseRequest> {
  const r = baseRequest();
  r.config.linux = { securityContext: sc };
  return r;
}

function withSysctls(sysctls: Record<string, string>): ReturnType<typeof baseRequest> {
  const r = baseRequest();
  r.sandboxConfig = { ...r.sandboxConfig, linux: { sysctls } };
  return r;
}

// ---- item 1: Localhost seccomp profiles

const profiles = {
  missing: join(tmp, 'absent.json'),
  notJson: join(tmp, 'not-json.json'),
  directory: join(tmp, 'profile-dir'),
  notAProfile: join(tmp, 'not-a-profile.json'),
  good: join(tmp, 'good.json'),
};
writeFileSync(profiles.notJson, '{ "defaultAction": ');
mkdirSync(profiles.directory);
writeFileSync(profiles.notAProfile, JSON.stringify({ defaultAction: 'SCMP_ACT_NOPE' }));
writeFileSync(profiles.good, JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read', 'write', 'exit_group'], action: 'SCMP_ACT_ALLOW' }] }));

/** What the spec step (collectSpecInputs, then buildRuntimeSpec) reports for the request's seccomp profile. */
async function specStepSeccompIssue(input: unknown): Promise<CriValidationIssue | undefined> {
  const request = normalizeCreateContainerRequest(input);
  const rootfs = mkdtempSync(join(tmp, 'rootfs-'));
  try {
    const inputs = await collectSpecInputs(request, { rootfs });
    buildRuntimeSpec(request, undefined, { containerId: 'c1', ...inputs });
    return undefined;
  } catch (error) {
    if (error instanceof CriValidationError) return error.issues.find((i) => i.path.includes('seccomp'));
    throw error;
  }
}

describe('Localhost seccomp profiles (issue #19 item 1)', () => {
  const cases: { name: string; file: string; code?: string; status?: string; message?: RegExp }[] = [
    { name: 'missing file', file: profiles.missing, code: 'profile_not_found', status: 'NotFound', message: /^cannot read seccomp profile .*absent\.json: ENOENT$/ },
    { name: 'not JSON', file: profiles.notJson, code: 'invalid_profile', status: 'InvalidArgument', message: /is not JSON$/ },
    { name: 'a directory', file: profiles.directory, code: 'invalid_profile', status: 'InvalidArgument', message: /: EISDIR$/ },
    { name: 'JSON that is not a seccomp profile', file: profiles.notAProfile, code: 'invalid_profile', status: 'InvalidArgument', message: /is not a valid OCI seccomp config: defaultAction/ },
    { name: 'a valid profile', file: profiles.good },
  ];

  for (const c of cases) {
    it(`${c.name}: the same outcome as the spec step, through seccomp and the deprecated seccomp_profile_path`, async () => {
      for (const [sc, path] of [
        [{ seccomp: { profileType: 'Localhost', localhostRef: c.file } }, `${SC}.seccomp.localhostRef`],
        [{ seccompProfilePath: `localhost/${c.file}` }, `${SC}.seccompProfilePath`],
      ] as const) {
        const request = withSecurity(sc);
        const issues = await hostIssues(request);
        const spec = await specStepSeccompIssue(request);
        if (c.code === undefined) {
          expect(issues).toEqual([]);
          expect(spec).toBeUndefined();
          continue;
        }
        expect(issues).toEqual([{ path, code: c.code, message: expect.stringMatching(c.message as RegExp), grpcStatus: c.status }]);
        expect(issues[0]).toEqual(spec);
      }
    });
  }

  it('is checked for privileged containers too, as the spec step reads the profile for them', async () => {
    const request = { pod_sandbox_id: SB_PRIVILEGED, sandbox_config: fixture('pod-config-hostnet.json'), config: { ...fixture('container-config.json'), linux: { security_context: { privileged: true, seccomp: { profile_type: 'Localhost', localhost_ref: profiles.missing } } } } };
    expect((await hostIssues(request)).map((i) => i.code)).toEqual(['profile_not_found']);
  });

  it('is not read without host checks', async () => {
    await expect(validateCreateContainerRequest(withSecurity({ seccomp: { profileType: 'Localhost', localhostRef: profiles.missing } }), makeWorld())).resolves.toBeDefined();
  });
});

// ---- item 2: pod sysctls

describe('pod sysctls against /proc/sys (issue #19 item 2)', () => {
  it('refuses a name the kernel does not have, FailedPrecondition (the host lacks it)', async () => {
    const issues = await hostIssues(withSysctls({ 'net.ipv4.no_such_sysctl': '1' }));
    expect(issues).toEqual([
      {
        path: 'sandboxConfig.linux.sysctls["net.ipv4.no_such_sysctl"]',
        code: 'sysctl_not_found',
        message: 'sysctl "net.ipv4.no_such_sysctl" does not exist on this host: there is no /proc/sys/net/ipv4/no_such_sysctl',
        grpcStatus: 'FailedPrecondition',
      },
    ]);
    expect(await statusOf(withSysctls({ 'net.ipv4.no_such_sysctl': '1' }))).toBe('FailedPrecondition');
  });

  it('refuses a value that is not a number where the kernel takes numbers (kernel.msgmax=abc)', async () => {
    const issues = await hostIssues(withSysctls({ 'kernel.msgmax': 'abc' }));
    expect(issues).toEqual([
      expect.objectContaining({ path: 'sandboxConfig.linux.sysctls["kernel.msgmax"]', code: 'invalid_sysctl', grpcStatus: 'InvalidArgument', message: expect.stringMatching(/the kernel takes an integer for this sysctl/) }),
    ]);
    expect(await statusOf(withSysctls({ 'kernel.msgmax': 'abc' }))).toBe('InvalidArgument');
  });

  it('accepts what the kernel takes on this host: integers, hex, several integers, strings', async () => {
    const ok = { 'kernel.msgmax': '16384', 'kernel.shmmni': ' 0x1000 ', 'net.ipv4.ip_local_port_range': '32768\t60999', 'net/ipv4/ping_group_range': '0 2147483647', 'net.ipv4.tcp_congestion_control': 'cubic' };
    expect(await hostIssues(withSysctls(ok))).toEqual([]);
  });

  it('refuses more integers than the kernel shows, decimals and empty values', async () => {
    const issues = await hostIssues(withSysctls({ 'net.ipv4.ip_local_port_range': '1 2 3', 'kernel.msgmnb': '1.5', 'kernel.msgmni': '' }));
    expect(issues.map((i) => [i.path, i.code])).toEqual([
      ['sandboxConfig.linux.sysctls["net.ipv4.ip_local_port_range"]', 'invalid_sysctl'],
      ['sandboxConfig.linux.sysctls["kernel.msgmnb"]', 'invalid_sysctl'],
      ['sandboxConfig.linux.sysctls["kernel.msgmni"]', 'invalid_sysctl'],
    ]);
    expect(issues[0]?.message).toMatch(/up to 2 integers separated by spaces/);
  });

  it('reads the "/" form and the dotted form with an interface name like the kubelet (a fake /proc/sys)', async () => {
    const procSys = join(tmp, 'proc-sys');
    mkdirSync(join(procSys, 'net/ipv4/conf/eth0.100'), { recursive: true });
    writeFileSync(join(procSys, 'net/ipv4/conf/eth0.100/forwarding'), '0\n');
    writeFileSync(join(procSys, 'net/ipv4/ip_local_reserved_ports'), '8080\n');
    // one sysctl in both forms is refused as a duplicate, so each form goes in its own request
    expect(await hostIssues(withSysctls({ 'net.ipv4.conf.eth0/100.forwarding': '1', 'net.ipv4.ip_local_reserved_ports': '8080,9000-9010' }), { procSysPath: procSys })).toEqual([]);
    expect(await hostIssues(withSysctls({ 'net/ipv4/conf/eth0.100/forwarding': '1' }), { procSysPath: procSys })).toEqual([]);
    const issues = await hostIssues(withSysctls({ 'net.ipv4.conf.eth0/100.forwarding': 'yes', 'net.ipv4.conf': '1' }), { procSysPath: procSys });
    expect(issues.map((i) => i.code)).toEqual(['invalid_sysctl', 'sysctl_not_found']); // net/ipv4/conf is a directory
  });

  it('accepts any value of a sysctl it cannot read (write-only), and checks nothing already refused', async () => {
    const host: HostInspector = {
      pathKind: async () => 'missing',
      mountPropagation: async () => undefined,
      apparmorProfileLoaded: async () => undefined,
      sysctl: async (path) => (path === 'net/ipv4/route/flush' ? { exists: true, value: undefined } : { exists: false }),
    };
    const request = withSysctls({ 'net.ipv4.route.flush': 'anything', 'kernel.core_pattern': '|/x' });
    const error = await validateCreateContainerRequest(request, { ...makeWorld(), host }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CriValidationError);
    expect((error as CriValidationError).issues.map((i) => [i.path, i.code])).toEqual([['sandboxConfig.linux.sysctls["kernel.core_pattern"]', 'invalid_sysctl']]);
  });

  it('refuses names with ".." or empty parts without looking at the host', async () => {
    const request = withSysctls({ 'net/../../self/environ': '1', 'net..ipv4': '1' });
    const error = await validateCreateContainerRequest(request, makeWorld()).catch((e: unknown) => e);
    expect((error as CriValidationError).issues.map((i) => [i.path, i.code])).toEqual([
      ['sandboxConfig.linux.sysctls["net/../../self/environ"]', 'invalid_sysctl'],
      ['sandboxConfig.linux.sysctls["net..ipv4"]', 'invalid_sysctl'],
    ]);
  });
});

// ---- item 4: AppArmor on a host without AppArmor (containerd's choice)

describe('AppArmor on a host without AppArmor (issue #19 item 4: containerd refuses, so do we)', () => {
  const unsupported = (path: string) => [expect.objectContaining({ path, code: 'unsupported', grpcStatus: 'FailedPrecondition', message: expect.stringMatching(/^apparmor is not supported/) })];

  it('refuses RuntimeDefault, Localhost and the deprecated runtime/default and localhost/ forms', async () => {
    expect(await hostIssues(withSecurity({ apparmor: {} }), { apparmorProfilesPath: noAppArmor })).toEqual(unsupported(`${SC}.apparmor`));
    expect(await hostIssues(withSecurity({ apparmor: { profileType: 'Localhost', localhostRef: 'k8s-nginx' } }), { apparmorProfilesPath: noAppArmor })).toEqual(unsupported(`${SC}.apparmor`));
    expect(await hostIssues(withSecurity({ apparmorProfile: 'runtime/default' }), { apparmorProfilesPath: noAppArmor })).toEqual(unsupported(`${SC}.apparmorProfile`));
    expect(await hostIssues(withSecurity({ apparmorProfile: 'localhost/k8s-nginx' }), { apparmorProfilesPath: noAppArmor })).toEqual(unsupported(`${SC}.apparmorProfile`));
    expect(await statusOf(withSecurity({ apparmor: {} }), { apparmorProfilesPath: noAppArmor })).toBe('FailedPrecondition');
  });

  it('refuses it for a privileged container too (containerd checks before privilege)', async () => {
    const request = { pod_sandbox_id: SB_PRIVILEGED, sandbox_config: fixture('pod-config-hostnet.json'), config: { ...fixture('container-config.json'), linux: { security_context: { privileged: true, apparmor: {} } } } };
    expect((await hostIssues(request, { apparmorProfilesPath: noAppArmor })).map((i) => i.code)).toEqual(['unsupported']);
  });

  it('accepts Unconfined and an unset profile (the runtime default, which is none there)', async () => {
    expect(await hostIssues(withSecurity({ apparmor: { profileType: 'Unconfined' } }), { apparmorProfilesPath: noAppArmor })).toEqual([]);
    expect(await hostIssues(withSecurity({ apparmorProfile: 'unconfined' }), { apparmorProfilesPath: noAppArmor })).toEqual([]);
    expect(await hostIssues(withSecurity({}), { apparmorProfilesPath: noAppArmor })).toEqual([]);
  });

  it('with AppArmor: RuntimeDefault and a loaded profile pass, an unloaded one is refused', async () => {
    expect(await hostIssues(withSecurity({ apparmor: {} }), { apparmorProfilesPath: appArmorProfiles })).toEqual([]);
    expect(await hostIssues(withSecurity({ apparmor: { profileType: 'Localhost', localhostRef: 'k8s-nginx' } }), { apparmorProfilesPath: appArmorProfiles })).toEqual([]);
    expect(await hostIssues(withSecurity({ apparmorProfile: 'localhost/other' }), { apparmorProfilesPath: appArmorProfiles })).toEqual([
      expect.objectContaining({ path: `${SC}.apparmorProfile`, code: 'apparmor_profile_not_found', message: 'apparmor profile not found other', grpcStatus: 'FailedPrecondition' }),
    ]);
  });

  it('a host double without apparmorEnabled is asked through apparmorProfileLoaded', async () => {
    const host: HostInspector = { pathKind: async () => 'missing', mountPropagation: async () => undefined, apparmorProfileLoaded: async () => undefined };
    const error = await validateCreateContainerRequest(withSecurity({ apparmor: {} }), { ...makeWorld(), host }).catch((e: unknown) => e);
    expect((error as CriValidationError).issues.map((i) => i.code)).toEqual(['unsupported']);
  });
});
