/**
 * `/etc/passwd` and `/etc/group` of a container image: read from inside a rootfs without ever
 * leaving it, and parsed.
 *
 * @module
 */
import { constants as fsConstants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { BundleError, throwIfAborted } from '../../errors.js';

/** One `/etc/passwd` line. */
export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** One `/etc/group` line. */
export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

/** The user database of an image: the raw file contents, `undefined` when the file does not exist. */
export interface ImageUserDb {
  passwd?: string | undefined;
  group?: string | undefined;
}

/** Largest passwd/group file read (containerd's cap). */
export const USER_DB_MAX_BYTES = 10 * 1024 * 1024;
const MAX_SYMLINKS = 40;
const MAX_ID = 0x7fff_ffff;

/**
 * Resolves `path` (absolute, as seen inside the container) to a host path under `rootfs`, following
 * symlinks the way the container would see them: absolute link targets restart at the rootfs, `..`
 * never climbs above it. The result is always inside `rootfs`. `undefined` when a component does
 * not exist.
 */
export async function resolveInRootfs(rootfs: string, path: string): Promise<string | undefined> {
  let pending = posix.normalize(path).split('/').filter((c) => c !== '' && c !== '.');
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const component = pending.shift() as string;
    if (component === '..') {
      resolved.pop();
      continue;
    }
    const candidate = join(rootfs, ...resolved, component);
    let info;
    try {
      info = await lstat(candidate);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
      throw error;
    }
    if (info.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) throw new BundleError(`too many symbolic links resolving ${path} in the rootfs`, { path, reason: 'ELOOP' });
      const target = await readlink(candidate);
      if (target.startsWith('/')) resolved.length = 0;
      pending = [...target.split('/').filter((c) => c !== '' && c !== '.'), ...pending];
      continue;
    }
    resolved.push(component);
  }
  return join(rootfs, ...resolved);
}

/**
 * Reads a regular file of the rootfs (resolved with {@link resolveInRootfs}); `undefined` when it
 * does not exist. The final open uses `O_NOFOLLOW`, and files larger than `maxBytes` are refused.
 */
export async function readRootfsFile(
  rootfs: string,
  path: string,
  options: { maxBytes?: number; signal?: AbortSignal } = {},
): Promise<string | undefined> {
  throwIfAborted(options.signal, `reading ${path}`);
  const host = await resolveInRootfs(rootfs, path);
  if (host === undefined) return undefined;
  const maxBytes = options.maxBytes ?? USER_DB_MAX_BYTES;
  let handle;
  try {
    handle = await open(host, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BundleError(`cannot open ${path} in the rootfs`, { path, reason: (error as NodeJS.ErrnoException).code ?? 'open failed' }, { cause: error });
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new BundleError(`${path} in the rootfs is not a regular file`, { path, reason: 'not a regular file' });
    if (info.size > maxBytes) throw new BundleError(`${path} in the rootfs is larger than ${maxBytes} bytes`, { path, reason: 'too large' });
    const buffer = Buffer.alloc(info.size);
    let offset = 0;
    while (offset < info.size) {
      const { bytesRead } = await handle.read(buffer, offset, info.size - offset, offset);
      if (bytesRead === 0) break;
      offset += bytesRead;
    }
    return buffer.subarray(0, offset).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Reads `/etc/passwd` and `/etc/group` from inside a rootfs (never the host's). */
export async function readImageUserDb(rootfs: string, options: { signal?: AbortSignal } = {}): Promise<ImageUserDb> {
  const passwd = await readRootfsFile(rootfs, '/etc/passwd', options);
  const group = await readRootfsFile(rootfs, '/etc/group', options);
  return { passwd, group };
}

function parseId(text: string | undefined): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= MAX_ID ? n : undefined;
}

/** Parses `/etc/passwd`; comments and malformed lines are skipped. */
export function parsePasswd(text: string): PasswdEntry[] {
  const entries: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 4) continue;
    const uid = parseId(f[2]);
    const gid = parseId(f[3]);
    const name = f[0] ?? '';
    if (name === '' || uid === undefined || gid === undefined) continue;
    entries.push({ name, uid, gid, home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return entries;
}

/** Parses `/etc/group`; comments and malformed lines are skipped. */
export function parseGroup(text: string): GroupEntry[] {
  const entries: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    if (f.length < 3) continue;
    const gid = parseId(f[2]);
    const name = f[0] ?? '';
    if (name === '' || gid === undefined) continue;
    entries.push({ name, gid, members: (f[3] ?? '').split(',').map((m) => m.trim()).filter(Boolean) });
  }
  return entries;
}
