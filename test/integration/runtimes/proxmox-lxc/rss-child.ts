/**
 * Child process of rss.test.ts: creates one CT from a large image with ProxmoxLxcRuntime against
 * the simulator the parent runs, sampling its own RSS. Prints `{ baseline, peak, vmid, templateVolid }`.
 * Arguments: url fingerprint tokenId tokenSecret layoutDir tag cacheDir workDir mode
 */
import { openImageLayout } from '../../../../src/oci/image/layout.js';
import { LayerCache } from '../../../../src/oci/layers/layer-cache.js';
import { ProxmoxClient } from '../../../../src/proxmox/client.js';
import { ProxmoxLxcRuntime } from '../../../../src/runtimes/proxmox-lxc/runtime.js';
import { request } from './request.js';

const [url, fingerprint256, tokenId, secret, layout, tag, cacheDir, workDir, mode] = process.argv.slice(2) as string[];
const client = new ProxmoxClient({ baseUrl: url as string, auth: { type: 'token', tokenId: tokenId as string, secret: secret as string }, tls: { fingerprint256: fingerprint256 as string } });
const runtime = new ProxmoxLxcRuntime(client, {
  layerCache: new LayerCache({ root: cacheDir as string }),
  workDir: workDir as string,
  mode: mode as 'oci' | 'rootfs',
  gzipLevel: 1,
  pollMs: 20,
});
const image = await (await openImageLayout(layout as string)).resolve(tag);
// warm up: modules the first requests load (transport, schemas) are not part of the rise
await runtime.modeFor();
await client.storage.content('pve1', 'local');
(globalThis as { gc?: () => void }).gc?.();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const timer = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);
const phases: Record<string, number> = {};
let phase = 'start';
const ct = await runtime.create(request(), image, {
  containerId: 'rss',
  onProgress: (p) => {
    phases[phase] = Math.max(phases[phase] ?? 0, peak - baseline);
    phase = p.phase;
  },
});
clearInterval(timer);
peak = Math.max(peak, process.memoryUsage().rss);
await client.close();
process.stdout.write(`${JSON.stringify({ phases, baseline, peak, vmid: ct.vmid, templateVolid: ct.templateVolid })}\n`);
