/**
 * Create an LXC container on Proxmox VE from an OCI image: on a real node when PVE_URL is set
 * (with PVE_TOKEN_ID, PVE_TOKEN_SECRET, PVE_FINGERPRINT and optionally PVE_NODE, PVE_STORAGE,
 * PVE_TEMPLATE_STORAGE, PVE_BRIDGE), otherwise on the bundled simulator.
 *
 *   npx tsx examples/create-on-proxmox.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lxcri, type LxcriOptions } from 'proxmox-lxcri';
import { buildDemoImage, startPveSimulator } from 'proxmox-lxcri/testing';

const env = process.env;
const work = await mkdtemp(join(tmpdir(), 'lxcri-example-'));
const sim = env['PVE_URL'] ? undefined : await startPveSimulator();
const proxmox: LxcriOptions['proxmox'] = sim
  ? {
      client: sim.clientOptions(),
      lxc: { workDir: join(work, 'templates') },
    }
  : {
      client: {
        baseUrl: env['PVE_URL'] as string,
        auth: { type: 'token', tokenId: env['PVE_TOKEN_ID'] as string, secret: env['PVE_TOKEN_SECRET'] as string },
        ...(env['PVE_FINGERPRINT'] ? { tls: { fingerprint256: env['PVE_FINGERPRINT'] } } : {}),
      },
      lxc: {
        workDir: join(work, 'templates'),
        ...(env['PVE_NODE'] ? { node: env['PVE_NODE'] } : {}),
        ...(env['PVE_BRIDGE'] ? { bridge: env['PVE_BRIDGE'] } : {}),
        storages: { template: env['PVE_TEMPLATE_STORAGE'] ?? 'local', rootfs: env['PVE_STORAGE'] ?? 'local-lvm' },
      },
    };
const image = await buildDemoImage(join(work, 'image'));
const lxcri = new Lxcri({ stateDir: join(work, 'state'), images: image.layout, policy: { defaultRuntime: 'proxmox-lxc' }, hostChecks: false, proxmox });
try {
  const pod = { metadata: { name: 'example-lxc', uid: 'example-lxc-uid', namespace: 'default' }, hostname: 'example-lxc' };
  const { podSandboxId } = await lxcri.runPodSandbox(pod);
  const created = await lxcri.createContainer(
    { pod_sandbox_id: podSandboxId, config: { metadata: { name: 'hello' }, image: { image: image.reference } }, sandbox_config: pod },
    { onProgress: (p) => p.event === 'end' && console.log(`  ${p.step} ${p.ms} ms`) },
  );
  console.log(`created CT ${created.vmid} on ${created.node} (${created.decision.reason})`);
  await lxcri.startContainer(created.containerId);
  console.log('state:', (await lxcri.containerStatus(created.containerId)).state);
  await lxcri.stopContainer(created.containerId, 10);
  await lxcri.removePodSandbox(podSandboxId);
  console.log('removed the CT and the pod');
} finally {
  await lxcri.close();
  await sim?.close();
  await rm(work, { recursive: true, force: true });
}
