/**
 * The facade's pod indexes (pod names, each pod's containers), which spare a create reading every
 * record in the state dir: a pod name is reserved once (also against concurrent runs and across a
 * restart) and freed by removal; the runtime decision sees the pod's containers as this instance
 * creates and removes them. Against the simulator over real HTTPS.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lxcri } from '../../../src/lxcri/lxcri.js';
import { buildDemoImage, startPveSimulator, type DemoImage, type PveSimulator } from '../../../src/testing/index.js';
import { caught } from '../../helpers/caught.js';

let work: string;
let image: DemoImage;
let sim: PveSimulator;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-pod-index-'));
  image = await buildDemoImage(join(work, 'image'));
  sim = await startPveSimulator({ taskDurationsMs: { default: 5 } });
});
afterAll(async () => {
  await sim.close();
  await rm(work, { recursive: true, force: true });
});

const make = (stateDir: string): Lxcri => {
  return new Lxcri({
    stateDir,
    images: image.layout,
    policy: { defaultRuntime: 'proxmox-lxc' },
    hostChecks: false,
    oci: { podNamespaces: false },
    proxmox: {
      client: { ...sim.clientOptions(), tasks: { pollMinMs: 5, pollMaxMs: 20 } },
      lxc: { workDir: join(stateDir, 'templates'), pollMs: 5 },
    },
  });
};

describe('Lxcri pod indexes', () => {
  it('reserves a pod name once, also against concurrent runs and after a restart; removal frees it', async () => {
    const stateDir = await mkdtemp(join(work, 'names-'));
    const pod = { metadata: { name: 'web', uid: 'u1', namespace: 'default' } };
    const first = make(stateDir);
    const runs = await Promise.allSettled([first.runPodSandbox(pod), first.runPodSandbox(pod), first.runPodSandbox(pod)]);
    const made = runs.filter((r) => r.status === 'fulfilled');
    expect(made).toHaveLength(1);
    const id = (made[0] as PromiseFulfilledResult<{ podSandboxId: string }>).value.podSandboxId;
    for (const r of runs.filter((x) => x.status === 'rejected')) expect(r.reason).toMatchObject({ code: 'ERR_ALREADY_EXISTS', details: { sandboxId: id } });
    expect((await first.listPodSandboxes()).map((s) => s.id)).toEqual([id]);
    // a name that differs only in where the separators fall is another pod
    const other = await first.runPodSandbox({ metadata: { name: 'web_default', uid: 'u1', namespace: '' } }).catch((e: unknown) => e);
    expect(other).not.toMatchObject({ code: 'ERR_ALREADY_EXISTS' });
    await first.close();

    const second = make(stateDir);
    expect(await caught(second.runPodSandbox(pod))).toMatchObject({ code: 'ERR_ALREADY_EXISTS', details: { sandboxId: id } });
    await second.removePodSandbox(id);
    const again = await second.runPodSandbox(pod);
    expect(again.podSandboxId).not.toBe(id);
    await second.close();
  });

  it('the runtime decision sees the pod’s other containers as this instance creates and removes them', async () => {
    const stateDir = await mkdtemp(join(work, 'members-'));
    const lxcri = make(stateDir);
    try {
      const pod = { metadata: { name: 'pair', uid: 'u2', namespace: 'default' } };
      const { podSandboxId } = await lxcri.runPodSandbox(pod);
      const request = (name: string): Record<string, unknown> => ({ podSandboxId, config: { metadata: { name }, image: { image: image.reference }, command: ['true'] }, sandboxConfig: pod });
      const a = await lxcri.createContainer(request('a'));
      expect(a.runtime).toBe('proxmox-lxc');
      // a second container of the pod would share its namespaces, which an LXC container cannot
      const refused = await caught(lxcri.createContainer(request('b')));
      expect(refused).toMatchObject({ code: 'ERR_RUNTIME_SELECTION' });
      expect((refused as Error).message).toContain('shared with the pod\'s other containers ("a")');
      expect((await lxcri.listContainers({ podSandboxId })).map((x) => x.name)).toEqual(['a']);
      await lxcri.removeContainer(a.containerId);
      const c = await lxcri.createContainer(request('c'));
      expect(c.runtime).toBe('proxmox-lxc');
      await lxcri.removePodSandbox(podSandboxId);
    } finally {
      await lxcri.close();
    }
  });
});
