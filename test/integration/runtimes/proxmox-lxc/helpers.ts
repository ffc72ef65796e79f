/**
 * Shared set-up of the Proxmox LXC runtime tests: a simulator in one PVE personality, a client
 * pinned to it, a busybox image, a layer cache, and normalized CRI requests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openImageLayout, type ResolvedImage } from '../../../../src/oci/image/layout.js';
import { LayerCache } from '../../../../src/oci/layers/layer-cache.js';
import { ProxmoxClient } from '../../../../src/proxmox/client.js';
import { ProxmoxLxcRuntime } from '../../../../src/runtimes/proxmox-lxc/runtime.js';
import type { ProxmoxLxcRuntimeOptions } from '../../../../src/runtimes/proxmox-lxc/options.js';
import { startPveSimulator, type PveSimulator, type PveSimulatorOptions } from '../../../../src/testing/index.js';
import { buildBusyboxImage, type BusyboxImage } from '../../../helpers/busybox-image.js';

/** One test world: simulator, client, runtime, image. */
export interface LxcWorld {
  sim: PveSimulator;
  client: ProxmoxClient;
  runtime: ProxmoxLxcRuntime;
  image: ResolvedImage;
  work: string;
  cache: LayerCache;
  makeRuntime(options?: ProxmoxLxcRuntimeOptions): ProxmoxLxcRuntime;
  close(): Promise<void>;
}

/** Starts a world; `busybox` is shared between worlds (built once by the caller). */
export async function startWorld(busybox: BusyboxImage, version: '8.4' | '9.1', simOptions: PveSimulatorOptions = {}, runtimeOptions: ProxmoxLxcRuntimeOptions = {}): Promise<LxcWorld> {
  const work = await mkdtemp(join(tmpdir(), 'lxcri-lxc-'));
  const sim = await startPveSimulator({ version, taskDurationsMs: { default: 10 }, lockTimeoutMs: 2000, createLockTimeoutMs: 1000, ...simOptions });
  const client = new ProxmoxClient({
    ...sim.clientOptions(),
    retry: { retries: 3, minDelayMs: 5, maxDelayMs: 50 },
    tasks: { pollMinMs: 5, pollMaxMs: 40, timeoutMs: 60_000, logPageSize: 50 },
  });
  const cache = new LayerCache({ root: join(work, 'layers') });
  const makeRuntime = (options: ProxmoxLxcRuntimeOptions = {}): ProxmoxLxcRuntime =>
    new ProxmoxLxcRuntime(client, { layerCache: cache, workDir: join(work, 'tmp'), pollMs: 10, ...runtimeOptions, ...options });
  const image = await (await openImageLayout(busybox.layout)).resolve(busybox.tag);
  return {
    sim,
    client,
    runtime: makeRuntime(),
    image,
    work,
    cache,
    makeRuntime,
    close: async () => {
      await client.close();
      await sim.close();
      await rm(work, { recursive: true, force: true });
    },
  };
}

export { request } from './request.js';
export { buildBusyboxImage };
