/**
 * End to end, as root, under runc and under crun (with the hybrid-cgroup workaround): bundles that
 * buildRuntimeSpec generated, observed from inside the container — the RuntimeDefault seccomp
 * allow-list (syscalls refused or allowed, seen by a probe built static with glibc and musl),
 * pod-shared files, and mount propagation.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { normalizeCreateContainerRequest } from '../../../../src/cri/normalize.js';
import { openImageLayout, type ResolvedImage } from '../../../../src/oci/image/layout.js';
import { LayerCache } from '../../../../src/oci/layers/layer-cache.js';
import { writeBundle, bundlePath, mountsBelow, type OciBundle as Bundle, type WriteBundleOptions } from '../../../../src/oci/bundle/write-bundle.js';
import { OciRuntimeDriver } from '../../../../src/runtimes/crun/driver.js';
import type { OciRuntimeDriverOptions } from '../../../../src/runtimes/crun/options.js';
import { buildBusyboxImage, missingBusybox } from '../../../helpers/busybox-image.js';
import { missing } from '../../../helpers/requirements.js';
import { until } from '../../../helpers/wait.js';
import { listHostDevices } from '../../../../src/oci/spec/collect.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
/**
 * DEVELOPERS.md's crun workaround, but keeping mount propagation (`unshare -m` alone makes every
 * mount private, which would hide what the propagation tests look for): the cgroup mounts are made
 * private in crun's namespace before the umount, so nothing propagates back to the host.
 */
const CRUN_WORKAROUND = [
  'unshare',
  '-m',
  '--propagation',
  'unchanged',
  '--',
  'sh',
  '-c',
  'for m in /sys/fs/cgroup /sys/fs/cgroup/unified; do mount --make-private "$m" 2>/dev/null; done; umount /sys/fs/cgroup/unified 2>/dev/null; exec "$0" "$@"',
];

interface RuntimeCase {
  name: string;
  skip: string | undefined;
  driver: (root: string, state: string) => OciRuntimeDriverOptions;
}

const busyboxSkip = missingBusybox();
const compilerSkip = missing({ tools: ['gcc', 'musl-gcc'] });
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

const ERRNO: Record<string, string> = { E1: 'EPERM', E14: 'EFAULT', E22: 'EINVAL', E38: 'ENOSYS', E95: 'EOPNOTSUPP', E97: 'EAFNOSUPPORT' };

/** `name=OK` / `name=E<n>` lines of the probe → `{ name: 'OK' | 'EPERM' | ... }`. */
function probeResults(lines: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of lines) {
    const m = /^([a-z_0-9]+)=(OK|E\d+)$/.exec(line);
    if (m) out[m[1] as string] = m[2] === 'OK' ? 'OK' : (ERRNO[m[2] as string] ?? (m[2] as string));
  }
  return out;
}

let work: string;
let resolved: ResolvedImage;
let cache: LayerCache;
/** Probe binaries on the host: static glibc, static musl, dynamic glibc (+ the libraries it loads). */
let probes: { glibc: string; musl: string; dynamic: string; dynamicLibs: string[] } | undefined;

beforeAll(async () => {
  if (RUNTIMES.every((r) => r.skip)) return;
  work = await mkdtemp(join(tmpdir(), 'lxcri-e2e-spec-'));
  const img = await buildBusyboxImage({ parent: work });
  resolved = await (await openImageLayout(img.layout)).resolve(img.tag);
  cache = new LayerCache({ root: join(work, 'layer-cache') });
  if (!compilerSkip) {
    const src = join(here, 'sysprobe.c');
    const out = join(work, 'probes');
    await mkdir(out);
    const p = { glibc: join(out, 'glibc'), musl: join(out, 'musl'), dynamic: join(out, 'dynamic'), dynamicLibs: [] as string[] };
    await run('gcc', ['-static', '-O1', '-o', p.glibc, src]);
    await run('musl-gcc', ['-static', '-O1', '-o', p.musl, src]);
    await run('gcc', ['-O1', '-o', p.dynamic, src]);
    const { stdout } = await run('ldd', [p.dynamic]);
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)"
    p.dynamicLibs = [...stdout.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x/g)].map((m) => m[1] as string);
    expect(p.dynamicLibs.some((l) => /ld-linux/.test(l))).toBe(true);
    probes = p;
  }
}, 120_000);

afterAll(async () => {
  if (work) {
    for (const m of (await mountsBelow(work).catch(() => [] as string[])).reverse()) await run('umount', ['-l', m]).catch(() => undefined);
    await rm(work, { recursive: true, force: true });
  }
});

