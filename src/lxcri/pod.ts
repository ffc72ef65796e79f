/**
 * What a crun/runc pod shares between its containers, as containerd's sandbox (pause container)
 * provides it: network, IPC and UTS namespaces, and the pod's `/etc/hosts`, `/etc/hostname`,
 * `/etc/resolv.conf` and `/dev/shm`.
 *
 * The namespaces are persistent namespace files (`/proc/self/ns/<kind>` bind-mounted onto a file,
 * as `unshare --net=FILE` and `ip netns add` make them) under `<podDir>/ns/`, which is a private
 * bind mount of itself so the nsfs mounts do not propagate. One Perl process makes them with
 * system calls (`pod-namespaces-script.ts`); the util-linux tools where perl is missing. No process is needed to keep them; the PID namespace cannot be kept that way (a PID
 * namespace whose init has exited takes no new processes), so pod-shared PID namespaces are not
 * provided: a container asking for `pid: POD` gets its own PID namespace (documented difference).
 *
 * @module
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, throwIfAborted } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NormalizedPodSandboxConfig, SandboxNamespacePaths } from '../cri/types.js';
import { mountsBelow } from '../oci/bundle/write-bundle.js';
import { runCommand } from '../internal/run-command.js';
import { POD_NAMESPACES_SCRIPT, podNamespaceSyscalls } from './pod-namespaces-script.js';

/** Files a pod provides to its containers (absolute host paths). */
export interface PodFiles {
  hostsPath: string;
  hostnamePath: string;
  resolvConfPath: string;
  /** The pod's `/dev/shm` (a tmpfs mount), when the pod has a private IPC namespace and we are root. */
  shmPath?: string | undefined;
}

