/**
 * Host facts some CRI checks need (is a device path a device node, what propagation a host mount
 * has, is AppArmor available and a profile loaded, does a sysctl exist, can a Localhost seccomp
 * profile be loaded). Injected into `validateCreateContainerRequest` so those checks can run
 * against the real host or against a test double.
 *
 * @module
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { throwIfAborted } from '../errors.js';
import type { GrpcStatus } from '../errors.js';
import { ociSeccompSchema } from '../oci/spec/runtime-spec.js';
import { parseMountinfo as parseMountinfoEntries } from '../internal/mountinfo.js';

/** What a device host path is. */
export type HostPathKind = 'char-device' | 'block-device' | 'directory' | 'other' | 'missing';

/** Propagation of the mount a host path lives on, from `/proc/self/mountinfo`. */
export interface HostMountPropagation {
  /** `shared` (optional field `shared:N`), `slave` (`master:N` only), or `private`. */
  propagation: 'shared' | 'slave' | 'private';
  /** The mount point the path lives on. */
  mountPoint: string;
}

/**
 * What `/proc/sys` shows for a sysctl: it does not exist, or it exists with its current value
 * (`undefined` when the file cannot be read, e.g. the write-only `net/ipv4/route/flush`).
 */
export type HostSysctl = { exists: false } | { exists: true; value: string | undefined };

/**
 * A Localhost seccomp profile as the spec step (`collectSpecInputs` + `buildRuntimeSpec`) would
 * load it: the parsed profile, or the issue it would report (same code, message and status).
 */
export type SeccompProfileRead =
  | { ok: true; profile: unknown }
  | { ok: false; code: string; message: string; grpcStatus: GrpcStatus };

/**
 * Host facts the validator may ask for. Every method takes an optional AbortSignal. The optional
 * methods were added later: a host double without one skips that check.
 */
export interface HostInspector {
  /** Kind of the file at `path`, following symlinks. */
  pathKind(path: string, signal?: AbortSignal): Promise<HostPathKind>;
  /** Propagation of the mount `path` is on, or `undefined` when the path does not exist. */
  mountPropagation(path: string, signal?: AbortSignal): Promise<HostMountPropagation | undefined>;
  /** Whether an AppArmor profile of that name is loaded; `undefined` when AppArmor is not available. */
  apparmorProfileLoaded(name: string, signal?: AbortSignal): Promise<boolean | undefined>;
  /**
   * Whether AppArmor is available. Without this method the validator asks
   * `apparmorProfileLoaded('')` and reads `undefined` as "not available".
   */
  apparmorEnabled?(signal?: AbortSignal): Promise<boolean>;
  /**
   * The sysctl at `path` under `/proc/sys`, in `/` form (`net/ipv4/ip_forward`,
   * `net/ipv4/conf/eth0.100/forwarding`). Without this method sysctls are not checked on the host.
   */
  sysctl?(path: string, signal?: AbortSignal): Promise<HostSysctl>;
  /**
   * Reads and parses the Localhost seccomp profile at the absolute `path`, with the outcome the
   * spec step would have. Without this method seccomp profiles are not checked on the host.
   */
  readSeccompProfile?(path: string, signal?: AbortSignal): Promise<SeccompProfileRead>;
}

/** Options of {@link createLinuxHostInspector}. */
export interface LinuxHostInspectorOptions {
  /**
   * The mountinfo file to read.
   * @defaultValue `'/proc/self/mountinfo'`
   */
  mountinfoPath?: string;
  /**
   * The file that lists loaded AppArmor profiles.
   * @defaultValue `'/sys/kernel/security/apparmor/profiles'`
   */
  apparmorProfilesPath?: string;
  /**
   * Where sysctls are read.
   * @defaultValue `'/proc/sys'`
   */
  procSysPath?: string;
}

/** Parses `/proc/self/mountinfo` text into (mount point, propagation) pairs. */
export function parseMountinfo(text: string): HostMountPropagation[] {
  return parseMountinfoEntries(text).map(({ mountPoint, optionalFields }) => ({ mountPoint, propagation: propagationOf(optionalFields) }));
}

function propagationOf(optionalFields: readonly string[]): HostMountPropagation['propagation'] {
  if (optionalFields.some((f) => f.startsWith('shared:'))) return 'shared';
  return optionalFields.some((f) => f.startsWith('master:')) ? 'slave' : 'private';
}

