/**
 * What a crun/runc pod shares between its containers, as containerd's sandbox (pause container)
 * provides it: network, IPC and UTS namespaces, and the pod's `/etc/hosts`, `/etc/hostname`,
 * `/etc/resolv.conf` and `/dev/shm`.
 *
 * The namespaces are persistent namespace files (`unshare --net=FILE`, as `ip netns add` makes
 * them) under `<podDir>/ns/`, which is a private bind mount of itself so the nsfs mounts do not
 * propagate. No process is needed to keep them; the PID namespace cannot be kept that way (a PID
 * namespace whose init has exited takes no new processes), so pod-shared PID namespaces are not
 * provided: a container asking for `pid: POD` gets its own PID namespace (documented difference).
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, throwIfAborted } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NormalizedPodSandboxConfig, SandboxNamespacePaths } from '../cri/types.js';
import { mountsBelow } from '../oci/bundle/write-bundle.js';

/** Files a pod provides to its containers (absolute host paths). */
export interface PodFiles {
  hostsPath: string;
  hostnamePath: string;
  resolvConfPath: string;
  /** The pod's `/dev/shm` (a tmpfs mount), when the pod has a private IPC namespace and we are root. */
  shmPath?: string | undefined;
}

/** What {@link createPodResources} made. */
export interface PodResources {
  namespacePaths: SandboxNamespacePaths;
  files: PodFiles;
}

/** The default `/etc/hosts` of a pod with its own network namespace (containerd's content). */
const DEFAULT_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'fe00::0\tip6-mcastprefix',
  'fe00::1\tip6-allnodes',
  'fe00::2\tip6-allrouters',
  '',
].join('\n');

/** Size of a pod's `/dev/shm`, containerd's default (64 MiB). */
const SHM_SIZE = '65536k';

interface RunResult {
  code: number | null;
  stderr: string;
}

function run(command: string, args: readonly string[], signal?: AbortSignal): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 8192) stderr += d;
    });
    child.on('error', (error) => resolve({ code: null, stderr: error.message }));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

async function mustRun(command: string, args: readonly string[], what: string, signal?: AbortSignal): Promise<void> {
  const result = await run(command, args, signal);
  throwIfAborted(signal, what);
  if (result.code !== 0) throw new FailedPreconditionError(`${what} failed: ${command} ${args.join(' ')}: ${result.stderr.trim() || `exit ${String(result.code)}`}`, { reason: what });
}

/** The pod's directory under the state dir. */
export function podDir(stateDir: string, sandboxId: string): string {
  return join(stateDir, 'pods', sandboxId);
}

/** The files of a pod (whether or not they exist yet). */
export function podFiles(dir: string, withShm: boolean): PodFiles {
  return {
    hostsPath: join(dir, 'hosts'),
    hostnamePath: join(dir, 'hostname'),
    resolvConfPath: join(dir, 'resolv.conf'),
    ...(withShm ? { shmPath: join(dir, 'shm') } : {}),
  };
}

function resolvConf(config: NormalizedPodSandboxConfig, hostResolvConf: string): string {
  const dns = config.dnsConfig;
  if (!dns || (dns.servers.length === 0 && dns.searches.length === 0 && dns.options.length === 0)) return hostResolvConf;
  const lines: string[] = [];
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  for (const server of dns.servers) lines.push(`nameserver ${server}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Makes a pod's shared resources in `dir` (which must not exist): the files always; the
 * namespaces and the shm tmpfs only with `namespaces: true` (root). Anything that fails undoes what
 * this call made.
 */
export async function createPodResources(
  dir: string,
  config: NormalizedPodSandboxConfig,
  options: { namespaces: boolean; logger: Logger; signal?: AbortSignal | undefined },
): Promise<PodResources> {
  const { signal, logger } = options;
  const ns = config.linux.securityContext.namespaceOptions;
  const hostNetwork = ns.network === 'NODE';
  const hostIpc = ns.ipc === 'NODE';
  await mkdir(join(dir, '..'), { recursive: true, mode: 0o700 });
  await mkdir(dir, { mode: 0o711 });
  try {
    const files = podFiles(dir, options.namespaces && !hostIpc);
    const name = hostNetwork ? osHostname() : config.hostname || config.metadata.name;
    const hostResolv = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    await writeFile(files.hostsPath, hostNetwork ? await readFile('/etc/hosts', 'utf8').catch(() => DEFAULT_HOSTS) : DEFAULT_HOSTS, { mode: 0o644 });
    await writeFile(files.hostnamePath, `${name}\n`, { mode: 0o644 });
    await writeFile(files.resolvConfPath, resolvConf(config, hostResolv), { mode: 0o644 });
    const namespacePaths: SandboxNamespacePaths = {};
    if (files.shmPath) {
      await mkdir(files.shmPath, { mode: 0o1777 });
      await mustRun('mount', ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,mode=1777,size=${SHM_SIZE}`, 'shm', files.shmPath], 'mounting the pod /dev/shm', signal);
    }
    if (options.namespaces) {
      const nsDir = join(dir, 'ns');
      await mkdir(nsDir, { mode: 0o700 });
      // a private mount point of its own, so the namespace bind mounts do not propagate anywhere
      await mustRun('mount', ['--bind', nsDir, nsDir], 'preparing the pod namespace directory', signal);
      await mustRun('mount', ['--make-private', nsDir], 'preparing the pod namespace directory', signal);
      const args: string[] = [];
      const kinds: [keyof SandboxNamespacePaths, string][] = [];
      if (!hostNetwork) kinds.push(['network', 'net'], ['uts', 'uts']);
      if (!hostIpc) kinds.push(['ipc', 'ipc']);
      for (const [key, file] of kinds) {
        const path = join(nsDir, file);
        await writeFile(path, '', { mode: 0o400 });
        args.push(`--${file}=${path}`);
        namespacePaths[key] = path;
      }
      if (args.length > 0) {
        // inside the new namespaces: set the pod's hostname and bring loopback up (ip is optional)
        const script = 'hostname "$1" 2>/dev/null || echo "$1" > /proc/sys/kernel/hostname; command -v ip >/dev/null && ip link set lo up; exit 0';
        await mustRun('unshare', [...args, '--', 'sh', '-c', script, 'sh', name], 'creating the pod namespaces', signal);
      }
    }
    logger.debug({ dir, namespaces: Object.keys(namespacePaths) }, 'pod resources created');
    return { namespacePaths, files };
  } catch (error) {
    await removePodResources(dir, logger).catch((e: unknown) => logger.error({ dir, error: String(e) }, 'cleaning up a failed pod set-up failed'));
    throw error;
  }
}

/** Unmounts (deepest first) and removes a pod's directory. Idempotent. */
export async function removePodResources(dir: string, logger: Logger): Promise<void> {
  const mounts = await mountsBelow(dir).catch(() => [] as string[]);
  for (const mount of mounts.sort((a, b) => b.length - a.length)) {
    const result = await run('umount', [mount]);
    if (result.code !== 0) {
      // a namespace file still in use by a container is detached lazily; the namespace lives on until it exits
      const lazy = await run('umount', ['-l', mount]);
      if (lazy.code !== 0) throw new FailedPreconditionError(`cannot unmount ${mount}: ${lazy.stderr.trim()}`, { path: mount, reason: 'umount failed' });
      logger.warn({ mount }, 'pod mount was busy; detached lazily');
    }
  }
  await rm(dir, { recursive: true, force: true });
}
