import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../../../src/cli/commands/index.js';
import { main } from '../../../src/cli/main.js';
import { missing } from '../../helpers/requirements.js';
import { captureIo as captureIoAt, type CapturedIo } from '../../helpers/cli-io.js';

let dir: string;

const captureIo = (): CapturedIo => captureIoAt(dir);

async function run(...args: string[]): Promise<{ code: number; io: ReturnType<typeof captureIo> }> {
  const io = captureIo();
  const code = await main(['select', ...args], io, commands);
  return { code, io };
}

const container = { metadata: { name: 'db-main' }, image: { image: 'docker.io/library/postgres:16' }, linux: {} };
const pod = { metadata: { name: 'pg-0', namespace: 'data', uid: 'uid-1' }, linux: {} };
const upstreamPolicy = resolve('examples/policies/upstream-defaults.json');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'lxcri-select-'));
  await writeFile(join(dir, 'container.json'), JSON.stringify(container));
  await writeFile(join(dir, 'pod.json'), JSON.stringify(pod));
  await writeFile(
    join(dir, 'request.json'),
    JSON.stringify({ pod_sandbox_id: 'p1', config: { ...container, metadata: { name: 'web' }, image: { image: 'lxc/alpine:3.19' } }, sandbox_config: pod }),
  );
  await writeFile(join(dir, 'record.json'), JSON.stringify({ id: 'p1', config: pod, runtimeHandler: 'lxc', namespacePaths: {} }));
  await writeFile(join(dir, 'bad-policy.json'), JSON.stringify({ rules: [{ match: { image: 'lxc/{a' }, runtime: 'proxmox-lxc' }] }));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('lxcri select', () => {
  it('is listed in lxcri --help', async () => {
    const io = captureIo();
    expect(await main(['--help'], io, commands)).toBe(0);
    expect(io.out()).toMatch(/select\s+choose crun or Proxmox LXC/);
  });

  it('selects for a crictl container config and pod config with a policy file', async () => {
    const { code, io } = await run('container.json', '--sandbox', 'pod.json', '--policy', upstreamPolicy);
    expect(code).toBe(0);
    const out = io.json();
    expect(out).toMatchObject({ runtime: 'proxmox-lxc', source: 'rule', changed: false });
    expect(out['reason']).toBe('rule "db-and-vm-containers" matched (container name "db-main" matches "db-*") and selects proxmox-lxc');
    expect((out['trace'] as unknown[]).length).toBe(7);
  });

  it('selects for a full CreateContainerRequest, with the default policy', async () => {
    const { code, io } = await run('request.json');
    expect(code).toBe(0);
    expect(io.json()).toMatchObject({ runtime: 'crun', source: 'default' });
    const withPolicy = await run('request.json', '--policy', upstreamPolicy);
    expect(withPolicy.io.json()).toMatchObject({ runtime: 'proxmox-lxc', reason: expect.stringContaining('image "lxc/alpine:3.19" matches "lxc/**"') as unknown });
  });

  it("reads the sandbox's runtime handler from a sandbox record, and --runtime-handler overrides it", async () => {
    const fromRecord = await run('container.json', '--sandbox', 'record.json');
    expect(fromRecord.code).toBe(0);
    expect(fromRecord.io.json()).toMatchObject({ runtime: 'proxmox-lxc', source: 'handler' });
    const flag = await run('container.json', '--sandbox', 'record.json', '--runtime-handler', 'runc');
    expect(flag.io.json()).toMatchObject({ runtime: 'crun', source: 'handler' });
  });

  it('exits 2 with the trace for an unknown runtime handler', async () => {
    const { code, io } = await run('container.json', '--sandbox', 'pod.json', '--runtime-handler', 'kata');
    expect(code).toBe(2);
    const error = io.json()['error'] as { code: string; grpcStatus: string; details: { reason: string; trace: unknown[] } };
    expect(error).toMatchObject({ code: 'ERR_RUNTIME_SELECTION', grpcStatus: 'InvalidArgument', details: { reason: 'unknown-handler' } });
    expect(error.details.trace).toHaveLength(1);
    expect(io.err()).toContain(`unknown runtime handler "kata"`);
  });

  it('exits 1 when LXC cannot honour the request (other containers share the pod)', async () => {
    const { code, io } = await run('container.json', '--sandbox', 'record.json', '--pod-container', 'sidecar');
    expect(code).toBe(1);
    expect(io.json()['error']).toMatchObject({ code: 'ERR_RUNTIME_SELECTION', details: { reason: 'unsupported' } });
    expect(io.err()).toContain(`shared with the pod's other containers ("sidecar")`);
  });

  it('exits 2 for an invalid policy, naming the field', async () => {
    const { code, io } = await run('container.json', '--sandbox', 'pod.json', '--policy', 'bad-policy.json');
    expect(code).toBe(2);
    expect(io.json()['error']).toMatchObject({ code: 'ERR_INVALID_OPTIONS' });
    expect(io.err()).toContain(`invalid runtime policy bad-policy.json: rules[0].match.image: invalid glob "lxc/{a": unclosed '{' at offset 4`);
  });

  it('exits 2 for usage mistakes and invalid requests', async () => {
    expect((await run()).code).toBe(2);
    expect((await run('container.json')).io.err()).toContain('looks like a container config: give the pod with --sandbox POD.json');
    expect((await run('missing.json')).io.err()).toContain('cannot read request missing.json: ENOENT');
    expect((await run('request.json', '--oci-runtime', 'runc')).io.err()).toContain('--oci-runtime needs --probe');
    await writeFile(join(dir, 'invalid.json'), JSON.stringify({ metadata: { name: 'x' }, image: { image: 'x' }, comand: ['sh'] }));
    const invalid = await run('invalid.json', '--sandbox', 'pod.json');
    expect(invalid.code).toBe(2);
    expect(invalid.io.json()['error']).toMatchObject({ code: 'ERR_CRI_VALIDATION' });
  });

  it('--probe with a missing binary reports crun unavailable (exit 1)', async () => {
    const { code, io } = await run('request.json', '--probe', '--oci-runtime', join(dir, 'no-crun'));
    expect(code).toBe(1);
    expect(io.json()['error']).toMatchObject({ grpcStatus: 'Unavailable', details: { reason: 'unavailable', runtime: 'crun' } });
  });

  describe.skipIf(missing({ tools: ['runc'] }))('with the real runc', () => {
    it('--probe runs runc --version and checks availability', async () => {
      const { code, io } = await run('request.json', '--probe', '--oci-runtime', 'runc');
      expect(code).toBe(0);
      const out = io.json() as { probes: { crun: { available: boolean; name: string } }; trace: { step: string; outcome: string }[] };
      expect(out.probes.crun).toMatchObject({ available: true, name: 'runc' });
      expect(out.trace.at(-1)).toMatchObject({ step: 'availability', outcome: 'passed' });
    });
  });
});
