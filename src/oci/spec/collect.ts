/**
 * Reads the host and rootfs facts {@link buildRuntimeSpec} needs, so the generator itself stays pure.
 *
 * @module
 */
import { lstat, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { CriValidationError, type CriValidationIssue, throwIfAborted } from '../../errors.js';
import type { NormalizedCreateContainerRequest } from '../../cri/types.js';
import type { BuildRuntimeSpecOptions, HostDeviceInfo, HostDeviceNode } from './options.js';
import { readImageUserDb } from './user-db.js';
import { ALL_CAPABILITIES } from './defaults.js';

/** What {@link collectSpecInputs} found: spread it into the {@link BuildRuntimeSpecOptions}. */
export interface CollectedSpecInputs {
  /** The rootfs's `/etc/passwd` and `/etc/group` (absent when the file does not exist). */
  userDb: NonNullable<BuildRuntimeSpecOptions['userDb']>;
  /** Parsed Localhost seccomp profile by `localhostRef`. */
  seccompProfiles: Record<string, unknown>;
  /** Real path of each CRI mount's `hostPath`. */
  hostPaths: Record<string, string>;
  /** Device node facts of each CRI device's `hostPath`. */
  devices: Record<string, HostDeviceInfo>;
  /** The host's device nodes, listed only for a privileged request (see `listHostDevices`). */
  hostDevices?: HostDeviceNode[];
}

/** Options of {@link collectSpecInputs}. */
export interface CollectSpecInputsOptions {
  /** The container's rootfs on the host: its `/etc/passwd` and `/etc/group` are read from inside it. */
  rootfs: string;
  /**
   * Where the host's device nodes are listed for a privileged request.
   * @defaultValue `'/dev'`
   */
  devRoot?: string;
  signal?: AbortSignal;
}

const SC = 'config.linux.securityContext';

function linuxDevice(rdev: number): { major: number; minor: number } {
  // glibc gnu_dev_major/minor; rdev fits in a double for every real device number.
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  const major = ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0);
  const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
  return { major, minor };
}

/**
 * Collects: the image's passwd/group (read inside `rootfs`, never following a symlink out of it),
 * the JSON of each Localhost seccomp profile, the real path of every CRI mount's `hostPath` (the
 * CRI says symlinks are followed; a missing host path is an error, as the CRI comment asks —
 * the bundle writer's `createMissingHostPaths` is the separate step for containerd's behaviour),
 * and the device numbers of every CRI device. It only reads: nothing on the host is created or
 * changed. Like `buildRuntimeSpec`, it takes a request that passed `validateCreateContainerRequest`
 * (a Localhost seccomp profile is an absolute path, mount and device paths are absolute).
 * @throws CriValidationError naming each request field whose host object is missing or invalid
 */