/** The namespaces {@link createPodNamespaces} made, and the pod's /dev/shm when it made one. */
export interface PodNamespaces {
  namespacePaths: SandboxNamespacePaths;
  shmPath?: string | undefined;
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

async function mustRun(command: string, args: readonly string[], what: string, signal?: AbortSignal): Promise<void> {
  const result = await runCommand(command, args, signal);
  throwIfAborted(signal, what);
  if (result.code !== 0) throw new FailedPreconditionError(`${what} failed: ${command} ${args.join(' ')}: ${result.stderr.trim() || `exit ${String(result.code)}`}`, { reason: what });
}

/** The pod's directory under the state dir. */
export function podDir(stateDir: string, sandboxId: string): string {
  return join(stateDir, 'pods', sandboxId);
}

/** The files of a pod (whether or not they exist yet). */
export function podFiles(dir: string, shmPath: string | undefined): PodFiles {
  return {
    hostsPath: join(dir, 'hosts'),
    hostnamePath: join(dir, 'hostname'),
    resolvConfPath: join(dir, 'resolv.conf'),
    ...(shmPath ? { shmPath } : {}),
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

function podHostname(config: NormalizedPodSandboxConfig): string {
  return config.linux.securityContext.namespaceOptions.network === 'NODE' ? osHostname() : config.hostname || config.metadata.name;
}

/** Makes the pod's directory `dir` (which must not exist) with its hosts, hostname and resolv.conf. */
export async function createPodFiles(dir: string, config: NormalizedPodSandboxConfig): Promise<PodFiles> {
  const hostNetwork = config.linux.securityContext.namespaceOptions.network === 'NODE';
  // the host's files are read while the directory is made; the three files are written at once
  const hostFiles = Promise.all([
    readFile('/etc/resolv.conf', 'utf8').catch(() => ''),
    hostNetwork ? readFile('/etc/hosts', 'utf8').catch(() => DEFAULT_HOSTS) : DEFAULT_HOSTS,
  ]);
  await mkdir(join(dir, '..'), { recursive: true, mode: 0o700 });
  await mkdir(dir, { mode: 0o711 });
  try {
    const files = podFiles(dir, undefined);
    const [hostResolv, hosts] = await hostFiles;
    await Promise.all([
      writeFile(files.hostsPath, hosts, { mode: 0o644 }),
      writeFile(files.hostnamePath, `${podHostname(config)}\n`, { mode: 0o644 }),
      writeFile(files.resolvConfPath, resolvConf(config, hostResolv), { mode: 0o644 }),
    ]);
    return files;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** The `unshare` option (and file name under `<dir>/ns`) of each pod namespace. */
const NAMESPACE_FILES = { network: 'net', uts: 'uts', ipc: 'ipc' } as const;
type PodNamespaceKind = keyof typeof NAMESPACE_FILES;

/**
 * Where {@link createPodNamespaces} puts the pod's namespaces and /dev/shm (whether or not they
 * exist yet): known before they are made, so a bundle's spec can be built meanwhile.
 */
export function podNamespacePaths(dir: string, config: NormalizedPodSandboxConfig): PodNamespaces {
  const ns = config.linux.securityContext.namespaceOptions;
  const kinds: PodNamespaceKind[] = [];
  if (ns.network !== 'NODE') kinds.push('network', 'uts');
  if (ns.ipc !== 'NODE') kinds.push('ipc');
  const namespacePaths: SandboxNamespacePaths = {};
  for (const key of kinds) namespacePaths[key] = join(dir, 'ns', NAMESPACE_FILES[key]);
  return { namespacePaths, ...(ns.ipc !== 'NODE' ? { shmPath: join(dir, 'shm') } : {}) };
}

/**
 * Makes the pod's network, IPC and UTS namespaces (those the pod does not take from the host) as
 * namespace files under `<dir>/ns`, and its /dev/shm tmpfs (`<dir>/shm`) when the IPC namespace is
 * the pod's own. Needs root, and perl (one process, system calls) or, where perl or the system
 * call numbers are missing, util-linux `mount` and `unshare`. A failure undoes what this call made.
 */
export async function createPodNamespaces(dir: string, config: NormalizedPodSandboxConfig, options: { logger: Logger; signal?: AbortSignal | undefined }): Promise<PodNamespaces> {
  const { signal, logger } = options;
  const planned = podNamespacePaths(dir, config);
  const namespacePaths: SandboxNamespacePaths = {};
  try {
    const shmPath = planned.shmPath;
    const nsDir = join(dir, 'ns');
    const kinds = Object.entries(planned.namespacePaths) as [PodNamespaceKind, string][];
    if (shmPath !== undefined) await mkdir(shmPath, { mode: 0o1777 });
    await mkdir(nsDir, { mode: 0o700 });
    // the files the namespaces are bind-mounted onto (the same directory before and after its bind mount)
    await Promise.all(kinds.map(([, path]) => writeFile(path, '', { mode: 0o400 })));
    for (const [key, path] of kinds) namespacePaths[key] = path;
    const syscalls = podNamespaceSyscalls();
    const done =
      syscalls !== undefined &&
      (await inOnePerlProcess(syscalls, shmPath, nsDir, podHostname(config), kinds.map(([key, path]) => `${NAMESPACE_FILES[key]}=${path}`), signal));
    if (!done) {
      if (shmPath !== undefined) {
        await mustRun('mount', ['-t', 'tmpfs', '-o', `nosuid,nodev,noexec,mode=1777,size=${SHM_SIZE}`, 'shm', shmPath], 'mounting the pod /dev/shm', signal);
      }
      // a private mount point of its own, so the namespace bind mounts do not propagate anywhere
      await mustRun('mount', ['--bind', nsDir, nsDir], 'preparing the pod namespace directory', signal);
      await mustRun('mount', ['--make-private', nsDir], 'preparing the pod namespace directory', signal);
      if (kinds.length > 0) {
        // inside the new namespaces: set the pod's hostname and bring loopback up (ip is optional)
        const script = 'hostname "$1" 2>/dev/null || echo "$1" > /proc/sys/kernel/hostname; command -v ip >/dev/null && ip link set lo up; exit 0';
        const args = kinds.map(([key, path]) => `--${NAMESPACE_FILES[key]}=${path}`);
        await mustRun('unshare', [...args, '--', 'sh', '-c', script, 'sh', podHostname(config)], 'creating the pod namespaces', signal);
      }
    }
    logger.debug({ dir, namespaces: Object.keys(namespacePaths) }, 'pod namespaces created');
    return { namespacePaths, ...(shmPath ? { shmPath } : {}) };
  } catch (error) {
    await removePodNamespaces(dir, logger).catch((e: unknown) => logger.error({ dir, error: String(e) }, 'cleaning up failed pod namespaces failed'));
    throw error;
  }
}

/**
 * The whole set-up in one Perl process with system calls (`pod-namespaces-script.ts`): false when
 * perl is not there (nothing was done; the caller runs the util-linux tools instead).
 */
async function inOnePerlProcess(syscalls: string, shmPath: string | undefined, nsDir: string, hostname: string, kinds: string[], signal: AbortSignal | undefined): Promise<boolean> {
  const result = await runCommand('perl', ['-e', POD_NAMESPACES_SCRIPT, '--', syscalls, shmPath ?? '-', nsDir, hostname, ...kinds], signal);
  throwIfAborted(signal, 'creating the pod namespaces');
  if (result.code === 0) return true;
  if (result.code === null && /ENOENT/.test(result.stderr)) return false;
  const line = result.stderr.trim().split('\n')[0] ?? '';
  const what = /^(.+?) failed: /.exec(line)?.[1] ?? 'creating the pod namespaces';
  throw new FailedPreconditionError(line !== '' ? line : `${what} failed: perl exited with ${String(result.code)}`, { reason: what });
}

/** Unmounts and removes a pod's namespaces and /dev/shm; the pod's files stay. Idempotent. */
export async function removePodNamespaces(dir: string, logger: Logger): Promise<void> {
  await unmountBelow(dir, logger);
  await rm(join(dir, 'ns'), { recursive: true, force: true });
  await rm(join(dir, 'shm'), { recursive: true, force: true });
}

async function unmountBelow(dir: string, logger: Logger): Promise<void> {
  const mounts = await mountsBelow(dir).catch(() => [] as string[]);
  for (const mount of mounts.sort((a, b) => b.length - a.length)) {
    const result = await runCommand('umount', [mount]);
    if (result.code !== 0) {
      // a namespace file still in use by a container is detached lazily; the namespace lives on until it exits
      const lazy = await runCommand('umount', ['-l', mount]);
      if (lazy.code !== 0) throw new FailedPreconditionError(`cannot unmount ${mount}: ${lazy.stderr.trim()}`, { path: mount, reason: 'umount failed' });
      logger.warn({ mount }, 'pod mount was busy; detached lazily');
    }
  }
}

/** Unmounts (deepest first) and removes a pod's directory. Idempotent. */
export async function removePodResources(dir: string, logger: Logger): Promise<void> {
  await unmountBelow(dir, logger);
  await rm(dir, { recursive: true, force: true });
}
