/**
 * The whole lifecycle against a Proxmox VE node: pod, create, start, status, stop, remove, template
 * reuse, and cleanup of everything the test made. Against a real node when PVE_URL, PVE_TOKEN_ID
 * and PVE_TOKEN_SECRET are set (with PVE_FINGERPRINT for a self-signed certificate, and optionally
 * PVE_NODE, PVE_STORAGE, PVE_TEMPLATE_STORAGE, PVE_BRIDGE); against the bundled simulator always.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lxcri, type ProxmoxClient, type LxcriOptions } from '../../src/index.js';
import { buildDemoImage, startPveSimulator, type DemoImage, type PveSimulator } from '../../src/testing/index.js';

const env = process.env;
const realNode = env['PVE_URL'] && env['PVE_TOKEN_ID'] && env['PVE_TOKEN_SECRET'] ? env['PVE_URL'] : undefined;
if (!realNode) process.stderr.write('[skip] real Proxmox VE: set PVE_URL, PVE_TOKEN_ID and PVE_TOKEN_SECRET (and PVE_FINGERPRINT) to run this suite against a node\n');

interface Target {
  name: string;
  skip: boolean;
  start(work: string): Promise<{ proxmox: NonNullable<LxcriOptions['proxmox']>; close(): Promise<void>; sim?: PveSimulator }>;
}

const TARGETS: Target[] = [
  {
    name: 'the simulator',
    skip: false,
    async start(work) {
      const sim = await startPveSimulator({ taskDurationsMs: { default: 5 } });
      return {
        sim,
        proxmox: {
          client: { ...sim.clientOptions(), tasks: { pollMinMs: 5, pollMaxMs: 20 } },
          lxc: { workDir: join(work, 'templates'), pollMs: 5 },
        },
        close: () => sim.close(),
      };
    },
  },
  {
    name: 'a real Proxmox VE node',
    skip: realNode === undefined,
    async start(work) {
      return {
        proxmox: {
          client: {
            baseUrl: realNode as string,
            auth: { type: 'token', tokenId: env['PVE_TOKEN_ID'] as string, secret: env['PVE_TOKEN_SECRET'] as string },
            ...(env['PVE_FINGERPRINT'] ? { tls: { fingerprint256: env['PVE_FINGERPRINT'] } } : {}),
          },
          lxc: {
            workDir: join(work, 'templates'),
            ...(env['PVE_NODE'] ? { node: env['PVE_NODE'] } : {}),
            ...(env['PVE_BRIDGE'] ? { bridge: env['PVE_BRIDGE'] } : {}),
            storages: { template: env['PVE_TEMPLATE_STORAGE'] ?? 'local', rootfs: env['PVE_STORAGE'] ?? 'local-lvm' },
          },
        },
        close: async () => undefined,
      };
    },
  },
];

describe.each(TARGETS)('lifecycle on $name', (target) => {
  describe.skipIf(target.skip)('pod → create → start → status → stop → remove', () => {
    let work: string;
    let image: DemoImage;
    let world: Awaited<ReturnType<Target['start']>>;
    let lxcri: Lxcri;

    beforeAll(async () => {
      work = await mkdtemp(join(tmpdir(), 'lxcri-pve-lifecycle-'));
      image = await buildDemoImage(join(work, 'image'));
      world = await target.start(work);
      lxcri = new Lxcri({ stateDir: join(work, 'state'), images: image.layout, policy: { defaultRuntime: 'proxmox-lxc' }, hostChecks: false, proxmox: world.proxmox });
    });
    afterAll(async () => {
      // clean up everything this suite made, also after a failure
      for (const pod of (await lxcri?.listPodSandboxes().catch(() => [])) ?? []) await lxcri.removePodSandbox(pod.id).catch(() => undefined);
      // the template stays on the node: it is the cache the next run reuses (and pruneTemplates() can
      // remove it); nothing else this suite made is left
      await lxcri?.close();
      await world?.close();
      if (work) await rm(work, { recursive: true, force: true });
    });

    it('runs the whole lifecycle and reuses the template', async () => {
      const pod = (name: string): Record<string, unknown> => ({ metadata: { name, uid: `${name}-uid`, namespace: 'lxcri-test' }, hostname: name });
      const create = async (name: string): Promise<{ podSandboxId: string; containerId: string; vmid: number; node: string }> => {
        const { podSandboxId } = await lxcri.runPodSandbox(pod(name));
        const result = await lxcri.createContainer({ pod_sandbox_id: podSandboxId, config: { metadata: { name }, image: { image: image.reference } }, sandbox_config: pod(name) });
        expect(result.runtime).toBe('proxmox-lxc');
        return { podSandboxId, containerId: result.containerId, vmid: result.vmid as number, node: result.node as string };
      };
      const client = lxcri.proxmox as ProxmoxClient;
      const templateStorage = (world.proxmox.lxc?.['storages'] as { template?: string } | undefined)?.template ?? 'local';

      const first = await create('lxcri-a');
      const status = await lxcri.containerStatus(first.containerId);
      expect(status.state).toBe('CONTAINER_CREATED');
      const templateVolid = status.runtimeData['templateVolid'] as string;
      const templatesBefore = (await client.storage.content(first.node, templateStorage, { content: 'vztmpl' })).map((c) => c.volid);
      expect(templatesBefore).toContain(templateVolid);

      await lxcri.startContainer(first.containerId);
      expect((await lxcri.containerStatus(first.containerId)).state).toBe('CONTAINER_RUNNING');
      expect((await client.lxc.status(first.node, first.vmid)).status).toBe('running');
      await lxcri.stopContainer(first.containerId, 10);
      expect((await lxcri.containerStatus(first.containerId)).state).toBe('CONTAINER_EXITED');

      // a second container of the same image uploads nothing new
      const second = await create('lxcri-b');
      const templatesAfter = (await client.storage.content(second.node, templateStorage, { content: 'vztmpl' })).map((c) => c.volid);
      expect(templatesAfter.sort()).toEqual(templatesBefore.sort());
      expect((await lxcri.containerStatus(second.containerId)).runtimeData['templateVolid']).toBe(templateVolid);

      await lxcri.removeContainer(first.containerId);
      await lxcri.removePodSandbox(first.podSandboxId);
      await lxcri.removePodSandbox(second.podSandboxId);
      for (const { node, vmid } of [first, second]) {
        await expect(client.lxc.config(node, vmid)).rejects.toMatchObject({ code: 'ERR_PVE_HTTP' });
      }
      expect(await lxcri.listContainers()).toEqual([]);
      if (world.sim) expect([...world.sim.state.cts.values()].filter((ct) => (ct.config['tags'] ?? '').includes('lxcri'))).toEqual([]);
    });
  });
});
