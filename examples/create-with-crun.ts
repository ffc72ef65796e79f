/**
 * Create and run a container under crun or runc on this node (as root), from the bundled demo
 * image: pod → create → start → read its CRI log → remove.
 *
 *   sudo npx tsx examples/create-with-crun.ts
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lxcri } from 'proxmox-lxcri';
import { buildDemoImage } from 'proxmox-lxcri/testing';

const work = await mkdtemp(join(tmpdir(), 'lxcri-example-'));
const image = await buildDemoImage(join(work, 'image'));
const lxcri = new Lxcri({ stateDir: join(work, 'state'), images: image.layout });
try {
  const oci = await lxcri.ociRuntime();
  if (!oci.available || process.getuid?.() !== 0) {
    console.log(`skipping: needs root and crun or runc (${oci.detail})`);
  } else {
    const pod = { metadata: { name: 'example', uid: 'example-uid', namespace: 'default' }, hostname: 'example', log_directory: join(work, 'logs') };
    const { podSandboxId } = await lxcri.runPodSandbox(pod);
    const created = await lxcri.createContainer({
      pod_sandbox_id: podSandboxId,
      config: { metadata: { name: 'hello' }, image: { image: image.reference }, log_path: 'hello.log' },
      sandbox_config: pod,
    });
    console.log(`created ${created.containerId.slice(0, 12)} under ${oci.name} in ${created.timings.total} ms (bundle ${created.bundlePath})`);
    await lxcri.startContainer(created.containerId);
    let status = await lxcri.containerStatus(created.containerId);
    for (const deadline = Date.now() + 30_000; status.state !== 'CONTAINER_EXITED' && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 50));
      status = await lxcri.containerStatus(created.containerId);
    }
    console.log(`exit code ${status.exitCode}; log:\n${await readFile(status.logPath, 'utf8')}`);
    await lxcri.removePodSandbox(podSandboxId);
  }
} finally {
  await lxcri.close();
  await rm(work, { recursive: true, force: true });
}
