/**
 * Extended attributes. Node has no xattr API, so attributes are collected during a layer and
 * written in one batch through `setfattr -h --restore=-` (the `attr` package): one process per
 * layer, `lsetxattr` semantics (never follows the final symlink). Read back with `getfattr`.
 * Callers run these tools only for layers that really carry xattrs (the layer records and
 * `layer.json` say which), so ordinary images unpack without the `attr` package.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { LayerExtractionError } from '../../errors.js';
import type { Logger } from '../../logger.js';

/** Whether `setfattr` and `getfattr` (package `attr`) are on PATH. */
export function xattrToolsAvailable(env: NodeJS.ProcessEnv = process.env): boolean {
  const dirs = (env['PATH'] ?? '').split(':').filter((d) => d !== '');
  const found = (tool: string): boolean =>
    dirs.some((d) => {
      try {
        accessSync(join(d, tool), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    });
  return found('setfattr') && found('getfattr');
}

/** One attribute to set. */
export interface PendingXattr {
  path: string;
  name: string;
  value: Buffer;
}

/** Escapes a path or name for the getfattr/setfattr dump format (octal escapes for anything unusual). */
export function quoteAttrText(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const safe = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5a) || (byte >= 0x61 && byte <= 0x7a) || byte === 0x2f || byte === 0x2e || byte === 0x5f || byte === 0x2d || byte === 0x2b;
    out += safe ? String.fromCharCode(byte) : `\\${byte.toString(8).padStart(3, '0')}`;
  }
  return out;
}

/**
 * Writes attributes with one `setfattr` process. Failures of single attributes (EPERM for
 * `security.*` without privilege, ENOTSUP on the target filesystem) are logged, not thrown, the
 * way umoci treats them; a missing `setfattr` binary is an error.
 */
export async function writeXattrs(items: readonly PendingXattr[], logger: Logger, signal?: AbortSignal, layer?: string): Promise<void> {
  if (items.length === 0) return;
  const byPath = new Map<string, PendingXattr[]>();
  for (const item of items) {
    const list = byPath.get(item.path);
    if (list) list.push(item);
    else byPath.set(item.path, [item]);
  }
  let dump = '';
  for (const [path, list] of byPath) {
    dump += `# file: ${quoteAttrText(path)}\n`;
    for (const item of list) dump += `${quoteAttrText(item.name)}=0x${item.value.toString('hex')}\n`;
    dump += '\n';
  }
  await new Promise<void>((resolve, reject) => {
    const child = spawn('setfattr', ['-h', '--restore=-'], { stdio: ['pipe', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 65536) stderr += d;
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      reject(
        error.code === 'ENOENT'
          ? new LayerExtractionError(
              `${layer === undefined ? 'this layer' : `layer ${layer}`} carries extended attributes (${items.length} on ${byPath.size} paths, e.g. ${items[0]?.name}); setting them needs setfattr from the attr package, which is not on PATH (layers without xattrs need no attr tools)`,
              { ...(layer === undefined ? {} : { layer }), reason: 'missing tool' },
              { cause: error },
            )
          : new LayerExtractionError('setting extended attributes failed', { reason: 'xattr' }, { cause: error }),
      );
    });
    child.on('close', (code) => {
      if (code !== 0) logger.warn({ stderr: stderr.trim().slice(0, 4000), attributes: items.length }, 'some extended attributes could not be set');
      resolve();
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(dump);
  });
}

/**
 * Reads every extended attribute under `dir` (recursively, not following symlinks) with one
 * `getfattr` process. Returns absolute path → name → value.
 */
export async function readXattrsRecursive(dir: string, signal?: AbortSignal, why = 'a cached layer carries extended attributes'): Promise<Map<string, Map<string, Buffer>>> {
  return readXattrsOf(['-R', dir], why, signal);
}

/** Reads the extended attributes of the given paths (not following symlinks), in batches of 500 paths per `getfattr`. */
export async function readXattrs(paths: readonly string[], signal?: AbortSignal, why = 'lower layers carry extended attributes'): Promise<Map<string, Map<string, Buffer>>> {
  const out = new Map<string, Map<string, Buffer>>();
  for (let i = 0; i < paths.length; i += 500) {
    for (const [k, v] of await readXattrsOf(['--', ...paths.slice(i, i + 500)], why, signal)) out.set(k, v);
  }
  return out;
}

/** Removes one extended attribute (not following symlinks); failures are logged. */
export async function removeXattr(path: string, name: string, logger: Logger): Promise<void> {
  await new Promise<void>((resolve) => {
    const child = spawn('setfattr', ['-h', '-x', name, '--', path], { stdio: 'ignore' });
    child.on('error', () => resolve());
    child.on('close', (code) => {
      if (code !== 0) logger.warn({ path, xattr: name }, 'could not remove an extended attribute');
      resolve();
    });
  });
}

async function readXattrsOf(args: readonly string[], why: string, signal?: AbortSignal): Promise<Map<string, Map<string, Buffer>>> {
  const out = new Map<string, Map<string, Buffer>>();
  const text = await new Promise<string>((resolve, reject) => {
    const child = spawn('getfattr', ['-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', ...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(signal ? { signal } : {}) });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stderr.on('data', () => undefined);
    child.on('error', (error: NodeJS.ErrnoException) =>
      reject(
        error.code === 'ENOENT'
          ? new LayerExtractionError(`${why}: reading them needs getfattr from the attr package, which is not on PATH (layers without xattrs need no attr tools)`, { reason: 'missing tool' }, { cause: error })
          : new LayerExtractionError('reading extended attributes failed', { reason: 'xattr' }, { cause: error }),
      ),
    );
    child.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
  let current: Map<string, Buffer> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      const path = unquoteAttrText(line.slice('# file: '.length));
      current = new Map();
      out.set(path, current);
    } else if (current && line.length > 0) {
      const eq = line.indexOf('=');
      if (eq === -1) continue;
      const name = unquoteAttrText(line.slice(0, eq));
      const raw = line.slice(eq + 1);
      current.set(name, raw.startsWith('0x') ? Buffer.from(raw.slice(2), 'hex') : Buffer.from(raw.replace(/^"|"$/g, ''), 'utf8'));
    }
  }
  return out;
}

/** Undoes getfattr's octal escapes. */
export function unquoteAttrText(text: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x5c && i + 3 < text.length + 0 && /^[0-7]{3}$/.test(text.slice(i + 1, i + 4))) {
      bytes.push(Number.parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    } else if (c === 0x5c && text[i + 1] === '\\') {
      bytes.push(0x5c);
      i += 1;
    } else {
      bytes.push(...Buffer.from(text[i] as string, 'utf8'));
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** The owner id umoci stores for "unchanged" (root) in `user.rootlesscontainers`. */
export const ROOTLESS_NOOP_ID = 0xffffffff;

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}

/**
 * Encodes the `user.rootlesscontainers` xattr value (protobuf `Resource { uint32 uid = 1;
 * uint32 gid = 2; }`, 0 stored as NoopID) or `undefined` when both ids are 0.
 */
export function encodeRootlessOwner(uid: number, gid: number): Buffer | undefined {
  if (uid === 0 && gid === 0) return undefined;
  const u = uid === 0 ? ROOTLESS_NOOP_ID : uid;
  const g = gid === 0 ? ROOTLESS_NOOP_ID : gid;
  return Buffer.from([0x08, ...varint(u), 0x10, ...varint(g)]);
}
