import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { FileContainerStore, FileSandboxStore } from '../../../src/index.js';
import { normalizeContainerConfig, normalizePodSandboxConfig } from '../../../src/exports/cri.js';
import { fixture, FIXTURES } from './world.js';
import { captureIo as captureIoAt, type CapturedIo } from '../../helpers/cli-io.js';

const captureIo = (cwd = FIXTURES): CapturedIo => captureIoAt(cwd);

const tmp = mkdtempSync(join(tmpdir(), 'lxcri-cli-validate-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

interface IssueJson {
  path: string;
  code: string;
  grpcStatus: string;
}
const issuesOf = (out: string): IssueJson[] => (JSON.parse(out) as { error: { details: { issues: IssueJson[] } } }).error.details.issues;

describe('lxcri validate', () => {
  it('prints the normalised request for crictl container-config.json + pod-config.json', async () => {
    const io = captureIo();
    expect(await main(['validate', 'container-config.json', '--sandbox', 'pod-config.json'], io)).toBe(0);
    const result = JSON.parse(io.out()) as { podSandboxId: string; config: { metadata: { name: string }; logPath: string }; sandboxConfig: { logDirectory: string } };
    expect(result.config.metadata.name).toBe('busybox');
    expect(result.config.logPath).toBe('busybox.0.log');
    expect(result.sandboxConfig.logDirectory).toBe('/tmp');
  });

  it('accepts a whole proto3 JSON request on its own', async () => {
    const io = captureIo();
    expect(await main(['validate', 'create-container-request.json'], io)).toBe(0);
    expect((JSON.parse(io.out()) as { config: { stopSignal: string } }).config.stopSignal).toBe('SIGQUIT');
  });

  it('prints every issue with exit 2', async () => {
    const io = captureIo();
    expect(await main(['validate', 'container-config-typo.json', '--sandbox', 'pod-config.json'], io)).toBe(2);
    expect(issuesOf(io.out()).map((i) => i.path)).toEqual(['config.comand', 'config.linux.securityContext.run_as_usr']);
    expect(io.err()).toContain('did you mean "command"?');
  });

  it('reports pod config issues under sandboxConfig', async () => {
    const pod = join(tmp, 'bad-pod.json');
    writeFileSync(pod, JSON.stringify({ metadata: { name: 'p' }, linux: { sysctls: { 'kernel.core_pattern': '|/x' } } }));
    const io = captureIo();
    expect(await main(['validate', 'container-config.json', '--sandbox', pod], io)).toBe(2);
    expect(issuesOf(io.out())).toEqual([expect.objectContaining({ path: 'sandboxConfig.linux.sysctls["kernel.core_pattern"]', code: 'invalid_sysctl' })]);
  });

  it('asks for --sandbox when given only a container config', async () => {
    const io = captureIo();
    expect(await main(['validate', 'container-config.json'], io)).toBe(2);
    expect(io.err()).toContain('give the pod with --sandbox');
  });

  it('looks sandboxes and containers up in a file store with --state-dir', async () => {
    const stateDir = join(tmp, 'state');
    const request = fixture('create-container-request.json') as { podSandboxId: string; sandboxConfig: unknown };
    let io = captureIo();
    expect(await main(['validate', 'create-container-request.json', '--state-dir', stateDir], io)).toBe(2);
    expect(issuesOf(io.out())).toEqual([expect.objectContaining({ code: 'sandbox_not_found', grpcStatus: 'NotFound' })]);

    const config = normalizePodSandboxConfig(request.sandboxConfig);
    await new FileSandboxStore({ directory: stateDir }).create({
      id: request.podSandboxId,
      metadata: config.metadata,
      config,
      state: 'SANDBOX_READY',
      runtimeHandler: '',
      namespacePaths: {},
      createdAt: Date.now(),
    });
    io = captureIo();
    expect(await main(['validate', 'create-container-request.json', '--state-dir', stateDir], io)).toBe(0);

    await new FileContainerStore({ directory: stateDir }).create({
      id: 'existing-app',
      sandboxId: request.podSandboxId,
      name: 'app',
      attempt: 0,
      config: normalizeContainerConfig({ metadata: { name: 'app' }, image: { image: 'alpine' } }),
      state: 'CONTAINER_RUNNING',
      runtime: 'crun',
      image: 'alpine',
      imageRef: '',
      createdAt: Date.now(),
      startedAt: Date.now(),
      finishedAt: 0,
      exitCode: 0,
      reason: '',
      message: '',
      runtimeData: {},
    });
    io = captureIo();
    expect(await main(['validate', 'create-container-request.json', '--state-dir', stateDir], io)).toBe(2);
    expect(issuesOf(io.out())).toEqual([expect.objectContaining({ code: 'name_reserved', grpcStatus: 'AlreadyExists' })]);
    expect((JSON.parse(io.out()) as { error: { grpcStatus: string } }).error.grpcStatus).toBe('AlreadyExists');
  });

  it('--host-checks reads Localhost seccomp profiles and checks pod sysctls on this host (issue #19)', async () => {
    const container = join(tmp, 'seccomp-container.json');
    const profile = join(tmp, 'no-such-profile.json');
    writeFileSync(container, JSON.stringify({ ...fixture('container-config.json'), linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: profile } } } }));
    const pod = join(tmp, 'sysctl-pod.json');
    writeFileSync(pod, JSON.stringify({ ...fixture('pod-config.json'), linux: { sysctls: { 'kernel.msgmax': 'abc', 'net.ipv4.no_such_sysctl': '1' } } }));

    let io = captureIo();
    expect(await main(['validate', container, '--sandbox', pod], io)).toBe(0); // without host checks: syntax only

    io = captureIo();
    expect(await main(['validate', container, '--sandbox', pod, '--host-checks'], io)).toBe(2);
    expect(issuesOf(io.out())).toEqual([
      expect.objectContaining({ path: 'config.linux.securityContext.seccomp.localhostRef', code: 'profile_not_found', grpcStatus: 'NotFound' }),
      expect.objectContaining({ path: 'sandboxConfig.linux.sysctls["kernel.msgmax"]', code: 'invalid_sysctl', grpcStatus: 'InvalidArgument' }),
      expect.objectContaining({ path: 'sandboxConfig.linux.sysctls["net.ipv4.no_such_sysctl"]', code: 'sysctl_not_found', grpcStatus: 'FailedPrecondition' }),
    ]);
    expect((JSON.parse(io.out()) as { error: { grpcStatus: string } }).error.grpcStatus).toBe('NotFound');

    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW' }));
    writeFileSync(pod, JSON.stringify({ ...fixture('pod-config.json'), linux: { sysctls: { 'kernel.msgmax': '16384' } } }));
    io = captureIo();
    expect(await main(['validate', container, '--sandbox', pod, '--host-checks'], io)).toBe(0);
  });

  it('runs as the real lxcri binary', async () => {
    const bin = fileURLToPath(new URL('../../../bin/lxcri.js', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [bin, 'validate', 'container-config-full.json', '--sandbox', 'pod-config-hostnet.json'], { cwd: FIXTURES });
    expect((JSON.parse(stdout) as { config: { linux: { securityContext: { runAsUser: unknown } } } }).config.linux.securityContext.runAsUser).toEqual({ value: 1000 });
    const failed = await promisify(execFile)(process.execPath, [bin, 'validate', 'container-config-typo.json', '--sandbox', 'pod-config.json'], { cwd: FIXTURES }).catch((e: { code: number }) => e);
    expect((failed as { code: number }).code).toBe(2);
  }, 60_000);
});
