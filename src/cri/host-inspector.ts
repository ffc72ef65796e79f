/**
 * Host facts some CRI checks need (is a device path a device node, what propagation a host mount
 * has, is an AppArmor profile loaded). Injected into `validateCreateContainerRequest` so those
 * checks can run against the real host or against a test double.
 *
 * @module
 */
import { readFile, realpath, stat } from 'node:fs/promises';
import { throwIfAborted } from '../errors.js';

/** What a device host path is. */
export type HostPathKind = 'char-device' | 'block-device' | 'directory' | 'other' | 'missing';

/** Propagation of the mount a host path lives on, from `/proc/self/mountinfo`. */
export interface HostMountPropagation {
  /** `shared` (optional field `shared:N`), `slave` (`master:N` only), or `private`. */
  propagation: 'shared' | 'slave' | 'private';
  /** The mount point the path lives on. */
  mountPoint: string;
}

/** Host facts the validator may ask for. Every method takes an optional AbortSignal. */
export interface HostInspector {
  /** Kind of the file at `path`, following symlinks. */
  pathKind(path: string, signal?: AbortSignal): Promise<HostPathKind>;
  /** Propagation of the mount `path` is on, or `undefined` when the path does not exist. */
  mountPropagation(path: string, signal?: AbortSignal): Promise<HostMountPropagation | undefined>;
  /** Whether an AppArmor profile of that name is loaded; `undefined` when AppArmor is not available. */
  apparmorProfileLoaded(name: string, signal?: AbortSignal): Promise<boolean | undefined>;
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
}

/** Decodes the octal escapes (`\040`) mountinfo uses for spaces and the like. */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Parses `/proc/self/mountinfo` text into (mount point, propagation) pairs. */
export function parseMountinfo(text: string): HostMountPropagation[] {
  const out: HostMountPropagation[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const fields = line.split(' ');
    const separator = fields.indexOf('-');
    const mountPoint = fields[4];
    if (separator < 6 || mountPoint === undefined) continue;
    const optional = fields.slice(6, separator);
    const propagation = optional.some((f) => f.startsWith('shared:')) ? 'shared' : optional.some((f) => f.startsWith('master:')) ? 'slave' : 'private';
    out.push({ mountPoint: unescapeMountinfo(mountPoint), propagation });
  }
  return out;
}

/** A {@link HostInspector} that reads the real Linux host. */
export function createLinuxHostInspector(options: LinuxHostInspectorOptions = {}): HostInspector {
  const mountinfoPath = options.mountinfoPath ?? '/proc/self/mountinfo';
  const apparmorPath = options.apparmorProfilesPath ?? '/sys/kernel/security/apparmor/profiles';
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
      let text: string;
      try {
        text = await readFile(apparmorPath, 'utf8');
      } catch {
        return undefined;
      }
      return text.split('\n').some((line) => line === name || line.startsWith(`${name} (`));
    },
  };
}
