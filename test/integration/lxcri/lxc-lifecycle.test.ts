/**
 * The facade on the Proxmox VE LXC path, against the simulator over real HTTPS: createContainer,
 * the lifecycle verbs, template reuse, rollback at each step under injected failures, and restart
 * recovery from the state dir alone.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lxcri, createContainer, type LxcriOptions } from '../../../src/index.js';
import { buildDemoImage, startPveSimulator, type DemoImage, type PveSimulator } from '../../../src/testing/index.js';
import { caught } from '../../helpers/caught.js';
import type { HostInspector } from '../../../src/exports/cri.js';

const POD = { metadata: { name: 'web', uid: 'uid-web', namespace: 'default' }, hostname: 'web' };
/** An LXC container shares no namespaces: each one is the only container of its pod. */
const podOf = (name: string): typeof POD => ({ metadata: { name, uid: `uid-${name}`, namespace: 'default' }, hostname: name });

let work: string;
let image: DemoImage;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-facade-lxc-'));
  image = await buildDemoImage(join(work, 'image'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.each(['9.1', '8.4'] as const)('Lxcri on Proxmox VE %s (simulator)', (version) => {
  let sim: PveSimulator;
  let stateDir: string;
  const open: Lxcri[] = [];

  beforeAll(async () => {
    sim = await startPveSimulator({ version, taskDurationsMs: { default: 5 }, createLockTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await sim.close();
  });
  afterEach(async () => {
    for (const l of open.splice(0)) await l.close();
    sim.state.clearFaults();
  });

  const options = (dir: string): LxcriOptions => {
    return {
      stateDir: dir,
      images: image.layout,
      policy: { defaultRuntime: 'proxmox-lxc' },
      hostChecks: false,
      proxmox: {
        client: {
          ...sim.clientOptions(),
          retry: { retries: 2, minDelayMs: 5, maxDelayMs: 20 },
          tasks: { pollMinMs: 5, pollMaxMs: 20, timeoutMs: 30_000, logPageSize: 50 },
        },
        lxc: { workDir: join(dir, 'templates'), pollMs: 5 },
      },
    };
  };
  const make = async (): Promise<Lxcri> => {
    stateDir = await mkdtemp(join(work, `state-${version}-`));
    const l = new Lxcri(options(stateDir));
    open.push(l);
    return l;
  };
  const request = (podSandboxId: string, name: string, pod = POD): Record<string, unknown> => ({
    pod_sandbox_id: podSandboxId,
    config: { metadata: { name }, image: { image: image.reference }, command: ['/bin/sh', '-c', 'echo hi'], envs: [{ key: 'A', value: '1' }] },
    sandbox_config: pod,
  });
  /** A new pod and a request for one container in it. */
  const inNewPod = async (lxcri: Lxcri, name: string): Promise<{ podSandboxId: string; req: Record<string, unknown> }> => {
    const pod = podOf(`pod-${name}`);
    const { podSandboxId } = await lxcri.runPodSandbox(pod);
    return { podSandboxId, req: request(podSandboxId, name, pod) };
  };
  const uploads = (): number => sim.state.requestLog.filter((e) => e.method === 'POST' && /\/upload$/.test(e.path) && e.status === 200).length;
  const ourCts = (): number[] => [...sim.state.cts.values()].filter((ct) => (ct.config['tags'] ?? '').includes('lxcri')).map((ct) => ct.vmid);

  it('creates, starts, reports, stops and removes a CT; the record and the CT agree', async () => {
    const lxcri = await make();
    const { podSandboxId } = await lxcri.runPodSandbox(POD);
    const progress: string[] = [];
    const result = await lxcri.createContainer(request(podSandboxId, 'app'), { onProgress: (p) => progress.push(`${p.step}:${p.event}`) });
    expect(result.containerId).toMatch(/^[0-9a-f]{64}$/);
    expect(result.runtime).toBe('proxmox-lxc');
    expect(result.decision.source).toBe('default');
    expect(result.node).toBe('pve1');
    expect(typeof result.vmid).toBe('number');
    expect(result.image.manifestDigest).toBe(image.manifestDigest);
    for (const step of ['validate', 'select', 'image', 'reserve', 'create', 'record'] as const) expect(result.timings[step]).toBeGreaterThanOrEqual(0);
    expect(progress).toContain('create:end');
    const ct = sim.state.cts.get(result.vmid as number);
    expect(ct?.status).toBe('stopped');
    expect(ct?.config['description']).toContain(result.containerId);

    expect((await lxcri.containerStatus(result.containerId)).state).toBe('CONTAINER_CREATED');
    await lxcri.startContainer(result.containerId);
    expect(sim.state.cts.get(result.vmid as number)?.status).toBe('running');
    const running = await lxcri.containerStatus(result.containerId);
    expect(running).toMatchObject({ state: 'CONTAINER_RUNNING', podSandboxId, name: 'app', runtime: 'proxmox-lxc' });
    expect(running.runtimeData).toMatchObject({ node: 'pve1', vmid: result.vmid });
    expect((await lxcri.listContainers({ state: 'CONTAINER_RUNNING' })).map((c) => c.id)).toEqual([result.containerId]);

    await lxcri.stopContainer(result.containerId, 1);
    expect(sim.state.cts.get(result.vmid as number)?.status).toBe('stopped');
    expect((await lxcri.containerStatus(result.containerId)).state).toBe('CONTAINER_EXITED');
    await lxcri.removeContainer(result.containerId);
    expect(sim.state.cts.has(result.vmid as number)).toBe(false);
    expect(await lxcri.listContainers()).toEqual([]);
    await lxcri.removeContainer(result.containerId); // idempotent
    await lxcri.removePodSandbox(podSandboxId);
    expect(await lxcri.listPodSandboxes()).toEqual([]);
  });

  it('reuses the template: a second create of the same image uploads nothing', async () => {
    const lxcri = await make();
    const one = await inNewPod(lxcri, 'one');
    const two = await inNewPod(lxcri, 'two');
    const before = uploads();
    const a = await lxcri.createContainer(one.req);
    const afterFirst = uploads();
    const b = await lxcri.createContainer(two.req);
    expect(uploads()).toBe(afterFirst);
    expect(afterFirst - before).toBeLessThanOrEqual(1);
    expect(a.vmid).not.toBe(b.vmid);
    await lxcri.removePodSandbox(one.podSandboxId);
    await lxcri.removePodSandbox(two.podSandboxId);
    expect(sim.state.cts.has(a.vmid as number)).toBe(false);
    expect(sim.state.cts.has(b.vmid as number)).toBe(false);
  });

  it('the same (sandbox, name, attempt) is AlreadyExists naming the existing container; nothing new is made', async () => {
    const lxcri = await make();
    const { podSandboxId } = await lxcri.runPodSandbox(POD);
    const first = await lxcri.createContainer(request(podSandboxId, 'dup'));
    const cts = ourCts().length;
    const error = await caught(lxcri.createContainer(request(podSandboxId, 'dup')));
    expect(error).toMatchObject({ grpcStatus: 'AlreadyExists' });
    expect(JSON.stringify(error)).toContain(first.containerId);
    expect(ourCts()).toHaveLength(cts);
    await lxcri.removePodSandbox(podSandboxId);
  });

  it('rolls back at each step: invalid request, missing image, failing create task, failing config update', async () => {
    const lxcri = await make();
    const { podSandboxId } = await lxcri.runPodSandbox(POD);
    const cts = ourCts();
    const records = async (): Promise<string[]> => (await readdir(join(stateDir, 'containers')).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));

    expect(await caught(lxcri.createContainer(request(podSandboxId, 'Bad_Name')))).toMatchObject({ code: 'ERR_CRI_VALIDATION', grpcStatus: 'InvalidArgument' });
    expect(await caught(lxcri.createContainer({ ...request(podSandboxId, 'noimg'), config: { metadata: { name: 'noimg' }, image: { image: 'no-such-image:1' } } }))).toMatchObject({
      code: 'ERR_NOT_FOUND',
    });
    expect(await records()).toEqual([]);

    sim.state.addFault({ kind: 'task-failure', taskType: 'vzcreate', exitStatus: 'unable to create CT - injected', times: 1 });
    expect(await caught(lxcri.createContainer(request(podSandboxId, 'taskfail')))).toMatchObject({ code: 'ERR_PVE_TASK' });
    expect(ourCts()).toEqual(cts);
    expect(await records()).toEqual([]);

    if (version === '9.1') {
      // OCI mode sets the CRI process with a config PUT after the create: the CT exists by then
      sim.state.addFault({ kind: 'http-error', match: { method: 'PUT', path: /\/lxc\/\d+\/config$/ }, status: 500, message: 'injected config failure', times: 1 });
      const configFail = await caught(lxcri.createContainer(request(podSandboxId, 'configfail')));
      expect(configFail).toMatchObject({ code: 'ERR_PVE_HTTP' });
      expect(ourCts()).toEqual(cts);
      expect(await records()).toEqual([]);
    }

    // and the name is free again after each rollback
    const ok = await lxcri.createContainer(request(podSandboxId, 'taskfail'));
    expect(ok.runtime).toBe('proxmox-lxc');
    await lxcri.removePodSandbox(podSandboxId);
  });

  it('an abort mid-create rolls back: no record, no CT', async () => {
    const lxcri = await make();
    const { podSandboxId } = await lxcri.runPodSandbox(POD);
    const cts = ourCts();
    const controller = new AbortController();
    const error = await caught(
      lxcri.createContainer(request(podSandboxId, 'aborted'), {
        signal: controller.signal,
        onProgress: (p) => {
          if (p.step === 'create' && p.event === 'progress' && p.phase === 'create') controller.abort();
        },
      }),
    );
    expect(error).toMatchObject({ grpcStatus: 'Cancelled' });
    await sim.state.settle();
    expect(ourCts()).toEqual(cts);
    expect(await lxcri.listContainers()).toEqual([]);
    await lxcri.removePodSandbox(podSandboxId);
  });

  it('state survives a restart: a new Lxcri on the same state dir lists, stops and removes; reconcile finds a CT without a record', async () => {
    const first = await make();
    const survivor = await inNewPod(first, 'survivor');
    const made = await first.createContainer(survivor.req);
    await first.startContainer(made.containerId);
    const lost = await inNewPod(first, 'orphan');
    const orphan = await first.createContainer(lost.req);
    await first.close();
    // the orphan's record is lost (as after a crash between create and record)
    await rm(join(stateDir, 'containers', `${orphan.containerId}.json`));

    const second = new Lxcri(options(stateDir));
    open.push(second);
    expect((await second.listContainers()).map((c) => [c.id, c.state])).toEqual([[made.containerId, 'CONTAINER_RUNNING']]);
    const report = await second.reconcile();
    expect(report.consistent).toEqual([made.containerId]);
    expect(report.orphans).toEqual([{ runtime: 'proxmox-lxc', id: orphan.containerId, node: 'pve1', vmid: orphan.vmid }]);
    const cleaned = await second.reconcile({ remove: true });
    expect(cleaned.removed).toEqual([orphan.containerId]);
    expect(sim.state.cts.has(orphan.vmid as number)).toBe(false);
    await second.stopContainer(made.containerId, 0);
    await second.removePodSandbox(survivor.podSandboxId);
    await second.removePodSandbox(lost.podSandboxId);
    expect(sim.state.cts.has(made.vmid as number)).toBe(false);
  });

  it('host checks are for containers on this node: a CT asking for AppArmor is not refused because this host has none', async () => {
    stateDir = await mkdtemp(join(work, `state-${version}-`));
    const asked: string[] = [];
    const noApparmor: HostInspector = {
      pathKind: async () => 'missing',
      mountPropagation: async () => undefined,
      apparmorProfileLoaded: async () => (asked.push('apparmorProfileLoaded'), undefined),
      apparmorEnabled: async () => (asked.push('apparmorEnabled'), false),
    };
    const lxcri = new Lxcri({ ...options(stateDir), hostChecks: true }, { hostInspector: noApparmor });
    open.push(lxcri);
    const { podSandboxId, req } = await inNewPod(lxcri, 'confined');
    (req['config'] as Record<string, unknown>)['linux'] = { security_context: { apparmor: { profile_type: 'RuntimeDefault' } } };
    const made = await lxcri.createContainer(req);
    expect(made.runtime).toBe('proxmox-lxc');
    expect(asked).toEqual([]);
    await lxcri.removePodSandbox(podSandboxId);
  });

  it('reconcile removes the temp template files of dead writers only, never those another live process is writing', async () => {
    const lxcri = await make();
    const workDir = join(stateDir, 'templates');
    await mkdir(workDir, { recursive: true });
    // a process that has exited (Node itself: a PATH without `true` must not give pid 0)
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    expect(dead).toBeGreaterThan(0);
    const names = { live: `${'a'.repeat(16)}-${process.ppid}.tar`, dead: `${'b'.repeat(16)}-${dead}.tar.gz`, old: `${'c'.repeat(16)}.tar`, other: 'notes.txt' };
    for (const name of Object.values(names)) await writeFile(join(workDir, name), 'x');
    const report = await lxcri.reconcile({ remove: true });
    expect(report.leftovers.sort()).toEqual([join(workDir, names.dead), join(workDir, names.old)].sort());
    expect((await readdir(workDir)).sort()).toEqual([names.live, names.other].sort());
  });

  it('createContainer() one-shot: runs the pod from the request when it names none, and closes its instance', async () => {
    const dir = await mkdtemp(join(work, `oneshot-${version}-`));
    const req = { config: { metadata: { name: 'once' }, image: { image: image.reference } }, sandbox_config: POD };
    const result = await createContainer(req, options(dir));
    expect(result.podCreated).toBe(true);
    expect(result.podSandboxId).toMatch(/^[0-9a-f]{64}$/);
    const lxcri = new Lxcri(options(dir));
    open.push(lxcri);
    expect((await lxcri.listContainers()).map((c) => c.id)).toEqual([result.containerId]);
    await lxcri.removePodSandbox(result.podSandboxId);
    expect(sim.state.cts.has(result.vmid as number)).toBe(false);
  });
});
