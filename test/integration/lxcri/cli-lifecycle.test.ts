/**
 * The lifecycle commands and `lxcri demo`, run in-process: `--config FILE` (and LXCRI_CONFIG),
 * JSON on stdout, exit codes, and an aborted create rolling back.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../../src/cli/main.js';
import { buildDemoImage, startPveSimulator, type DemoImage, type PveSimulator } from '../../../src/testing/index.js';
import { captureIo } from '../../helpers/cli-io.js';
import { missing } from '../../helpers/requirements.js';
import { until } from '../../helpers/wait.js';

let work: string;
let image: DemoImage;
let sim: PveSimulator;
let configFile: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-cli-lifecycle-'));
  image = await buildDemoImage(join(work, 'image'));
  sim = await startPveSimulator({ taskDurationsMs: { default: 5 } });
  configFile = join(work, 'lxcri.json');
  // relative paths in the config file are relative to the file
  await writeFile(
    configFile,
    JSON.stringify({
      stateDir: 'state',
      images: 'image',
      policy: { defaultRuntime: 'proxmox-lxc' },
      hostChecks: false,
      proxmox: {
        client: { ...sim.clientOptions(), tasks: { pollMinMs: 5, pollMaxMs: 20 } },
        lxc: { workDir: join(work, 'templates'), pollMs: 5 },
      },
    }),
  );
  await writeFile(join(work, 'pod.json'), JSON.stringify({ metadata: { name: 'cli-pod', uid: 'cli-uid', namespace: 'default' }, hostname: 'cli' }));
  await writeFile(join(work, 'container.json'), JSON.stringify({ metadata: { name: 'app' }, image: { image: image.reference }, command: ['/bin/sh', '-c', 'echo hi'] }));
});
afterAll(async () => {
  await sim.close();
  await rm(work, { recursive: true, force: true });
});

describe('lxcri create/start/ps/inspect/stop/rm/pod', () => {
  it('runs a container through its lifecycle from the shell; the config comes from --config or LXCRI_CONFIG', async () => {
    const io = captureIo(work);
    expect(await main(['create', '--request', 'container.json', '--sandbox', 'pod.json', '--config', configFile], io)).toBe(0);
    const created = io.json();
    expect(created).toMatchObject({ runtime: 'proxmox-lxc', podCreated: true, node: 'pve1' });
    const id = created['containerId'] as string;
    const vmid = created['vmid'] as number;
    expect(sim.state.cts.get(vmid)?.status).toBe('stopped');

    const env = { LXCRI_CONFIG: configFile };
    const start = captureIo(work, env);
    expect(await main(['start', id], start)).toBe(0);
    expect(start.json()).toEqual({ containerId: id, state: 'CONTAINER_RUNNING' });

    const ps = captureIo(work, env);
    expect(await main(['ps', '--state', 'CONTAINER_RUNNING'], ps)).toBe(0);
    expect((ps.json()['containers'] as { id: string }[]).map((c) => c.id)).toEqual([id]);

    const inspect = captureIo(work, env);
    expect(await main(['inspect', id], inspect)).toBe(0);
    expect(inspect.json()).toMatchObject({ id, state: 'CONTAINER_RUNNING', runtimeData: { node: 'pve1', vmid } });

    const stop = captureIo(work, env);
    expect(await main(['stop', id, '--timeout', '0'], stop)).toBe(0);
    expect(stop.json()).toMatchObject({ containerId: id, state: 'CONTAINER_EXITED' });

    const rmIo = captureIo(work, env);
    expect(await main(['rm', id], rmIo)).toBe(0);
    expect(sim.state.cts.has(vmid)).toBe(false);

    const pods = captureIo(work, env);
    expect(await main(['pod', 'ls'], pods)).toBe(0);
    const podIds = (pods.json()['pods'] as { id: string }[]).map((p) => p.id);
    expect(podIds).toEqual([created['podSandboxId']]);
    const podRm = captureIo(work, env);
    expect(await main(['pod', 'rm', ...podIds], podRm)).toBe(0);
  });

  it('invalid input exits 2 with the field named; a missing container exits 1 with NotFound', async () => {
    await writeFile(join(work, 'bad.json'), JSON.stringify({ metadata: { name: 'Bad_Name' }, image: { image: image.reference } }));
    const bad = captureIo(work, { LXCRI_CONFIG: configFile });
    expect(await main(['create', '--request', 'bad.json', '--sandbox', 'pod.json'], bad)).toBe(2);
    expect(JSON.stringify(bad.json())).toContain('config.metadata.name');
    const missing = captureIo(work, { LXCRI_CONFIG: configFile });
    expect(await main(['inspect', 'f'.repeat(64)], missing)).toBe(1);
    expect(missing.json()).toMatchObject({ error: { code: 'ERR_NOT_FOUND' } });
    const usage = captureIo(work);
    expect(await main(['stop', 'x', '--timeout', '-1'], usage)).toBe(2);
    // the failed create removed the pod it ran first
    const pods = captureIo(work, { LXCRI_CONFIG: configFile });
    await main(['pod', 'ls'], pods);
    expect(pods.json()['pods']).toEqual([]);
  });

  it('an aborted create (Ctrl-C) rolls back: no CT, no record, no pod', async () => {
    const controller = new AbortController();
    const io = { ...captureIo(work, { LXCRI_CONFIG: configFile }), signal: controller.signal };
    sim.state.addFault({ kind: 'latency', match: { method: 'POST', path: '/nodes/pve1/lxc' }, delayMs: 300, times: 1 });
    const before = sim.state.cts.size;
    const run = main(['create', '--request', 'container.json', '--sandbox', 'pod.json'], io);
    // abort once the create request has arrived (the simulator took the latency fault for it)
    await until(() => !sim.state.activeFaults.some((f) => f.kind === 'latency'), 'the create request to arrive', { timeoutMs: 20_000 });
    controller.abort();
    expect(await run).toBe(1);
    expect(io.json()).toMatchObject({ error: { code: 'ERR_ABORTED' } });
    await sim.state.settle();
    expect(sim.state.cts.size).toBe(before);
    const ps = captureIo(work, { LXCRI_CONFIG: configFile });
    await main(['ps'], ps);
    expect(ps.json()['containers']).toEqual([]);
  });
});

/** The demo runs its crun/runc container as root with runc or crun; under CI=true both are there. */
const ociMissing = missing({ root: true, tools: ['runc'] });

describe('lxcri demo', () => {
  it('--json creates one container per runtime (crun/runc only as root with a runtime) and cleans up', async () => {
    const io = captureIo(work);
    expect(await main(['demo', '--json'], io)).toBe(0);
    const out = io.json() as { containers: { runtime: string; containerId?: string; state: string; node?: string; vmid?: number; output?: string[]; skipped?: string }[] };
    const lxc = out.containers.find((c) => c.runtime === 'proxmox-lxc');
    expect(lxc).toMatchObject({ state: 'CONTAINER_RUNNING', node: 'pve1' });
    expect(lxc?.containerId).toMatch(/^[0-9a-f]{64}$/);
    expect(typeof lxc?.vmid).toBe('number');
    const oci = out.containers.find((c) => c.runtime === 'crun');
    if (ociMissing) expect(oci?.skipped).toMatch(/root|OCI runtime/);
    else expect(oci).toMatchObject({ state: 'CONTAINER_EXITED', output: [expect.stringContaining('hello from a proxmox-lxcri demo container')] });
  });
});
