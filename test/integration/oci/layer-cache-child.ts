/**
 * Child process of layer-cache-leases.test.ts: builds a root filesystem from a layer cache that
 * the test process shares, prints `READY <path>`, and holds it until it is killed (no release()).
 *
 *   layer-cache-child.ts <cache root> <image layout> <target dir>
 */
import { LayerCache } from '../../../src/oci/layers/layer-cache.js';
import { openImageLayout } from '../../../src/oci/image/layout.js';

const [root, layout, target] = process.argv.slice(2);
if (!root || !layout || !target) throw new Error('usage: layer-cache-child.ts <cache root> <image layout> <target dir>');
const image = await (await openImageLayout(layout)).resolve('latest');
const handle = await new LayerCache({ root }).createRootfs(image, target, { mode: 'copy' });
process.stdout.write(`READY ${handle.path}\n`);
setInterval(() => undefined, 1 << 30); // hold the rootfs until killed