export async function collectSpecInputs(request: NormalizedCreateContainerRequest, options: CollectSpecInputsOptions): Promise<CollectedSpecInputs> {
  const { signal } = options;
  const check = (): void => {
    throwIfAborted(signal, 'collecting runtime spec inputs');
  };
  check();
  const issues: CriValidationIssue[] = [];
  const userDb = await readImageUserDb(options.rootfs, signal ? { signal } : {});
  const sc = request.config.linux.securityContext;

  const seccompProfiles: Record<string, unknown> = {};
  const ref =
    sc.seccomp?.profileType === 'Localhost'
      ? { path: `${SC}.seccomp.localhostRef`, file: sc.seccomp.localhostRef }
      : !sc.seccomp && sc.seccompProfilePath.startsWith('localhost/')
        ? { path: `${SC}.seccompProfilePath`, file: sc.seccompProfilePath.slice('localhost/'.length) }
        : undefined;
  if (ref) {
    check();
    try {
      seccompProfiles[ref.file] = JSON.parse(await readFile(ref.file, 'utf8')) as unknown;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      issues.push({
        path: ref.path,
        code: code === 'ENOENT' ? 'profile_not_found' : 'invalid_profile',
        message: code ? `cannot read seccomp profile ${ref.file}: ${code}` : `seccomp profile ${ref.file} is not JSON`,
        grpcStatus: code === 'ENOENT' ? 'NotFound' : 'InvalidArgument',
      });
    }
  }

  const hostPaths: Record<string, string> = {};
  for (const [i, m] of request.config.mounts.entries()) {
    if (m.hostPath === '' || m.image) continue;
    check();
    try {
      hostPaths[m.hostPath] = await realpath(m.hostPath);
    } catch (error) {
      issues.push({
        path: `config.mounts[${i}].hostPath`,
        code: 'not_found',
        message: `host path ${m.hostPath} does not exist (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        grpcStatus: 'NotFound',
      });
    }
  }

  const devices: Record<string, HostDeviceInfo> = {};
  for (const [i, d] of request.config.devices.entries()) {
    check();
    try {
      const real = await realpath(d.hostPath);
      const info = await stat(real);
      if (!info.isCharacterDevice() && !info.isBlockDevice()) throw Object.assign(new Error('not a device node'), { code: 'ENOTDEV' });
      devices[d.hostPath] = { type: info.isCharacterDevice() ? 'c' : 'b', ...linuxDevice(info.rdev), fileMode: info.mode & 0o7777, uid: info.uid, gid: info.gid };
    } catch (error) {
      issues.push({
        path: `config.devices[${i}].hostPath`,
        code: 'not_a_device',
        message: `${d.hostPath} is not a device node (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        grpcStatus: 'InvalidArgument',
      });
    }
  }
  if (issues.length > 0) throw new CriValidationError(issues);
  const hostDevices = sc.privileged ? { hostDevices: await listHostDevices(options.devRoot ?? '/dev', signal ? { signal } : {}) } : {};
  return { ...hostDevices, userDb: { ...(userDb.passwd === undefined ? {} : { passwd: userDb.passwd }), ...(userDb.group === undefined ? {} : { group: userDb.group }) }, seccompProfiles, hostPaths, devices };
}

/** Directories of `/dev` that hold no device a container should get (containerd's list). */
const SKIPPED_DEV_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/**
 * Every character and block device node below `root` (default `/dev`), as containerd's
 * `HostDevices()` lists them for a privileged container: recursively, sorted by name, skipping
 * `pts`, `shm`, `fd`, `mqueue`, `.lxc`, `.lxd-mounts`, `.udev` and `console`, never following a
 * symlink. Paths are given as in the container: `/dev/<relative path>`.
 */
export async function listHostDevices(root = '/dev', options: { signal?: AbortSignal } = {}): Promise<HostDeviceNode[]> {
  const out: HostDeviceNode[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    throwIfAborted(options.signal, 'listing host devices');
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const hostPath = `${dir}/${e.name}`;
      const path = `${rel}/${e.name}`;
      if (e.isDirectory()) {
        if (!SKIPPED_DEV_DIRS.has(e.name)) await walk(hostPath, path);
        continue;
      }
      if (e.name === 'console' || !(e.isCharacterDevice() || e.isBlockDevice())) continue;
      const info = await lstat(hostPath).catch(() => undefined);
      if (!info || !(info.isCharacterDevice() || info.isBlockDevice())) continue;
      out.push({ path, type: info.isCharacterDevice() ? 'c' : 'b', ...linuxDevice(info.rdev), fileMode: info.mode & 0o7777, uid: info.uid, gid: info.gid });
    }
  };
  await walk(root.replace(/\/+$/, ''), '/dev');
  return out;
}

/** Host facts that pick spec defaults: see {@link detectHostSpecDefaults}. */
export interface HostSpecDefaults {
  /** `os.hostname()`: `HOSTNAME` for pods without a hostname (host network). */
  nodeHostname: string;
  /** `/sys/fs/cgroup` is a cgroup v2 (unified) mount. */
  cgroupV2: boolean;
  /** The hugetlb controller is available. */
  hugetlbController: boolean;
  /** Swap limits can be set (v1 `memory.memsw.*`, or cgroup v2 with the memory controller). */
  swapController: boolean;
  /**
   * The capabilities this process may hand on (its bounding set, `CapBnd` of `/proc/self/status`):
   * what `ALL` and privileged grant, as containerd's `cap.Current()`. Absent when unreadable.
   */
  allCapabilities?: string[];
}

/** Capability names of a `CapBnd`-style hex mask (bits beyond {@link ALL_CAPABILITIES} are skipped). */
export function capabilitiesFromMask(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

async function currentCapabilities(statusPath: string): Promise<string[] | undefined> {
  const status = await readFile(statusPath, 'utf8').catch(() => undefined);
  const hex = status && /^CapBnd:\s*([0-9a-fA-F]+)$/m.exec(status)?.[1];
  return hex ? capabilitiesFromMask(hex) : undefined;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Reads the host facts behind some {@link BuildRuntimeSpecOptions} defaults (`nodeHostname`,
 * `cgroupV2`, `hugetlbController`, `swapController`, `allCapabilities`) from `/sys/fs/cgroup`,
 * `/proc/self/status` and the hostname.
 * @param cgroupRoot - where the cgroup filesystem is mounted
 * @param statusPath - the process status file with `CapBnd`
 */
export async function detectHostSpecDefaults(cgroupRoot = '/sys/fs/cgroup', statusPath = '/proc/self/status'): Promise<HostSpecDefaults> {
  const caps = await currentCapabilities(statusPath);
  const allCapabilities = caps ? { allCapabilities: caps } : {};
  const controllers = await readFile(`${cgroupRoot}/cgroup.controllers`, 'utf8').catch(() => undefined);
  if (controllers !== undefined) {
    const list = controllers.trim().split(/\s+/);
    return { nodeHostname: hostname(), cgroupV2: true, hugetlbController: list.includes('hugetlb'), swapController: list.includes('memory'), ...allCapabilities };
  }
  return {
    ...allCapabilities,
    nodeHostname: hostname(),
    cgroupV2: false,
    hugetlbController: await exists(`${cgroupRoot}/hugetlb`),
    swapController: await exists(`${cgroupRoot}/memory/memory.memsw.limit_in_bytes`),
  };
}
