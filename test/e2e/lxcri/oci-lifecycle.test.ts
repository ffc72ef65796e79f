/**
 * The facade on the crun/runc path, as root, with real containers: createContainer over the layer
 * cache, the lifecycle verbs, a pod whose containers share namespaces and files, rollback leaving
 * no bundle, mount or record behind, and restart recovery — under runc, and under crun with the
 * hybrid-cgroup workaround of DEVELOPERS.md.
 */
import { mkdtemp, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Lxcri, type LxcriOptions } from '../../../src/index.js';
import { mountsBelow } from '../../../src/exports/oci.js';
import { CRUN_HYBRID_CGROUP_PREFIX } from '../../../src/lxcri/oci-runtime.js';
import { buildDemoImage, type DemoImage } from '../../../src/testing/index.js';
import { missingBusybox } from '../../helpers/busybox-image.js';
import { caught } from '../../helpers/caught.js';
import { missing } from '../../helpers/requirements.js';
import { until } from '../../helpers/wait.js';

const busybox = missingBusybox();
const RUNTIMES: { name: string; skip: string | undefined; oci: LxcriOptions['oci'] }[] = [
  { name: 'runc', skip: missing({ tools: ['runc', 'perl', 'unshare'], root: true }) ?? busybox, oci: { runtime: 'runc' } },
  {
    name: 'crun',
    skip: missing({ tools: ['crun', 'perl', 'unshare'], root: true }) ?? busybox,
    oci: { runtime: 'crun', commandPrefix: [...CRUN_HYBRID_CGROUP_PREFIX], cgroupManager: 'disabled' },
  },
];

let work: string;
let image: DemoImage;
beforeAll(async () => {
  if (RUNTIMES.every((r) => r.skip)) return;
  work = await mkdtemp(join(tmpdir(), 'lxcri-facade-oci-'));
  image = await buildDemoImage(join(work, 'image'));
});
afterAll(async () => {
  if (work && (await mountsBelow(work)).length === 0) await rm(work, { recursive: true, force: true });
});

/** Polls (with a deadline) until the container has exited: the monitor records the exit. */
const exited = (lxcri: Lxcri, id: string): Promise<Awaited<ReturnType<Lxcri['containerStatus']>>> =>
  until(async () => {
    const s = await lxcri.containerStatus(id);
    return s.state === 'CONTAINER_EXITED' ? s : undefined;
  }, `container ${id} to exit`, { timeoutMs: 30_000, intervalMs: 20 });

