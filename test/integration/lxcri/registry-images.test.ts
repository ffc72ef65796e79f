/**
 * The facade pulls what a pod names: `images: { store, pullPolicy }` resolves `config.image.image`
 * from a registry (a small registry on loopback serving the demo image), as kubelet's pull
 * policies say.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lxcri, type LxcriOptions } from '../../../src/index.js';
import { buildDemoImage, startPveSimulator, type PveSimulator } from '../../../src/testing/index.js';
import { caught } from '../../helpers/caught.js';
import { startFakeRegistry, type FakeRegistry } from '../oci/registry/fake-registry.js';

let work: string;
let sim: PveSimulator;
let registry: FakeRegistry;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lxcri-facade-registry-'));
  const image = await buildDemoImage(join(work, 'image'));
  registry = await startFakeRegistry(image.layout);
  sim = await startPveSimulator({ taskDurationsMs: { default: 5 } });
});
afterAll(async () => {
  await registry?.close();
  await sim?.close();
  await rm(work, { recursive: true, force: true });
});

const options = (stateDir: string, pullPolicy: 'if-missing' | 'always' | 'never'): LxcriOptions => {
  return {
    stateDir,
    images: { store: join(work, 'store'), pullPolicy, insecureRegistries: [registry.host] },
    policy: { defaultRuntime: 'proxmox-lxc' },
    hostChecks: false,
    proxmox: {
      client: { ...sim.clientOptions(), tasks: { pollMinMs: 5, pollMaxMs: 20 } },
      lxc: { workDir: join(stateDir, 'templates'), pollMs: 5 },
    },
  };
};

describe('Lxcri with a registry image store', () => {
  it('pulls a missing image (if-missing), then uses the store without the registry (never)', async () => {
    const reference = `${registry.host}/test/app:latest`;
    const pod = (name: string): Record<string, unknown> => ({ metadata: { name, uid: `uid-${name}`, namespace: 'default' } });
    const create = async (lxcri: Lxcri, name: string): Promise<string> => {
      const { podSandboxId } = await lxcri.runPodSandbox(pod(name));
      const phases: string[] = [];
      const made = await lxcri.createContainer(
        { pod_sandbox_id: podSandboxId, config: { metadata: { name }, image: { image: reference } }, sandbox_config: pod(name) },
        { onProgress: (p) => p.step === 'image' && p.phase && phases.push(p.phase) },
      );
      expect(made.image.reference).toContain('test/app');
      return phases.join(',');
    };
    const first = new Lxcri(options(join(work, 'state-1'), 'if-missing'));
    try {
      expect(await create(first, 'pulled')).toContain('pull');
    } finally {
      await first.close();
    }
    const seen = registry.requests.length;
    const second = new Lxcri(options(join(work, 'state-2'), 'never'));
    try {
      expect(await create(second, 'cached')).toBe('');
      expect(registry.requests.length).toBe(seen);
      // `never` and an image the store lacks: NotFound, nothing made
      const { podSandboxId } = await second.runPodSandbox(pod('absent'));
      const error = await caught(second.createContainer({ pod_sandbox_id: podSandboxId, config: { metadata: { name: 'absent' }, image: { image: `${registry.host}/test/app:nope` } }, sandbox_config: pod('absent') }));
      expect(error).toMatchObject({ code: 'ERR_NOT_FOUND' });
      expect((await second.listContainers()).map((c) => c.name)).toEqual(['cached']);
    } finally {
      await second.close();
    }
  });
});