/** A {@link HostInspector} that reads the real Linux host. */
export function createLinuxHostInspector(options: LinuxHostInspectorOptions = {}): HostInspector {
  const mountinfoPath = options.mountinfoPath ?? '/proc/self/mountinfo';
  const apparmorPath = options.apparmorProfilesPath ?? '/sys/kernel/security/apparmor/profiles';
  const procSys = options.procSysPath ?? '/proc/sys';
  const readApparmorProfiles = async (): Promise<string | undefined> => {
    try {
      return await readFile(apparmorPath, 'utf8');
    } catch {
      return undefined;
    }
  };
  return {
    async pathKind(path, signal) {
      throwIfAborted(signal, 'host inspection');
      try {
        const s = await stat(path);
        if (s.isCharacterDevice()) return 'char-device';
        if (s.isBlockDevice()) return 'block-device';
        if (s.isDirectory()) return 'directory';
        return 'other';
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return 'missing';
        throw error;
      }
    },
    async mountPropagation(path, signal) {
      throwIfAborted(signal, 'host inspection');
      let resolved: string;
      try {
        resolved = await realpath(path);
      } catch {
        return undefined;
      }
      const mounts = parseMountinfo(await readFile(mountinfoPath, 'utf8'));
      let best: HostMountPropagation | undefined;
      for (const mount of mounts) {
        const inside = mount.mountPoint === '/' || resolved === mount.mountPoint || resolved.startsWith(`${mount.mountPoint}/`);
        // Later lines over the same mount point are mounted on top: keep the last longest match.
        if (inside && (!best || mount.mountPoint.length >= best.mountPoint.length)) best = mount;
      }
      return best;
    },
    async apparmorProfileLoaded(name, signal) {
      throwIfAborted(signal, 'host inspection');
      const text = await readApparmorProfiles();
      if (text === undefined) return undefined;
      return text.split('\n').some((line) => line === name || line.startsWith(`${name} (`));
    },
    async apparmorEnabled(signal) {
      throwIfAborted(signal, 'host inspection');
      return (await readApparmorProfiles()) !== undefined;
    },
    async sysctl(path, signal) {
      throwIfAborted(signal, 'host inspection');
      const parts = path.split('/');
      if (parts.some((p) => p === '' || p === '.' || p === '..')) return { exists: false };
      const file = join(procSys, ...parts);
      try {
        if (!(await stat(file)).isFile()) return { exists: false };
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return { exists: false };
        throw error;
      }
      try {
        return { exists: true, value: await readFile(file, 'utf8') };
      } catch {
        return { exists: true, value: undefined }; // write-only (EACCES) or not readable now (EINVAL, EIO)
      }
    },
    async readSeccompProfile(path, signal) {
      throwIfAborted(signal, 'host inspection');
      return readSeccompProfileFile(path);
    },
  };
}

/**
 * Reads a Localhost seccomp profile with the outcome of the spec step: `collectSpecInputs`
 * (`cannot read seccomp profile <path>: <errno>`, NotFound for ENOENT; `seccomp profile <path> is
 * not JSON`) and then `buildRuntimeSpec` (`... is not a valid OCI seccomp config: ...`, checked
 * with the same `ociSeccompSchema`). `test/unit/cri/host-checks.test.ts` pins the agreement.
 */
async function readSeccompProfileFile(path: string): Promise<SeccompProfileRead> {
  let content: unknown;
  try {
    content = JSON.parse(await readFile(path, 'utf8')) as unknown;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return {
      ok: false,
      code: code === 'ENOENT' ? 'profile_not_found' : 'invalid_profile',
      message: code ? `cannot read seccomp profile ${path}: ${code}` : `seccomp profile ${path} is not JSON`,
      grpcStatus: code === 'ENOENT' ? 'NotFound' : 'InvalidArgument',
    };
  }
  const parsed = ociSeccompSchema.safeParse(content);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return {
      ok: false,
      code: 'invalid_profile',
      message: `seccomp profile ${JSON.stringify(path)} is not a valid OCI seccomp config: ${issue?.path.map(String).join('.') ?? ''} ${issue?.message ?? ''}`.trim(),
      grpcStatus: 'InvalidArgument',
    };
  }
  return { ok: true, profile: parsed.data };
}