const logLines = async (path: string): Promise<string[]> =>
  (await readFile(path, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => l.replace(/^\S+ (stdout|stderr) [FP] /, ''));

describe.each(RUNTIMES)('Lxcri under $name', (rt) => {
  describe.skipIf(rt.skip)('real containers', () => {
    let stateDir: string;
    const open: Lxcri[] = [];
    const options = (): LxcriOptions => ({ stateDir, images: image.layout, oci: rt.oci, policy: { defaultRuntime: 'crun' } });
    const make = (): Lxcri => {
      const l = new Lxcri(options());
      open.push(l);
      return l;
    };
    beforeAll(async () => {
      stateDir = await mkdtemp(join(work, `${rt.name}-`));
    });
    afterEach(async () => {
      const l = make();
      for (const pod of await l.listPodSandboxes()) await l.removePodSandbox(pod.id);
      for (const x of open.splice(0)) await x.close();
    });

    const pod = { metadata: { name: 'pod', uid: 'uid-1', namespace: 'e2e' }, hostname: 'e2e-pod', dns_config: { servers: ['192.0.2.53'], searches: ['example.test'] } };
    const request = (podSandboxId: string, logDir: string, name: string, command: string[]): Record<string, unknown> => ({
      pod_sandbox_id: podSandboxId,
      config: { metadata: { name }, image: { image: image.reference }, command, log_path: `${name}.log` },
      sandbox_config: { ...pod, log_directory: logDir },
    });

    it('creates, starts, reads the log, stops and removes; the pod shares its namespaces, hosts, resolv.conf and /dev/shm', async () => {
      const lxcri = make();
      const logDir = join(stateDir, 'logs');
      const { podSandboxId } = await lxcri.runPodSandbox({ ...pod, log_directory: logDir });
      const sleeper = await lxcri.createContainer(request(podSandboxId, logDir, 'sleeper', ['sh', '-c', 'echo shared > /dev/shm/from-sleeper; exec sleep 1000']));
      expect(sleeper.runtime).toBe('crun');
      expect(sleeper.bundlePath).toBe(join(stateDir, 'bundles', sleeper.containerId));
      expect(JSON.parse(await readFile(join(sleeper.bundlePath as string, 'config.json'), 'utf8')).process.args).toEqual(['sh', '-c', 'echo shared > /dev/shm/from-sleeper; exec sleep 1000']);
      expect((await lxcri.containerStatus(sleeper.containerId)).state).toBe('CONTAINER_CREATED');
      await lxcri.startContainer(sleeper.containerId);
      expect((await lxcri.containerStatus(sleeper.containerId)).state).toBe('CONTAINER_RUNNING');

      const sandbox = (await lxcri.listPodSandboxes())[0];
      const netns = sandbox?.namespacePaths.network as string;
      expect(netns).toBeDefined();
      const script = [
        'echo "NET=$(readlink /proc/self/ns/net)"',
        'echo "HOST=$(hostname)"',
        'echo "HOSTS=$(grep -c localhost /etc/hosts)"',
        'echo "RESOLV=$(grep nameserver /etc/resolv.conf)"',
        'echo "SHM=$(cat /dev/shm/from-sleeper)"',
        'exit 3',
      ].join('; ');
      const reader = await lxcri.createContainer(request(podSandboxId, logDir, 'reader', ['sh', '-c', script]));
      await lxcri.startContainer(reader.containerId);
      const done = await exited(lxcri, reader.containerId);
      expect(done).toMatchObject({ exitCode: 3, reason: 'Error', logPath: join(logDir, 'reader.log') });
      const lines = await logLines(done.logPath);
      // the pod's network namespace: the inode of the namespace file
      expect(lines).toContain(`NET=net:[${(await stat(netns)).ino}]`);
      expect(lines).not.toContain(`NET=${await readlink('/proc/self/ns/net')}`);
      expect(lines).toContain('HOST=e2e-pod');
      expect(lines).toContain('RESOLV=nameserver 192.0.2.53');
      expect(lines).toContain('HOSTS=2');
      expect(lines).toContain('SHM=shared');

      await lxcri.stopContainer(sleeper.containerId, 1);
      const stopped = await lxcri.containerStatus(sleeper.containerId);
      expect(stopped.state).toBe('CONTAINER_EXITED');
      expect(stopped.finishedAt).toBeInstanceOf(Date);
      await lxcri.removeContainer(sleeper.containerId);
      await lxcri.removeContainer(reader.containerId);
      expect(await readdir(join(stateDir, 'bundles'))).toEqual([]);
      expect(await mountsBelow(join(stateDir, 'bundles'))).toEqual([]);
      await lxcri.removePodSandbox(podSandboxId);
      expect(await mountsBelow(stateDir)).toEqual([]);
    });

    it('rolls back a failed create: no bundle, mount, runtime container or record; the pod namespaces it made are gone', async () => {
      // a runtime that answers --version but cannot create anything: its state root cannot be made
      const failing = { ...rt.oci, globalArgs: ['--root', '/proc/lxcri-cannot-create-this'] };
      const broken = new Lxcri({ ...options(), oci: { ...failing, root: '/proc/lxcri-cannot-create-this' } });
      open.push(broken);
      const logDir = join(stateDir, 'logs');
      const { podSandboxId } = await broken.runPodSandbox({ ...pod, log_directory: logDir });
      const error = await caught(broken.createContainer(request(podSandboxId, logDir, 'doomed', ['true'])));
      expect(error).toMatchObject({ code: 'ERR_OCI_RUNTIME' });
      expect(await readdir(join(stateDir, 'bundles'))).toEqual([]);
      expect(await mountsBelow(stateDir)).toEqual([]);
      expect(await broken.listContainers()).toEqual([]);
      expect((await broken.listPodSandboxes())[0]?.namespacePaths).toEqual({});

      // an abort while the rootfs is prepared rolls back the same way
      const lxcri = make();
      const controller = new AbortController();
      const aborted = await caught(
        lxcri.createContainer(request(podSandboxId, logDir, 'aborted', ['true']), {
          signal: controller.signal,
          onProgress: (p) => {
            if (p.step === 'prepare' && p.event === 'begin') controller.abort();
          },
        }),
      );
      expect(aborted).toMatchObject({ grpcStatus: 'Cancelled' });
      expect(await readdir(join(stateDir, 'bundles')).catch(() => [])).toEqual([]);
      expect(await mountsBelow(stateDir)).toEqual([]);
      expect(await lxcri.listContainers()).toEqual([]);

      // the bundle fails (a user the image does not have) while the pod's namespaces are being
      // made beside it: both are undone
      const unknownUser = request(podSandboxId, logDir, 'no-user', ['true']);
      (unknownUser['config'] as Record<string, unknown>)['linux'] = { security_context: { run_as_username: 'no-such-user' } };
      const steps: string[] = [];
      expect(await caught(lxcri.createContainer(unknownUser, { onProgress: (p) => steps.push(`${p.step} ${p.event}`) }))).toMatchObject({ code: 'ERR_CRI_VALIDATION' });
      expect(steps).toContain('prepare begin');
      expect(await readdir(join(stateDir, 'bundles')).catch(() => [])).toEqual([]);
      expect(await mountsBelow(stateDir)).toEqual([]);
      expect(await lxcri.listContainers()).toEqual([]);
      expect((await lxcri.listPodSandboxes())[0]?.namespacePaths).toEqual({});
    });

    it('state survives a restart; reconcile removes a bundle without a record (overlay unmounted)', async () => {
      const first = make();
      const logDir = join(stateDir, 'logs');
      const { podSandboxId } = await first.runPodSandbox({ ...pod, log_directory: logDir });
      const kept = await first.createContainer(request(podSandboxId, logDir, 'kept', ['sleep', '1000']));
      await first.startContainer(kept.containerId);
      const lost = await first.createContainer(request(podSandboxId, logDir, 'lost', ['true']));
      await first.close();
      await rm(join(stateDir, 'containers', `${lost.containerId}.json`));

      const second = make();
      expect((await second.listContainers()).map((c) => [c.id, c.state])).toEqual([[kept.containerId, 'CONTAINER_RUNNING']]);
      const report = await second.reconcile();
      expect(report.consistent).toEqual([kept.containerId]);
      expect(report.orphans.map((o) => o.id)).toEqual([lost.containerId]);
      await second.reconcile({ remove: true });
      expect(await readdir(join(stateDir, 'bundles'))).toEqual([kept.containerId]);
      expect(await mountsBelow(join(stateDir, 'bundles', lost.containerId))).toEqual([]);
      await second.stopContainer(kept.containerId, 0);
      expect((await second.containerStatus(kept.containerId)).state).toBe('CONTAINER_EXITED');
    });
  });
});
