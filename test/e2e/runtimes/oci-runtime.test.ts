/**
 * End to end, as root: a busybox image built with umoci → writeBundle → OciRuntimeDriver under
 * runc, and under crun with the hybrid-cgroup workaround of DEVELOPERS.md.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeCreateContainerRequest } from '../../../src/cri/normalize.js';
import { openImageLayout } from '../../../src/oci/image/layout.js';
import type { ResolvedImage } from '../../../src/oci/image/layout.js';
import { LayerCache } from '../../../src/oci/layers/layer-cache.js';
import { OciRuntimeDriver, writeBundle } from '../../../src/index.js';
import { bundlePath, mountsBelow } from '../../../src/exports/oci.js';
import { OciRuntimeError } from '../../../src/exports/errors.js';
import { type OciRuntimeDriverOptions } from '../../../src/exports/runtimes.js';
import { buildBusyboxImage, missingBusybox, type BusyboxImage } from '../../helpers/busybox-image.js';
import { missing } from '../../helpers/requirements.js';

const CRUN_WORKAROUND = ['unshare', '-m', '--', 'sh', '-c', 'umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"'];

interface RuntimeCase {
  name: string;
  skip: string | undefined;
  driver: (root: string, state: string) => OciRuntimeDriverOptions;
}

const busyboxSkip = missingBusybox();
const RUNTIMES: RuntimeCase[] = [
  {
    name: 'runc',
    skip: missing({ tools: ['runc', 'umoci', 'perl'], root: true }) ?? busyboxSkip,
    driver: (root, state) => ({ runtime: 'runc', globalArgs: ['--root', root], stateDir: state }),
  },
  {
    name: 'crun',
    skip: missing({ tools: ['crun', 'umoci', 'perl', 'unshare'], root: true }) ?? busyboxSkip,
    driver: (root, state) => ({ runtime: 'crun', commandPrefix: CRUN_WORKAROUND, globalArgs: ['--root', root, '--cgroup-manager=disabled'], stateDir: state }),
  },
];

/** Parses CRI log lines (`<time> <stream> <F|P> <text>`). */
function parseCriLog(text: string): { stream: string; tag: string; text: string }[] {
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^(\S+) (stdout|stderr) ([FP]) (.*)$/.exec(line);
      if (!m) throw new Error(`not a CRI log line: ${line}`);
      expect(Number.isNaN(Date.parse(m[1] as string))).toBe(false);
      return { stream: m[2] as string, tag: m[3] as string, text: m[4] as string };
    });
}

let img: BusyboxImage | undefined;
let resolved: ResolvedImage | undefined;
let work: string;
let cache: LayerCache;