describe.each(RUNTIMES)('generated bundles under $name', (rt) => {
  describe.skipIf(rt.skip)('real containers', () => {
    let base: string;
    let driver: OciRuntimeDriver;
    let seq = 0;
    beforeAll(async () => {
      base = await mkdtemp(join(work, `${rt.name}-`));
      driver = new OciRuntimeDriver(rt.driver(join(base, 'runtime-root'), join(base, 'state')));
    });

    /**
     * Writes a bundle for `config` (a crictl-style container config over the busybox image), lets
     * `prepare` add files to its rootfs, runs it to the end and returns its stdout lines.
     */
    async function runContainer(
      config: Record<string, unknown>,
      options: { sandbox?: Record<string, unknown>; spec?: WriteBundleOptions['spec']; prepare?: ((bundle: Bundle) => Promise<void>) | undefined; whileRunning?: (bundle: Bundle) => Promise<void> } = {},
    ): Promise<{ out: string[]; err: string[]; exitCode: number | null; bundle: Bundle }> {
      const id = `${rt.name}-${++seq}`;
      const request = normalizeCreateContainerRequest({
        pod_sandbox_id: 'sandbox-spec',
        config: { metadata: { name: `c${seq}` }, image: { image: 'busybox:e2e' }, ...config },
        sandbox_config: { metadata: { name: 'pod', uid: 'uid-spec', namespace: 'e2e' }, hostname: 'spec-pod', ...options.sandbox },
      });
      const bundle = await writeBundle(bundlePath(join(base, 'bundles'), id), {
        containerId: id,
        request,
        image: resolved,
        rootfsProvider: cache,
        rootfsMode: 'overlay',
        ...(options.spec ? { spec: options.spec } : {}),
      });
      const logPath = join(base, `${id}.log`);
      try {
        await options.prepare?.(bundle);
        await driver.create(id, { bundle: bundle.path, logPath });
        await driver.start(id);
        await options.whileRunning?.(bundle);
        const exit = await driver.waitForExit(id, { timeoutMs: 30_000 });
        const lines = (await readFile(logPath, 'utf8')).split('\n').filter(Boolean);
        const pick = (stream: string): string[] =>
          lines.flatMap((l) => {
            const m = /^\S+ (stdout|stderr) [FP] (.*)$/.exec(l);
            return m && m[1] === stream ? [m[2] as string] : [];
          });
        return { out: pick('stdout'), err: pick('stderr'), exitCode: exit.exitCode, bundle };
      } finally {
        await driver.delete(id, { force: true }).catch(() => undefined);
        await bundle.remove();
      }
    }

    /** Copies the probes (and the dynamic one's libraries, at their host paths) into the rootfs. */
    async function addProbes(bundle: Bundle): Promise<void> {
      if (!probes) throw new Error('probes not built');
      await mkdir(join(bundle.rootfs, 'probe'), { recursive: true });
      for (const [name, path] of [['glibc', probes.glibc], ['musl', probes.musl], ['dynamic', probes.dynamic]] as const) {
        await copyFile(path, join(bundle.rootfs, 'probe', name));
      }
      for (const lib of probes.dynamicLibs) {
        await mkdir(join(bundle.rootfs, dirname(lib)), { recursive: true });
        await copyFile(lib, join(bundle.rootfs, lib));
      }
    }

    describe.skipIf(compilerSkip)('RuntimeDefault seccomp (allow-list)', () => {
      it('runs ordinary programs: a busybox shell and its applets, glibc (static and dynamic) and musl start-up', async () => {
        const script = [
          'set -e',
          'echo "SECCOMP=$(grep ^Seccomp: /proc/self/status | tr -d "\\t ")"',
          'cd /tmp && echo hello > f && cat f && ls /tmp | grep -c f && stat -c %s f && rm f',
          'id -u; hostname; sleep 0.1; readlink /proc/self/exe >/dev/null; env | grep -c ^PATH=',
          'mount | grep -c " /proc " >/dev/null',
          '/probe/glibc getpid clone socket_inet',
          '/probe/musl getpid clone socket_inet',
          '/probe/dynamic getpid clone socket_inet',
          'echo DONE',
        ].join('\n');
        const r = await runContainer({ command: ['sh', '-c', script], linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault' } } } }, { prepare: addProbes });
        expect(r.bundle.spec.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ERRNO');
        expect(r.err).toEqual([]);
        expect(r.exitCode).toBe(0);
        expect(r.out).toEqual([
          'SECCOMP=Seccomp:2',
          'hello',
          '1',
          '6',
          '0',
          'spec-pod',
          '1',
          ...['glibc', 'musl', 'dynamic'].flatMap(() => ['getpid=OK', 'clone=OK', 'socket_inet=OK']),
          'DONE',
        ]);
      });

      it('answers EPERM to unshare, mount, keyctl, bpf, kexec_load and an unassigned syscall number; clone3 gets ENOSYS', async () => {
        const probe = { command: ['/probe/glibc'] };
        const confined = probeResults((await runContainer({ ...probe, linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault' } } } }, { prepare: addProbes })).out);
        const unconfined = probeResults((await runContainer({ ...probe, linux: { security_context: { seccomp: { profile_type: 'Unconfined' } } } }, { prepare: addProbes })).out);
        expect(confined).toEqual({
          getpid: 'OK',
          clone: 'OK',
          clone_newuser: 'EPERM',
          clone3: 'ENOSYS',
          unshare: 'EPERM',
          mount: 'EPERM',
          keyctl: 'EPERM',
          bpf: 'EPERM',
          kexec_load: 'EPERM',
          unassigned: 'EPERM',
          // above every number in the filter: runc answers ENOSYS there (so libc falls back), crun 1.8 the default action
          beyond: rt.name === 'runc' ? 'ENOSYS' : 'EPERM',
          personality_query: 'OK',
          personality_noaslr: 'EPERM',
          kcmp: 'EPERM',
          chroot: 'OK',
          io_uring_setup: 'EPERM',
          socket_inet: 'OK',
          socket_vsock: 'EPERM',
        });
        // The same calls without seccomp: the kernel itself answers otherwise, so the EPERMs above are the filter's.
        expect(unconfined).toMatchObject({ clone_newuser: 'OK', clone3: 'EINVAL', unshare: 'OK', mount: 'EFAULT', keyctl: 'EOPNOTSUPP', bpf: 'EINVAL', unassigned: 'ENOSYS', personality_noaslr: 'OK', kcmp: 'OK' });
        expect(unconfined['kexec_load']).not.toBe('OK');
        expect(unconfined['io_uring_setup']).not.toBe('EPERM');
        expect(unconfined['socket_vsock']).not.toBe('EPERM');
      });

      it('capabilities unlock their syscalls: CAP_SYS_ADMIN (unshare, mount, bpf, namespace clone, clone3), CAP_SYS_PTRACE (kcmp); the rest stays refused', async () => {
        const r = await runContainer(
          {
            command: ['/probe/musl'],
            linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault' }, capabilities: { add_capabilities: ['SYS_ADMIN', 'SYS_PTRACE', 'SYS_BOOT'] } } },
          },
          { prepare: addProbes },
        );
        expect(probeResults(r.out)).toMatchObject({
          clone_newuser: 'OK',
          clone3: 'EINVAL',
          unshare: 'OK',
          mount: 'EFAULT',
          bpf: 'EINVAL',
          kcmp: 'OK',
          keyctl: 'EPERM',
          kexec_load: 'EPERM',
          unassigned: 'EPERM',
          personality_noaslr: 'EPERM',
        });
      });

      it('the deny-list stays available as an opt-in: it refuses its list and allows the rest', async () => {
        const r = await runContainer({ command: ['/probe/glibc'], linux: { security_context: { seccomp: { profile_type: 'RuntimeDefault' } } } }, { prepare: addProbes, spec: { runtimeDefaultSeccomp: 'deny-list' } });
        expect(r.bundle.spec.linux.seccomp?.defaultAction).toBe('SCMP_ACT_ALLOW');
        expect(probeResults(r.out)).toMatchObject({ unshare: 'EPERM', mount: 'EPERM', keyctl: 'EPERM', bpf: 'EPERM', kexec_load: 'EPERM', unassigned: 'ENOSYS', clone_newuser: 'OK', kcmp: 'EPERM', personality_noaslr: 'OK' });
      });
    });

    it('pod files: containers see the pod’s hosts, hostname and resolv.conf and share its /dev/shm; a read-only rootfs makes the files read-only', async () => {
      const pod = join(base, 'pod-files');
      await mkdir(pod);
      const podFiles = { hostsPath: join(pod, 'hosts'), hostnamePath: join(pod, 'hostname'), resolvConfPath: join(pod, 'resolv.conf'), shmPath: join(pod, 'shm') };
      await writeFile(podFiles.hostsPath, '127.0.0.1 localhost\n10.1.2.3 spec-pod\n');
      await writeFile(podFiles.hostnamePath, 'spec-pod\n');
      await writeFile(podFiles.resolvConfPath, 'nameserver 10.96.0.10\nsearch e2e.svc.cluster.local\n');
      await mkdir(podFiles.shmPath);
      // what the sandbox does for the pod: one 64 MiB tmpfs shared by its containers
      await run('mount', ['-t', 'tmpfs', '-o', 'size=64m,mode=1777', 'shm', podFiles.shmPath]);
      try {
        const writer = await runContainer(
          {
            command: ['sh', '-c', 'cat /etc/hosts /etc/hostname /etc/resolv.conf; echo from-writer > /dev/shm/shared; echo "# added" >> /etc/hosts && echo HOSTS=rw'],
          },
          { spec: { podFiles } },
        );
        expect(writer.exitCode).toBe(0);
        expect(writer.out).toEqual(['127.0.0.1 localhost', '10.1.2.3 spec-pod', 'spec-pod', 'nameserver 10.96.0.10', 'search e2e.svc.cluster.local', 'HOSTS=rw']);
        expect(await readFile(join(podFiles.shmPath, 'shared'), 'utf8')).toBe('from-writer\n');
        expect(await readFile(podFiles.hostsPath, 'utf8')).toContain('# added');

        const reader = await runContainer(
          {
            command: ['sh', '-c', 'cat /dev/shm/shared; if echo x >> /etc/resolv.conf; then echo RESOLV=rw; else echo RESOLV=ro; fi; if touch /dev/shm/ok; then echo SHM=rw; fi'],
            linux: { security_context: { readonly_rootfs: true } },
          },
          { spec: { podFiles } },
        );
        expect(reader.out).toEqual(['from-writer', 'RESOLV=ro', 'SHM=rw']);
        expect(await readFile(podFiles.resolvConfPath, 'utf8')).toBe('nameserver 10.96.0.10\nsearch e2e.svc.cluster.local\n');
      } finally {
        await run('umount', [podFiles.shmPath]);
      }
    });

    /** A host directory that is a shared mount point, as kubelet requires of propagation sources. */
    async function sharedSource(name: string): Promise<{ path: string; cleanup: () => Promise<void> }> {
      const path = join(base, name);
      await mkdir(path);
      await run('mount', ['--bind', path, path]);
      await run('mount', ['--make-shared', path]);
      return {
        path,
        cleanup: async () => {
          for (const m of (await mountsBelow(path)).reverse()) await run('umount', ['-l', m]).catch(() => undefined);
          await run('umount', ['-l', path]).catch(() => undefined);
        },
      };
    }

    /** Polls for `file` until `deadlineMs`. */
    async function appears(file: string, deadlineMs = 5_000): Promise<boolean> {
      return until(() => readFile(file).then(() => true, () => false), `${file} to appear`, { timeoutMs: deadlineMs, intervalMs: 50 }).catch(() => false);
    }

    const privilegedPod = { linux: { security_context: { privileged: true } } };

    async function hostToContainer(override?: string): Promise<{ out: string[]; rootfsPropagation: string | undefined }> {
      const src = await sharedSource(`h2c-${++seq}`);
      try {
        const r = await runContainer(
          {
            command: ['sh', '-c', 'i=0; while [ ! -e /mnt/h2c/sub/marker ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; if [ -e /mnt/h2c/sub/marker ]; then echo SEEN; else echo NOT_SEEN; fi'],
            mounts: [{ container_path: '/mnt/h2c', host_path: src.path, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }],
          },
          {
            prepare: override === undefined ? undefined : (b) => patchPropagation(b, override),
            whileRunning: async () => {
              // after the container started: a new mount on the host, under the source
              await mkdir(join(src.path, 'sub'));
              await run('mount', ['-t', 'tmpfs', 'tmpfs', join(src.path, 'sub')]);
              await writeFile(join(src.path, 'sub', 'marker'), 'from the host\n');
            },
          },
        );
        return { out: r.out, rootfsPropagation: r.bundle.spec.linux.rootfsPropagation };
      } finally {
        await src.cleanup();
      }
    }

    async function bidirectional(override?: string): Promise<{ out: string[]; seenOnHost: boolean; rootfsPropagation: string | undefined }> {
      const src = await sharedSource(`bidi-${++seq}`);
      let seenOnHost = false;
      try {
        const r = await runContainer(
          {
            command: ['sh', '-c', 'mkdir -p /mnt/bidi/inner && mount -t tmpfs tmpfs /mnt/bidi/inner && echo inside > /mnt/bidi/inner/marker && echo MOUNTED && touch /mnt/bidi/mounted; i=0; while [ ! -e /mnt/bidi/done ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done'],
            mounts: [{ container_path: '/mnt/bidi', host_path: src.path, propagation: 'PROPAGATION_BIDIRECTIONAL' }],
            linux: { security_context: { privileged: true } },
          },
          {
            sandbox: privilegedPod,
            prepare: override === undefined ? undefined : (b) => patchPropagation(b, override),
            whileRunning: async () => {
              // the flag is written beside the mount point, in the shared directory itself: once it is
              // there the mount inside is done, and it propagated or it did not
              expect(await appears(join(src.path, 'mounted'))).toBe(true);
              seenOnHost = await readFile(join(src.path, 'inner', 'marker')).then(() => true, () => false);
              await writeFile(join(src.path, 'done'), '');
            },
          },
        );
        return { out: r.out, seenOnHost, rootfsPropagation: r.bundle.spec.linux.rootfsPropagation };
      } finally {
        await src.cleanup();
      }
    }

    async function patchPropagation(bundle: Bundle, value: string): Promise<void> {
      const config = JSON.parse(await readFile(bundle.configPath, 'utf8')) as { linux: Record<string, unknown> };
      if (value === 'none') delete config.linux['rootfsPropagation'];
      else config.linux['rootfsPropagation'] = value;
      await writeFile(bundle.configPath, JSON.stringify(config));
    }

    it('HOST_TO_CONTAINER: a mount made on the host under the source after the start is seen inside; rootfsPropagation "slave" (containerd’s "rslave" behaves the same)', async () => {
      const generated = await hostToContainer();
      expect(generated).toEqual({ out: ['SEEN'], rootfsPropagation: 'slave' });
      expect((await hostToContainer('rslave')).out).toEqual(['SEEN']);
    });

    it('BIDIRECTIONAL: a mount made inside appears on the host; rootfsPropagation "shared" (containerd’s "rshared" the same, a slave root does not)', async () => {
      const generated = await bidirectional();
      expect(generated).toEqual({ out: ['MOUNTED'], seenOnHost: true, rootfsPropagation: 'shared' });
      expect(await bidirectional('rshared')).toMatchObject({ out: ['MOUNTED'], seenOnHost: true });
      // the control: with the root a recursive slave (runc's default) the mount stays inside
      expect(await bidirectional('rslave')).toMatchObject({ out: ['MOUNTED'], seenOnHost: false });
    });

    it('privileged: every device node of the host is in the container (kvm, fuse, net/tun, loop, ...), with its numbers; not when unprivileged', async () => {
      const host = await listHostDevices();
      expect(host.length).toBeGreaterThan(0);
      const paths = host.map((d) => d.path);
      const script = `for p in ${paths.join(' ')}; do if [ -e "$p" ]; then stat -L -c '%n %t %T' "$p"; else echo "$p missing"; fi; done`;
      // (-L: the runtime makes /dev/ptmx a symlink to pts/ptmx, the same device)
      const r = await runContainer({ command: ['sh', '-c', script], linux: { security_context: { privileged: true } } }, { sandbox: privilegedPod });
      expect(r.exitCode).toBe(0);
      expect(r.bundle.spec.linux.devices?.map((d) => d.path)).toEqual(paths);
      expect(r.out).toEqual(host.map((d) => `${d.path} ${d.major.toString(16)} ${d.minor.toString(16)}`));
      for (const wanted of ['/dev/kvm', '/dev/fuse', '/dev/net/tun']) {
        if (await stat(wanted).then(() => true, () => false)) expect(paths).toContain(wanted);
      }
      const plain = await runContainer({ command: ['sh', '-c', `for p in ${paths.join(' ')}; do [ -e "$p" ] && echo "$p"; done; true`] });
      // an unprivileged container keeps only the runtime's defaults (null, zero, full, tty, random, urandom, ptmx)
      expect(plain.out.filter((p) => !['/dev/null', '/dev/zero', '/dev/full', '/dev/tty', '/dev/random', '/dev/urandom', '/dev/ptmx'].includes(p))).toEqual([]);
    });
  });
});