beforeAll(async () => {
  if (RUNTIMES.every((r) => r.skip)) return;
  work = await mkdtemp(join(tmpdir(), 'lxcri-e2e-oci-'));
  img = await buildBusyboxImage({ parent: work });
  const layout = await openImageLayout(img.layout);
  resolved = await layout.resolve(img.tag);
  cache = new LayerCache({ root: join(work, 'layer-cache') });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe.each(RUNTIMES)('OCI runtime driver under $name', (rt) => {
  describe.skipIf(rt.skip)('real containers', () => {
    let base: string;
    let driver: OciRuntimeDriver;
    const created = new Set<string>();
    beforeAll(async () => {
      base = await mkdtemp(join(work, `${rt.name}-`));
      driver = new OciRuntimeDriver(rt.driver(join(base, 'runtime-root'), join(base, 'state')));
      // Remember every container a test creates, so a failing test leaves no container running.
      const create = driver.create.bind(driver);
      driver.create = async (id, options) => {
        created.add(id);
        return create(id, options);
      };
    });
    afterAll(async () => {
      for (const id of created) await driver.delete(id, { force: true }).catch(() => undefined);
      for (const mount of (await mountsBelow(base).catch(() => [] as string[])).reverse()) {
        await new Promise((res) => execFile('umount', [mount], () => res(undefined)));
      }
    });

    it('runs the container: log has env, cwd, uid/gid, hostname; the read-only bind refuses writes; kill + delete leave nothing behind', async () => {
      const roSource = join(base, 'ro-source');
      await mkdir(roSource);
      await writeFile(join(roSource, 'hello.txt'), 'hello from the host\n');
      const logDir = join(base, 'logs');
      await mkdir(logDir);
      const request = normalizeCreateContainerRequest({
        pod_sandbox_id: 'sandbox-e2e',
        config: {
          metadata: { name: 'probe' },
          image: { image: 'busybox:e2e' },
          command: ['sh', '-c'],
          args: [
            [
              'echo "ENV_SHARED=$SHARED"',
              'echo "ENV_IMAGE=$IMAGE_VAR"',
              'echo "ENV_CRI=$CRI_VAR"',
              'echo "ENV_HOSTNAME=$HOSTNAME"',
              'echo "CWD=$(pwd)"',
              'echo "UID=$(id -u) GID=$(id -g) GROUPS=$(id -G)"',
              'echo "HOST=$(hostname)"',
              'echo "RO_READ=$(cat /ro/hello.txt)"',
              'if touch /ro/new-file; then echo RO_WRITE=allowed; else echo RO_WRITE=denied; fi',
              "grep -E '^(Seccomp|CapBnd|NoNewPrivs):' /proc/self/status | tr '\\t' ' '",
              'echo to-stderr >&2',
              'exit 7',
            ].join('; '),
          ],
          envs: [
            { key: 'SHARED', value: 'from-cri' },
            { key: 'CRI_VAR', value: 'a b=c' },
          ],
          working_dir: '/home/alice',
          mounts: [{ container_path: '/ro', host_path: roSource, readonly: true }],
          log_path: 'probe.log',
          linux: { security_context: { run_as_username: 'alice', supplemental_groups: [4242], seccomp: {} } },
        },
        sandbox_config: { metadata: { name: 'pod', uid: 'uid-1', namespace: 'e2e' }, hostname: 'e2e-pod', log_directory: logDir },
      });
      const id = `probe-${rt.name}`;
      const bundleDir = bundlePath(join(base, 'bundles'), id);
      const bundle = await writeBundle(bundleDir, { containerId: id, request, image: resolved as ResolvedImage, rootfsProvider: cache, rootfsMode: 'overlay' });
      expect(bundle.path).toBe(bundleDir);
      expect(bundle.rootfsMode).toBe('overlay');
      expect(await mountsBelow(bundleDir)).toEqual([join(bundleDir, 'rootfs')]);
      expect(existsSync(join(bundleDir, 'config.json'))).toBe(true);
      expect(bundle.spec.process.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 4242, 50, 44] });

      const logPath = join(logDir, 'probe.log');
      const { pid } = await driver.create(id, { bundle: bundle.path, logPath });
      expect(pid).toBeGreaterThan(1);
      const created = await driver.state(id);
      expect(created).toMatchObject({ id, status: 'created', pid });
      expect(created.exit).toBeUndefined();
      // OCI create must not run the process: nothing is logged until start.
      expect(await readFile(logPath, 'utf8')).toBe('');

      await driver.start(id);
      const exit = await driver.waitForExit(id, { timeoutMs: 30_000 });
      expect(exit).toMatchObject({ pid, exitCode: 7, signal: null });
      const stopped = await driver.state(id);
      expect(stopped.status).toBe('stopped');
      expect(stopped.exit?.exitCode).toBe(7);

      const lines = parseCriLog(await readFile(logPath, 'utf8'));
      const out = lines.filter((l) => l.stream === 'stdout').map((l) => l.text);
      expect(out).toEqual([
        'ENV_SHARED=from-cri',
        'ENV_IMAGE=from-image',
        'ENV_CRI=a b=c',
        'ENV_HOSTNAME=e2e-pod',
        'CWD=/home/alice',
        // the kernel keeps supplementary groups sorted; `id -G` prints the primary group first
        'UID=1000 GID=1000 GROUPS=1000 44 50 4242',
        'HOST=e2e-pod',
        'RO_READ=hello from the host',
        'RO_WRITE=denied',
        // no_new_privs false; containerd's 14 default capabilities (Docker's well-known a80425fb);
        // RuntimeDefault seccomp is a filter (mode 2)
        'CapBnd: 00000000a80425fb',
        'NoNewPrivs: 0',
        'Seccomp: 2',
      ]);
      const err = lines.filter((l) => l.stream === 'stderr').map((l) => l.text);
      expect(err).toContain('to-stderr');
      expect(err.some((l) => /Read-only file system/.test(l))).toBe(true);
      expect(existsSync(join(roSource, 'new-file'))).toBe(false);

      await driver.delete(id);
      await expect(driver.state(id)).rejects.toBeInstanceOf(OciRuntimeError);
      await bundle.remove();
      expect(existsSync(bundleDir)).toBe(false);
      expect(await mountsBelow(join(base, 'bundles'))).toEqual([]);
      expect(existsSync(driver.containerStateDir(id))).toBe(false);
    });

    it('security context: read-only rootfs, no_new_privs, dropped capabilities, masked and read-only paths', async () => {
      const request = normalizeCreateContainerRequest({
        pod_sandbox_id: 'sandbox-e2e',
        config: {
          metadata: { name: 'locked' },
          image: { image: 'busybox:e2e' },
          command: ['sh', '-c'],
          args: [
            [
              'if touch /rootfs-write 2>/dev/null; then echo ROOTFS=rw; else echo ROOTFS=ro; fi',
              "grep -E '^(CapBnd|CapEff|NoNewPrivs):' /proc/self/status | tr '\\t' ' '",
              'if [ -s /etc/group ]; then echo MASKED=no; else echo MASKED=yes; fi',
              'if touch /proc/sys/kernel/lxcri 2>/dev/null; then echo PROCSYS=rw; else echo PROCSYS=ro; fi',
            ].join('; '),
          ],
          linux: {
            security_context: {
              readonly_rootfs: true,
              no_new_privs: true,
              capabilities: { drop_capabilities: ['ALL'], add_capabilities: ['NET_BIND_SERVICE'] },
              masked_paths: ['/etc/group'],
              readonly_paths: ['/proc/sys'],
            },
          },
        },
        sandbox_config: { metadata: { name: 'pod', uid: 'uid-1', namespace: 'e2e' }, hostname: 'e2e-pod' },
      });
      const id = `locked-${rt.name}`;
      const logPath = join(base, `${id}.log`);
      const bundle = await writeBundle(bundlePath(join(base, 'bundles'), id), { containerId: id, request, image: resolved as ResolvedImage, rootfsProvider: cache });
      try {
        await driver.create(id, { bundle: bundle.path, logPath });
        await driver.start(id);
        expect(await driver.waitForExit(id, { timeoutMs: 30_000 })).toMatchObject({ exitCode: 0 });
        const out = parseCriLog(await readFile(logPath, 'utf8'))
          .filter((l) => l.stream === 'stdout')
          .map((l) => l.text);
        expect(out).toEqual(['ROOTFS=ro', 'CapEff: 0000000000000400', 'CapBnd: 0000000000000400', 'NoNewPrivs: 1', 'MASKED=yes', 'PROCSYS=ro']);
      } finally {
        await driver.delete(id, { force: true }).catch(() => undefined);
        await bundle.remove();
      }
      expect(existsSync(bundle.path)).toBe(false);
    });

    it('joins the sandbox’s network, IPC, UTS and pid namespaces from the sandbox record', async () => {
      const pod = { metadata: { name: 'pod', uid: 'uid-ns', namespace: 'e2e' }, hostname: 'ns-pod' };
      const sandboxRequest = normalizeCreateContainerRequest({
        pod_sandbox_id: 'sandbox-ns',
        config: { metadata: { name: 'pause' }, image: { image: 'busybox:e2e' }, command: ['sleep', '1000'] },
        sandbox_config: pod,
      });
      const sandboxId = `pause-${rt.name}`;
      const appId = `joiner-${rt.name}`;
      const pause = await writeBundle(bundlePath(join(base, 'bundles'), sandboxId), { containerId: sandboxId, request: sandboxRequest, image: resolved as ResolvedImage, rootfsProvider: cache });
      let app: Awaited<ReturnType<typeof writeBundle>> | undefined;
      try {
        const { pid } = await driver.create(sandboxId, { bundle: pause.path });
        await driver.start(sandboxId);
        const ns = (kind: string): string => `/proc/${pid}/ns/${kind}`;
        const record = { id: 'sandbox-ns', namespacePaths: { network: ns('net'), ipc: ns('ipc'), uts: ns('uts'), pid: ns('pid') } };
        const appRequest = normalizeCreateContainerRequest({
          pod_sandbox_id: 'sandbox-ns',
          config: {
            metadata: { name: 'app' },
            image: { image: 'busybox:e2e' },
            command: ['sh', '-c', 'for n in net ipc uts pid; do echo "$n=$(readlink /proc/self/ns/$n)"; done; echo "HOST=$(hostname)"'],
          },
          sandbox_config: pod,
        });
        app = await writeBundle(bundlePath(join(base, 'bundles'), appId), { containerId: appId, request: appRequest, image: resolved as ResolvedImage, rootfsProvider: cache, spec: { sandbox: record } });
        expect(app.spec.hostname).toBeUndefined();
        const logPath = join(base, `${appId}.log`);
        await driver.create(appId, { bundle: app.path, logPath });
        await driver.start(appId);
        expect(await driver.waitForExit(appId, { timeoutMs: 30_000 })).toMatchObject({ exitCode: 0 });
        const out = parseCriLog(await readFile(logPath, 'utf8')).map((l) => l.text);
        expect(out).toEqual([
          `net=${await readlink(ns('net'))}`,
          `ipc=${await readlink(ns('ipc'))}`,
          `uts=${await readlink(ns('uts'))}`,
          `pid=${await readlink(ns('pid'))}`,
          'HOST=ns-pod',
        ]);
        // and they really are the pod's, not the host's
        expect(await readlink(ns('net'))).not.toBe(await readlink('/proc/self/ns/net'));
      } finally {
        await driver.delete(appId, { force: true }).catch(() => undefined);
        await driver.delete(sandboxId, { force: true }).catch(() => undefined);
        await app?.remove();
        await pause.remove();
      }
      expect(await mountsBelow(join(base, 'bundles'))).toEqual([]);
    });

    it('a user namespace with POD mappings: root inside is host uid 100000 and owns its (copied, shifted) rootfs', async () => {
      const userns = { mode: 'POD', uids: [{ host_id: 100000, container_id: 0, length: 65536 }], gids: [{ host_id: 100000, container_id: 0, length: 65536 }] };
      const request = normalizeCreateContainerRequest({
        pod_sandbox_id: 'sandbox-userns',
        config: {
          metadata: { name: 'userns' },
          image: { image: 'busybox:e2e' },
          command: ['sh', '-c', "tr -s ' ' < /proc/self/uid_map; id -u; touch /tmp/made-inside; stat -c '%u:%g' /home/alice"],
          linux: { security_context: { namespace_options: { userns_options: userns } } },
        },
        sandbox_config: { metadata: { name: 'pod', uid: 'uid-u', namespace: 'e2e' }, linux: { security_context: { namespace_options: { userns_options: userns } } } },
      });
      const id = `userns-${rt.name}`;
      // overlay layers are shared and cannot be re-owned: refused, nothing left behind
      const refused = bundlePath(join(base, 'bundles'), `${id}-overlay`);
      await expect(writeBundle(refused, { containerId: id, request, image: resolved as ResolvedImage, rootfsProvider: cache, rootfsMode: 'overlay' })).rejects.toThrow(/needs a copied rootfs/);
      expect(existsSync(refused)).toBe(false);
      expect(await mountsBelow(join(base, 'bundles'))).toEqual([]);

      // The container's root (host uid 100000) must be able to traverse to its bundle.
      for (const d of [work, base]) await chmod(d, 0o711);
      const bundle = await writeBundle(bundlePath(join(base, 'bundles'), id), { containerId: id, request, image: resolved as ResolvedImage, rootfsProvider: cache, rootfsMode: 'copy' });
      expect((await stat(bundle.path)).uid).toBe(100000);
      const logPath = join(base, `${id}.log`);
      try {
        await driver.create(id, { bundle: bundle.path, logPath });
        await driver.start(id);
        expect(await driver.waitForExit(id, { timeoutMs: 30_000 })).toMatchObject({ exitCode: 0 });
        const out = parseCriLog(await readFile(logPath, 'utf8')).map((l) => l.text);
        expect(out).toEqual([' 0 100000 65536', '0', '0:0']);
        const made = await stat(join(bundle.rootfs, 'tmp/made-inside'));
        expect([made.uid, made.gid]).toEqual([100000, 100000]);
        expect((await stat(join(bundle.rootfs, 'home/alice'))).uid).toBe(100000);
        // the runtime chowns the container's stdio to its root: the host's /dev/null must not be one of them
        const devNull = await stat('/dev/null');
        expect([devNull.uid, devNull.gid]).toEqual([0, 0]);
      } finally {
        await driver.delete(id, { force: true }).catch(() => undefined);
        await bundle.remove();
      }
      expect(existsSync(bundle.path)).toBe(false);
    });

    it('kill records the signal; kill + delete leave no mount and no bundle directory', async () => {
      const request = normalizeCreateContainerRequest({
        pod_sandbox_id: 'sandbox-e2e',
        config: { metadata: { name: 'sleeper' }, image: { image: 'busybox:e2e' }, command: ['sleep', '1000'] },
        sandbox_config: { metadata: { name: 'pod', uid: 'uid-1', namespace: 'e2e' }, hostname: 'e2e-pod' },
      });
      const id = `sleeper-${rt.name}`;
      const bundle = await writeBundle(bundlePath(join(base, 'bundles'), id), { containerId: id, request, image: resolved as ResolvedImage, rootfsProvider: cache });
      expect(bundle.rootfsMode).toBe('overlay');
      const { pid } = await driver.create(id, { bundle: bundle.path });
      await driver.start(id);
      expect((await driver.state(id)).status).toBe('running');
      expect(existsSync(`/proc/${pid}`)).toBe(true);
      await driver.kill(id, { killSignal: 'SIGKILL' });
      const exit = await driver.waitForExit(id, { timeoutMs: 30_000 });
      expect(exit).toMatchObject({ pid, exitCode: null, signal: 'SIGKILL' });
      await driver.delete(id);
      await bundle.remove();
      expect(existsSync(bundle.path)).toBe(false);
      expect(await mountsBelow(base)).toEqual([]);
      expect(await readdir(join(base, 'bundles'))).not.toContain(id);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
    });

    it('delete --force removes a created (never started) container; a failing create surfaces the runtime’s stderr and leaves no state', async () => {
      const request = normalizeCreateContainerRequest({
        pod_sandbox_id: 'sandbox-e2e',
        config: { metadata: { name: 'bad' }, image: { image: 'busybox:e2e' }, command: ['/no/such/binary'] },
        sandbox_config: { metadata: { name: 'pod', uid: 'uid-1', namespace: 'e2e' } },
      });
      const id = `bad-${rt.name}`;
      const bundle = await writeBundle(bundlePath(join(base, 'bundles'), id), { containerId: id, request, image: resolved as ResolvedImage });
      let createError: unknown;
      try {
        await driver.create(id, { bundle: bundle.path });
        // crun validates the executable only at start: then start fails instead.
        await driver.start(id).catch((e: unknown) => {
          createError = e;
        });
        await driver.delete(id, { force: true });
      } catch (error) {
        createError = error;
      }
      expect(createError).toBeInstanceOf(OciRuntimeError);
      expect((createError as OciRuntimeError).details['stderr']).toMatch(/no such file|not found|No such file/i);
      expect(existsSync(driver.containerStateDir(id))).toBe(false);

      const { pid } = await driver.create(`${id}-2`, { bundle: bundle.path }).catch(() => ({ pid: 0 }));
      if (pid > 0) {
        expect((await driver.state(`${id}-2`)).status).toBe('created');
        await driver.delete(`${id}-2`, { force: true });
        expect(existsSync(`/proc/${pid}`)).toBe(false);
      }
      await bundle.remove();
      expect(existsSync(bundle.path)).toBe(false);
    });
  });
});
