/**
 * The layer cache: every layer is extracted once into a content-addressed directory named by its
 * ChainID, and root filesystems are built from those directories — an overlayfs mount (lower dirs
 * = cached layers, upper/work dirs in the target) when the kernel allows it (root), otherwise a
 * copy applied layer by layer through the same safe applier as extraction.
 *
 * Layout under `root`:
 * ```
 * layers/<chainid-hex>/diff/        the layer's own content; whiteouts as overlayfs char 0:0 nodes,
 *                                   opaque dirs with trusted.overlay.opaque=y (root only)
 * layers/<chainid-hex>/layer.json   what the layer recorded (whiteouts, opaques, implicit dirs)
 * layers-rootless/<chainid-hex>/…   the same, extracted without privileges (owners in xattrs)
 * layers-nosuid/, layers-rootless-nosuid/   the same, extracted with allowSetuid false (no
 *                                   setuid/setgid bits, no file capabilities): caches with
 *                                   different policies can share one root without mixing
 * tmp/                              extractions in progress (renamed into place when complete)
 * ```
 * A cached layer appears atomically (rename), so concurrent processes never see half a layer;
 * within one process, concurrent requests for the same layer share one extraction.
 *
 * @module
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  futimesSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  renameSync,
  rmSync,
  writeFileSync,
  type Stats,
} from 'node:fs';
import { chmod, lstat, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { AbortedError, FailedPreconditionError, LayerExtractionError, throwIfAborted } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { parseDigest } from '../image/digest.js';
import type { ResolvedImage } from '../image/layout.js';
import { LayerApplier, type LayerRecord, type LowerEntry, type LowerView } from './apply-layer.js';
import { extractionLimitsSchema } from './limits-schema.js';
import type { TarEntryHeader } from '../image/tar-reader.js';
import { parseOptions } from '../../options.js';
import { applyLayerBlob, checkFreeSpace, removeCreatedDirs, type ProgressCallback } from './unpack-image.js';
import { readXattrs, readXattrsRecursive, ROOTLESS_NOOP_ID, writeXattrs, xattrToolsAvailable, type PendingXattr } from './xattr.js';
import { callbackSchema, loggerSchema, signalSchema } from '../../internal/schemas.js';
import { readMountinfo } from '../../internal/mountinfo.js';

const progressSchema = callbackSchema<ProgressCallback>();

/** Options of {@link LayerCache}. */
export const layerCacheOptionsSchema = z.strictObject({
  /** Directory of the cache (created if missing). */
  root: z.string().min(1),
  /**
   * Where diagnostics go.
   * @defaultValue a silent logger
   */
  logger: loggerSchema.optional(),
  /**
   * Resource limits for every extraction.
   * @defaultValue see `ExtractionLimits`
   */
  limits: extractionLimitsSchema.default(extractionLimitsSchema.parse({})),
  /**
   * Keep setuid/setgid bits and file capabilities (`security.capability`) from the layers.
   * @defaultValue true
   */
  allowSetuid: z.boolean().default(true),
  /**
   * How many missing layers are extracted at the same time.
   * @defaultValue 2
   */
  concurrency: z.number().int().min(1).max(16).default(2),
});
/** Options of {@link LayerCache} (what callers pass). */
export type LayerCacheOptions = z.input<typeof layerCacheOptionsSchema>;
/** Options of {@link LayerCache} after defaults. */
export type ResolvedLayerCacheOptions = z.output<typeof layerCacheOptionsSchema>;

/** Options of {@link LayerCache.createRootfs}. */
export const createRootfsOptionsSchema = z.strictObject({
  /**
   * `overlay`: mount overlayfs (needs root; fails otherwise); `copy`: copy the cached layers into
   * the target; `auto`: overlay when possible, else copy.
   * @defaultValue 'auto'
   */
  mode: z.enum(['auto', 'overlay', 'copy']).default('auto'),
  /**
   * Cancels the operation (what it made is removed).
   * @defaultValue none
   */
  signal: signalSchema.optional(),
  /**
   * Progress of the extraction of missing layers.
   * @defaultValue none
   */
  onProgress: progressSchema.optional(),
  /**
   * Extract and copy without privileges (owners in `user.rootlesscontainers`, no device nodes).
   * Implies `copy`.
   * @defaultValue true when not running as root
   */
  rootless: z.boolean().optional(),
});
/** Options of {@link LayerCache.createRootfs} (what callers pass). */
export type CreateRootfsOptions = z.input<typeof createRootfsOptionsSchema>;
/** Options of {@link LayerCache.createRootfs} after defaults. */
export type ResolvedCreateRootfsOptions = z.output<typeof createRootfsOptionsSchema>;

/** A root filesystem made by {@link LayerCache.createRootfs}. */
export interface RootfsHandle {
  /** Absolute path of the root filesystem (`targetDir/rootfs`). */
  path: string;
  /** How it was made. */
  mode: 'overlay' | 'copy';
  /** Unmounts (overlay) and removes exactly what createRootfs made. Idempotent. */
  release(): Promise<void>;
}

/** What `layer.json` holds. */
export interface CachedLayerInfo extends LayerRecord {
  chainId: string;
  diffId: string;
  /** The blob digest it was extracted from. */
  digest: string;
  rootless: boolean;
  entries: number;
  bytes: number;
  createdAt: string;
  /**
   * False when the layer has opaque directories but was extracted without `setfattr`: they are
   * not marked for overlayfs (`trusted.overlay.opaque`), so root filesystems are copied.
   * Absent (older records) means true.
   */
  opaqueMarkers?: boolean;
}

/** What {@link LayerCache.gc} did. */
export interface LayerCacheGcResult {
  /** ChainIDs removed. */
  removed: string[];
  /** ChainIDs kept (asked to keep, or in use). */
  kept: string[];
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** What a lease file holds. */
interface LeaseFile {
  pid: number;
  /** Start time of the process (`/proc/<pid>/stat` field 22), to tell a reused pid apart. */
  start?: string | undefined;
  /** Layer directories, relative to the cache root. */
  layers: string[];
  createdAt: string;
}

/** The start time of a process in clock ticks since boot, or `undefined` when unknown. */
function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function leaseHolderAlive(lease: LeaseFile): boolean {
  if (!Number.isSafeInteger(lease.pid) || lease.pid <= 0) return false;
  try {
    process.kill(lease.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = processStartTime(lease.pid);
  return lease.start === undefined || start === undefined || start === lease.start;
}

/** Escapes a path for an overlayfs mount option (`\`, `:` and `,` are special there). */
function overlayPath(path: string): string {
  return path.replace(/[\\:,]/g, (c) => `\\${c}`);
}

/**
 * The merged view of cached lower layers (top first) for per-layer extraction: a path is what the
 * topmost layer that has it says, unless a layer above hides it (whiteout, opaque directory, or
 * a non-directory ancestor). Lower directories are walked component by component with `lstat`,
 * so a symlink inside a cached layer is never followed on the host.
 */
function lowerView(lowers: readonly { diff: string; info: CachedLayerInfo }[]): LowerView | undefined {
  if (lowers.length === 0) return undefined;
  const layers = lowers.map((l) => ({ diff: l.diff, whiteouts: new Set(l.info.whiteouts), opaques: new Set(l.info.opaques) }));
  return {
    lookup(rel: string): LowerEntry | undefined {
      const parts = rel.split('/');
      for (const layer of layers) {
        if (layer.whiteouts.has(rel)) return undefined;
        let path = layer.diff;
        let hidden = false;
        let st: Stats | undefined;
        for (const [i, part] of parts.entries()) {
          path = `${path}/${part}`;
          st = lstatSync(path, { throwIfNoEntry: false });
          const prefix = parts.slice(0, i + 1).join('/');
          if (st === undefined) {
            // not in this layer: an opaque or whited-out ancestor here hides the layers below
            for (let k = 1; k <= i; k++) {
              const ancestor = parts.slice(0, k).join('/');
              if (layer.opaques.has(ancestor) || layer.whiteouts.has(ancestor)) hidden = true;
            }
            if (layer.whiteouts.has(prefix)) hidden = true;
            break;
          }
          if (i < parts.length - 1 && !st.isDirectory()) {
            hidden = true; // a non-directory ancestor in this layer hides everything below
            st = undefined;
            break;
          }
        }
        if (hidden) return undefined;
        if (st === undefined) continue;
        if (st.isCharacterDevice() && st.rdev === 0) return undefined;
        if (st.isSymbolicLink()) return { kind: 'symlink', abs: path, target: readlinkSync(path) };
        if (st.isDirectory()) return { kind: 'dir', abs: path };
        if (st.isFile()) return { kind: 'file', abs: path, stat: st };
        return { kind: 'other', abs: path };
      }
      return undefined;
    },
  };
}

function run(command: string, args: readonly string[], signal?: AbortSignal): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(signal ? { signal } : {}) });
    let stderr = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 16384) stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/**
 * `lstat` of `base/rel` without following any symlink: `undefined` when it does not exist, `null`
 * when a component before the last is not a real directory (a symlink included).
 */
function lstatBelow(base: string, rel: string): Stats | undefined | null {
  let path = base;
  const parts = rel.split('/');
  for (const [i, part] of parts.entries()) {
    path = `${path}/${part}`;
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (st === undefined) return undefined;
    if (i === parts.length - 1) return st;
    if (!st.isDirectory()) return null;
  }
  return undefined;
}

/**
 * The `release` of a rootfs handle: unmounts `mountPoint` (an overlay rootfs) once, refuses while
 * anything is still mounted inside what this call made (never deletes through a container's
 * volume), removes it, then unpins the layers. Idempotent once it has succeeded.
 */
function releaseOnce(made: readonly string[], cleanupMade: () => Promise<void>, releaseUse: () => void, mountPoint?: string): () => Promise<void> {
  let released = false;
  let unmounted = mountPoint === undefined;
  return async () => {
    if (released) return;
    if (!unmounted && mountPoint !== undefined) {
      const umount = await run('umount', [mountPoint]);
      if (umount.code !== 0) throw new LayerExtractionError(`unmounting ${mountPoint} failed: ${umount.stderr.trim()}`, { reason: 'umount failed' });
      unmounted = true;
    }
    await refuseMounts(made);
    await cleanupMade();
    released = true;
    releaseUse();
  };
}

/** Throws when something is mounted at or below one of `paths` (`/proc/self/mountinfo`). */
async function refuseMounts(paths: readonly string[]): Promise<void> {
  const mounts = await readMountinfo().catch(() => []);
  for (const { mountPoint } of mounts) {
    const inside = paths.find((p) => mountPoint === p || mountPoint.startsWith(`${p}/`));
    if (inside !== undefined) {
      throw new FailedPreconditionError(`${mountPoint} is still mounted inside ${inside}; unmount it before release()`, { path: mountPoint });
    }
  }
}

/** Decodes `user.rootlesscontainers` (protobuf uid=1, gid=2; NoopID = 0). */
function decodeRootlessOwner(value: Buffer): { uid: number; gid: number } {
  let uid = 0;
  let gid = 0;
  let i = 0;
  while (i < value.length) {
    const tag = value[i++] as number;
    let v = 0;
    let mul = 1;
    for (;;) {
      const b = value[i++];
      if (b === undefined) return { uid, gid };
      v += (b & 0x7f) * mul;
      mul *= 128;
      if ((b & 0x80) === 0) break;
    }
    const id = v === ROOTLESS_NOOP_ID ? 0 : v;
    if (tag === 0x08) uid = id;
    else if (tag === 0x10) gid = id;
  }
  return { uid, gid };
}

/**
 * A content-addressed cache of extracted layers. See the module documentation for the layout.
 * @example
 * ```ts
 * const cache = new LayerCache({ root: '/var/lib/lxcri/layers' });
 * const rootfs = await cache.createRootfs(image, '/run/my-bundle', { mode: 'auto' }); // overlay as root, else a copy
 * // ... run something in rootfs.path ...
 * await rootfs.release();
 * ```
 */
export class LayerCache {
  /** Absolute path of the cache. */
  readonly root: string;
  readonly #o: ResolvedLayerCacheOptions;
  readonly #logger: Logger;
  readonly #inflight = new Map<string, Promise<CachedLayerInfo>>();
  /** layer dirs in use by live handles of this instance → count */
  readonly #inUse = new Map<string, number>();

  constructor(options: LayerCacheOptions) {
    this.#o = parseOptions(layerCacheOptionsSchema, options ?? {}, 'LayerCache options');
    this.root = resolvePath(this.#o.root);
    this.#logger = this.#o.logger ?? silentLogger;
  }

  #layersDir(rootless: boolean, allowSetuid = this.#o.allowSetuid): string {
    return join(this.root, `${rootless ? 'layers-rootless' : 'layers'}${allowSetuid ? '' : '-nosuid'}`);
  }

  /** The directory of a cached layer (whether or not it exists yet). */
  layerPath(chainId: string, rootless = !isRoot()): string {
    return join(this.#layersDir(rootless), parseDigest(chainId, 'chainId').encoded);
  }

  /** Reads a cached layer's record, or `undefined` when it is not cached. */
  async getLayer(chainId: string, rootless = !isRoot()): Promise<CachedLayerInfo | undefined> {
    try {
      return JSON.parse(await readFile(join(this.layerPath(chainId, rootless), 'layer.json'), 'utf8')) as CachedLayerInfo;
    } catch {
      return undefined;
    }
  }

  /**
   * Makes sure every layer of an image is in the cache (extracting the missing ones) and returns
   * their records, base first.
   */
  async ensureLayers(image: ResolvedImage, options: { signal?: AbortSignal | undefined; onProgress?: ProgressCallback | undefined; rootless?: boolean | undefined } = {}): Promise<CachedLayerInfo[]> {
    const rootless = options.rootless ?? !isRoot();
    const results: CachedLayerInfo[] = new Array<CachedLayerInfo>(image.layers.length);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < image.layers.length) {
        const i = next++;
        results[i] = await this.#ensureLayer(image, i, rootless, options.signal, options.onProgress);
      }
    };
    // a layer is read (as a lower) while the ones above it are extracted: keep gc() away meanwhile
    const unpin = this.#pin(image.chainIds.map((c) => this.layerPath(c, rootless)));
    try {
      await Promise.all(Array.from({ length: Math.min(this.#o.concurrency, Math.max(1, image.layers.length)) }, worker));
    } finally {
      unpin();
    }
    return results;
  }

  /**
   * Marks layer directories as in use (gc keeps them): in this instance, and for other processes
   * sharing the cache root in a lease file `leases/<pid>-<random>.json` naming this process (pid
   * and start time) and the layers. Returns the idempotent undo, which removes the lease.
   */
  #pin(dirs: readonly string[]): () => void {
    const lease = this.#writeLease(dirs);
    for (const d of dirs) this.#inUse.set(d, (this.#inUse.get(d) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      rmSync(lease, { force: true });
      for (const d of dirs) {
        const n = (this.#inUse.get(d) ?? 1) - 1;
        if (n <= 0) this.#inUse.delete(d);
        else this.#inUse.set(d, n);
      }
    };
  }

  #writeLease(dirs: readonly string[]): string {
    const leases = join(this.root, 'leases');
    mkdirSync(leases, { recursive: true, mode: 0o700 });
    const name = `${process.pid}-${randomBytes(6).toString('hex')}.json`;
    const lease: LeaseFile = { pid: process.pid, start: processStartTime(process.pid), layers: dirs.map((d) => relative(this.root, d)), createdAt: new Date().toISOString() };
    // written under a temporary name and renamed: gc never reads half a lease
    writeFileSync(join(leases, `.${name}.tmp`), JSON.stringify(lease), { mode: 0o600 });
    renameSync(join(leases, `.${name}.tmp`), join(leases, name));
    return join(leases, name);
  }

  /**
   * The layer directories named by live leases of any process (this one included). Leases of
   * processes that are gone (or whose pid now belongs to a newer process) are removed.
   */
  async #leasedDirs(): Promise<Set<string>> {
    const leases = join(this.root, 'leases');
    const out = new Set<string>();
    for (const name of await readdir(leases).catch(() => [] as string[])) {
      const path = join(leases, name);
      if (!name.endsWith('.json') || name.startsWith('.')) {
        // a lease its writer never renamed into place (killed in between)
        const st = await lstat(path).catch(() => undefined);
        if (st && Date.now() - st.mtimeMs > 3_600_000) await rm(path, { force: true });
        continue;
      }
      let lease: LeaseFile;
      try {
        lease = JSON.parse(await readFile(path, 'utf8')) as LeaseFile;
      } catch {
        continue; // removed meanwhile
      }
      if (!leaseHolderAlive(lease)) {
        await rm(path, { force: true });
        continue;
      }
      for (const layer of lease.layers ?? []) out.add(join(this.root, layer));
    }
    return out;
  }

  #ensureLayer(image: ResolvedImage, index: number, rootless: boolean, signal: AbortSignal | undefined, onProgress: ProgressCallback | undefined): Promise<CachedLayerInfo> {
    const chainId = image.chainIds[index] as string;
    const dir = this.layerPath(chainId, rootless);
    const existing = this.#inflight.get(dir);
    if (existing) return existing;
    const promise = (async () => {
      const cached = await this.getLayer(chainId, rootless);
      if (cached) return cached;
      // a layer is applied against the merged view of the layers below it, so those come first
      const lowers: { diff: string; info: CachedLayerInfo }[] = [];
      for (let j = index - 1; j >= 0; j--) {
        const info = await this.#ensureLayer(image, j, rootless, signal, onProgress);
        lowers.push({ diff: join(this.layerPath(info.chainId, rootless), 'diff'), info });
      }
      return this.#extract(image, index, dir, rootless, signal, onProgress, lowerView(lowers));
    })();
    this.#inflight.set(dir, promise);
    const clear = (): void => {
      this.#inflight.delete(dir);
    };
    promise.then(clear, clear);
    return promise;
  }

  async #extract(
    image: ResolvedImage,
    index: number,
    dir: string,
    rootless: boolean,
    signal: AbortSignal | undefined,
    onProgress: ProgressCallback | undefined,
    lower: LowerView | undefined,
  ): Promise<CachedLayerInfo> {
    const tmp = join(this.root, 'tmp', `${parseDigest(image.chainIds[index] as string).encoded.slice(0, 16)}-${randomBytes(6).toString('hex')}`);
    // only the owner may enter an extraction in progress (setuid files, device nodes); the
    // finished layer keeps that mode under layers/
    await mkdir(join(this.root, 'tmp'), { recursive: true, mode: 0o700 });
    await mkdir(tmp, { mode: 0o700 });
    await mkdir(join(tmp, 'diff'), { mode: 0o755 });
    // overlayfs opaque markers are xattrs: without the attr tools a layer is still cached (its
    // opaque directories listed in layer.json) and root filesystems made of it are copied
    const opaqueMarkers = !rootless && isRoot() && xattrToolsAvailable();
    try {
      const result = await applyLayerBlob(image, index, {
        root: join(tmp, 'diff'),
        rootless,
        allowSetuid: this.#o.allowSetuid,
        whiteouts: 'overlay',
        limits: this.#o.limits,
        logger: this.#logger,
        signal,
        onProgress,
        lower,
        // a fresh directory: nothing in it carries xattrs before this layer writes them
        existingXattrs: false,
        opaqueMarkers,
      });
      if (index > 0 && result.record.implicitDirs.length > 0) await this.#inheritImplicitDirs(image, index, join(tmp, 'diff'), result.record.implicitDirs, rootless, signal, onProgress);
      const info: CachedLayerInfo = {
        ...result.record,
        chainId: image.chainIds[index] as string,
        diffId: image.diffIds[index] as string,
        digest: image.layers[index]?.digest as string,
        rootless,
        entries: result.entries,
        bytes: result.bytes,
        createdAt: new Date().toISOString(),
        ...(result.record.opaques.length > 0 && !opaqueMarkers ? { opaqueMarkers: false } : {}),
      };
      await writeFile(join(tmp, 'layer.json'), `${JSON.stringify(info)}\n`);
      await mkdir(join(dir, '..'), { recursive: true, mode: 0o700 });
      try {
        await rename(tmp, dir);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw error;
        // another process finished the same layer first: use theirs
        await rm(tmp, { recursive: true, force: true });
      }
      this.#logger.debug({ chainId: info.chainId, entries: info.entries }, 'layer cached');
      return info;
    } catch (error) {
      await rm(tmp, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * A layer without entries for some parent directories got them created with default
   * attributes; in an overlay those would hide the attributes of the same directories in lower
   * layers. The lower layers of a ChainID are fixed, so the attributes (owner, mode, mtime,
   * xattrs) are copied from the topmost lower layer that has the directory.
   */
  async #inheritImplicitDirs(
    image: ResolvedImage,
    index: number,
    diff: string,
    implicitDirs: readonly string[],
    rootless: boolean,
    signal: AbortSignal | undefined,
    onProgress: ProgressCallback | undefined,
  ): Promise<void> {
    const lowers: string[] = [];
    const withXattrs = new Set<string>();
    for (let j = index - 1; j >= 0; j--) {
      const info = await this.#ensureLayer(image, j, rootless, signal, onProgress);
      const lowerDiff = join(this.layerPath(image.chainIds[j] as string, rootless), 'diff');
      lowers.push(lowerDiff);
      if (info.hasXattrs) withXattrs.add(lowerDiff);
    }
    const pending: PendingXattr[] = [];
    const sources: { target: string; source: string }[] = [];
    for (const rel of [...implicitDirs].sort((a, b) => b.length - a.length)) {
      // every component must be a real directory in the new layer: never follow a symlink out of it
      const own = lstatBelow(diff, rel);
      if (!own?.isDirectory()) continue;
      for (const lower of lowers) {
        const st = lstatBelow(lower, rel);
        if (st === undefined) continue;
        if (st === null || !st.isDirectory()) break;
        const target = join(diff, rel);
        const fd = openSync(target, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
        try {
          if (fstatSync(fd).ino !== own.ino) break;
          if (!rootless) fchownSync(fd, st.uid, st.gid);
          fchmodSync(fd, st.mode & 0o7777);
          futimesSync(fd, st.atimeMs / 1000, st.mtimeMs / 1000);
        } finally {
          closeSync(fd);
        }
        // only layers that recorded xattrs have any to copy (no getfattr for the others)
        if (withXattrs.has(lower)) sources.push({ target, source: join(lower, rel) });
        break;
      }
    }
    if (sources.length === 0) return;
    const attrs = await readXattrs(
      sources.map((x) => x.source),
      signal,
      `layer ${image.layers[index]?.digest} creates parent directories whose lower layers carry extended attributes`,
    );
    for (const { target, source } of sources) {
      for (const [name, value] of attrs.get(source) ?? []) {
        if (name.startsWith('trusted.overlay.')) continue;
        if (rootless && (name.startsWith('security.') || name.startsWith('trusted.'))) continue;
        pending.push({ path: target, name, value });
      }
    }
    await writeXattrs(pending, this.#logger, signal, image.layers[index]?.digest);
  }

  /**
   * Builds a root filesystem for an image in `targetDir/rootfs`: missing layers are extracted into
   * the cache first; then overlayfs is mounted (lower = cached layers, upper and work dirs in
   * `targetDir`) or the layers are copied. `release()` undoes exactly this. `targetDir` is set to
   * mode 0700 (it protects setuid files and device nodes from other host users), as
   * `unpackImage` does.
   */
  async createRootfs(image: ResolvedImage, targetDir: string, options?: CreateRootfsOptions): Promise<RootfsHandle> {
    const o = parseOptions(createRootfsOptionsSchema, options ?? {}, 'createRootfs options');
    const rootless = o.rootless ?? !isRoot();
    if (o.mode === 'overlay' && (rootless || !isRoot())) {
      throw new FailedPreconditionError('overlay root filesystems need root (use mode copy or auto)', { mode: o.mode });
    }
    const target = resolvePath(targetDir);
    const rootfs = join(target, 'rootfs');
    if (await lstat(rootfs).then(() => true, () => false)) throw new FailedPreconditionError(`${rootfs} already exists`, { path: rootfs });
    // in use from now on: a concurrent gc() must not remove a layer this rootfs is made of
    const dirs = image.chainIds.map((c) => this.layerPath(c, rootless));
    const releaseUse = this.#pin(dirs);
    let layers: CachedLayerInfo[];
    try {
      layers = await this.ensureLayers(image, { signal: o.signal, onProgress: o.onProgress, rootless });
    } catch (error) {
      releaseUse();
      throw error;
    }
    const made: string[] = [];
    const cleanupMade = async (): Promise<void> => {
      for (const p of [...made].reverse()) await rm(p, { recursive: true, force: true });
    };
    let targetExisted = true;
    /** the first parent directory of targetDir this call created (removed again on failure) */
    let parentsMade: string | undefined;
    /** Makes a dir of the rootfs; when it exists, another call owns this targetDir: leave it alone. */
    const mkdirOwned = async (p: string): Promise<void> => {
      try {
        await mkdir(p, { mode: 0o755 });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const i = made.indexOf(target);
        if (i !== -1) made.splice(i, 1);
        throw new FailedPreconditionError(`${p} already exists (another createRootfs for ${target}?)`, { path: p });
      }
    };
    try {
      // atomic: of two concurrent calls only one believes it made targetDir
      parentsMade = await mkdir(dirname(target), { recursive: true });
      targetExisted = await mkdir(target, { mode: 0o700 }).then(
        () => false,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'EEXIST') return true;
          throw error;
        },
      );
      // as unpackImage: the rootfs holds setuid files and device nodes, other host users stay out
      await chmod(target, 0o700);
      if (!targetExisted) made.push(target);
      let wantOverlay = o.mode === 'overlay' || (o.mode === 'auto' && !rootless && isRoot());
      const unmarked = layers.find((l) => l.opaqueMarkers === false);
      if (wantOverlay && unmarked !== undefined) {
        const message = `layer ${unmarked.digest} has opaque directories that were cached without setfattr (package attr), so overlayfs cannot see them`;
        if (o.mode === 'overlay') throw new FailedPreconditionError(`${message}; use mode copy or auto, or install attr and gc the layer`, { mode: o.mode });
        this.#logger.info({ layer: unmarked.digest }, `${message}: copying layers instead`);
        wantOverlay = false;
      }
      let lower = '';
      if (wantOverlay) {
        lower = await this.#lowerdirs(dirs);
        // `:` and `\` are escaped for overlayfs; a comma is refused (not every mount(8) passes an
        // escaped one through), and so is an option string past what one mount call takes
        if (`${this.root}${target}`.includes(',') || lower.length > 3000) {
          if (o.mode === 'overlay') throw new LayerExtractionError('too many layers, or a comma in the cache or target path, for one overlayfs mount (use mode copy or auto)', { reason: 'overlay options too long' });
          wantOverlay = false;
        }
      }
      if (wantOverlay) {
        const upper = join(target, 'upper');
        const work = join(target, 'work');
        for (const p of [upper, work, rootfs]) {
          await mkdirOwned(p);
          if (targetExisted) made.push(p);
        }
        const result = await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${overlayPath(upper)},workdir=${overlayPath(work)}`, rootfs], o.signal);
        if (result.code !== 0) {
          if (o.mode === 'overlay') throw new LayerExtractionError(`mounting overlayfs failed: ${result.stderr.trim()}`, { reason: 'mount failed' });
          this.#logger.warn({ stderr: result.stderr.trim() }, 'overlayfs mount failed; copying layers instead');
          await rm(upper, { recursive: true, force: true });
          await rm(work, { recursive: true, force: true });
          await rm(rootfs, { recursive: true, force: true });
        } else {
          return { path: rootfs, mode: 'overlay', release: releaseOnce(made, cleanupMade, releaseUse, rootfs) };
        }
      }
      await mkdirOwned(rootfs);
      if (targetExisted) made.push(rootfs);
      try {
        for (const [i, dir] of dirs.entries()) {
          const existingXattrs = layers.slice(0, i).some((l) => l.hasXattrs);
          await this.#copyLayer(dir, layers[i] as CachedLayerInfo, rootfs, rootless, o.signal, existingXattrs);
        }
      } catch (error) {
        await rm(rootfs, { recursive: true, force: true });
        throw error;
      }
      return { path: rootfs, mode: 'copy', release: releaseOnce(made, cleanupMade, releaseUse) };
    } catch (error) {
      releaseUse();
      await cleanupMade();
      if (parentsMade !== undefined) await removeCreatedDirs(dirname(target), parentsMade);
      if (o.signal?.aborted) throw new AbortedError('createRootfs aborted', {}, { cause: error });
      throw error;
    }
  }

  async #lowerdirs(dirs: readonly string[]): Promise<string> {
    if (dirs.length === 0) {
      const empty = join(this.root, 'empty');
      await mkdir(empty, { recursive: true, mode: 0o755 });
      return overlayPath(empty);
    }
    return [...dirs].reverse().map((d) => overlayPath(join(d, 'diff'))).join(':');
  }

  /** Applies one cached layer onto a rootfs through the safe applier (whiteouts first, then content). */
  async #copyLayer(layerDir: string, info: CachedLayerInfo, rootfs: string, rootless: boolean, signal: AbortSignal | undefined, existingXattrs: boolean): Promise<void> {
    const diff = join(layerDir, 'diff');
    const applier = new LayerApplier({ root: rootfs, rootless, whiteouts: 'apply', allowSetuid: this.#o.allowSetuid, limits: this.#o.limits, logger: this.#logger, layer: info.digest, existingXattrs });
    const xattrs = info.hasXattrs ? await readXattrsRecursive(diff, signal) : new Map<string, Map<string, Buffer>>();
    const none = new Map<string, Buffer>();
    const header = (rel: string, st: Stats, type: TarEntryHeader['type'], extra: Partial<TarEntryHeader> = {}): TarEntryHeader => {
      const attrs = new Map(xattrs.get(join(diff, rel)) ?? none);
      let { uid, gid } = st;
      const owner = attrs.get('user.rootlesscontainers');
      if (rootless && owner) {
        ({ uid, gid } = decodeRootlessOwner(owner));
        attrs.delete('user.rootlesscontainers');
      }
      attrs.delete('trusted.overlay.opaque');
      return { name: rel, type, mode: st.mode & 0o7777, uid, gid, size: 0, mtime: st.mtimeMs / 1000, linkname: '', devmajor: 0, devminor: 0, xattrs: attrs, ...extra };
    };
    const whiteouts = new Set(info.whiteouts);
    const implicit = new Set(info.implicitDirs);
    // whiteouts of this layer remove lower content before its own entries are added
    const entry = (h: TarEntryHeader): void => {
      applier.entry(h);
      applier.end();
    };
    const emptyStat = lstatSync(diff);
    for (const rel of info.opaques) entry(header(rel === '' ? '.wh..wh..opq' : `${rel}/.wh..wh..opq`, emptyStat, 'file', { mode: 0o644 }));
    for (const rel of info.whiteouts) {
      const slash = rel.lastIndexOf('/');
      entry(header(slash === -1 ? `.wh.${rel}` : `${rel.slice(0, slash)}/.wh.${rel.slice(slash + 1)}`, emptyStat, 'file', { mode: 0o644 }));
    }
    const seen = new Map<string, string>();
    const buffer = Buffer.allocUnsafe(1024 * 1024);
    let count = 0;
    const walk = (rel: string): void => {
      for (const name of readdirSync(rel === '' ? diff : join(diff, rel))) {
        if ((++count & 1023) === 0) {
          throwIfAborted(signal, 'copy');
          checkFreeSpace(rootfs, this.#o.limits, info.digest);
        }
        const childRel = rel === '' ? name : `${rel}/${name}`;
        if (whiteouts.has(childRel)) continue;
        const abs = join(diff, childRel);
        const st = lstatSync(abs);
        if (st.isDirectory()) {
          const existing = implicit.has(childRel) ? lstatSync(join(rootfs, childRel), { throwIfNoEntry: false }) : undefined;
          if (!existing?.isDirectory()) entry(header(childRel, st, 'dir'));
          walk(childRel);
          continue;
        }
        if (st.nlink > 1) {
          const key = `${st.dev}:${st.ino}`;
          const first = seen.get(key);
          if (first !== undefined) {
            entry(header(childRel, st, 'link', { linkname: first }));
            continue;
          }
          seen.set(key, childRel);
        }
        if (st.isSymbolicLink()) entry(header(childRel, st, 'symlink', { linkname: readlinkSync(abs) }));
        else if (st.isFile()) {
          applier.entry(header(childRel, st, 'file', { size: st.size }));
          const fd = openSync(abs, constants.O_RDONLY | constants.O_NOFOLLOW);
          try {
            for (;;) {
              const n = readSync(fd, buffer, 0, buffer.length, null);
              if (n === 0) break;
              applier.data(buffer.subarray(0, n));
            }
          } finally {
            closeSync(fd);
          }
          applier.end();
        } else if (st.isCharacterDevice() || st.isBlockDevice()) {
          const rdev = st.rdev;
          entry(header(childRel, st, st.isCharacterDevice() ? 'char' : 'block', { devmajor: (rdev >> 8) & 0xfff, devminor: (rdev & 0xff) | ((rdev >> 12) & 0xfff00) }));
        } else if (st.isFIFO()) entry(header(childRel, st, 'fifo'));
      }
    };
    checkFreeSpace(rootfs, this.#o.limits, info.digest);
    const rootStat = lstatSync(diff);
    if (info.hasRootEntry) entry(header('.', rootStat, 'dir'));
    try {
      walk('');
      await applier.finish(signal);
    } finally {
      applier.abort();
    }
  }

  /**
   * Removes cached layers that are not kept: `keep` lists ChainIDs or resolved images whose layers
   * stay. Layers used by a live rootfs of this instance or by any overlay mount listed in
   * `/proc/self/mountinfo` are kept too. Unfinished extractions in `tmp/` older than an hour go.
   */
  async gc(options: { keep?: Iterable<string | ResolvedImage>; signal?: AbortSignal } = {}): Promise<LayerCacheGcResult> {
    const keep = new Set<string>();
    for (const k of options.keep ?? []) {
      if (typeof k === 'string') keep.add(parseDigest(k, 'keep').encoded);
      else for (const c of k.chainIds) keep.add(parseDigest(c).encoded);
    }
    const mounts = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
    const leased = await this.#leasedDirs();
    const removed: string[] = [];
    const kept: string[] = [];
    for (const [rootless, allowSetuid] of [[false, true], [true, true], [false, false], [true, false]] as const) {
      const base = this.#layersDir(rootless, allowSetuid);
      const names = await readdir(base).catch(() => [] as string[]);
      for (const name of names) {
        throwIfAborted(options.signal, 'gc');
        // a ChainID is sha256, except the base layer's, which is its DiffID (sha256 or sha512)
        if (!/^(?:[a-f0-9]{64}|[a-f0-9]{128})$/.test(name)) continue;
        const chainId = `${name.length === 64 ? 'sha256' : 'sha512'}:${name}`;
        const dir = join(base, name);
        if (keep.has(name) || this.#inUse.has(dir) || this.#inflight.has(dir) || mounts.includes(`${dir}/diff`) || mounts.includes(`${overlayPath(dir)}/diff`) || leased.has(dir)) {
          kept.push(chainId);
          continue;
        }
        const doomed = join(this.root, 'tmp', `gc-${name.slice(0, 16)}-${randomBytes(4).toString('hex')}`);
        await mkdir(join(this.root, 'tmp'), { recursive: true, mode: 0o700 });
        try {
          await rename(dir, doomed);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue; // another gc was first
          throw error;
        }
        // another process may have leased the layer between the lease scan and the rename (it
        // writes its lease before it looks at the layer): look again, and put it back if so
        if ((await this.#leasedDirs()).has(dir)) {
          await rename(doomed, dir).catch(() => undefined);
          await rm(doomed, { recursive: true, force: true });
          kept.push(chainId);
          continue;
        }
        await rm(doomed, { recursive: true, force: true });
        removed.push(chainId);
      }
    }
    const tmpNames = await readdir(join(this.root, 'tmp')).catch(() => [] as string[]);
    for (const name of tmpNames) {
      const p = join(this.root, 'tmp', name);
      const st = await lstat(p).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > 3_600_000) await rm(p, { recursive: true, force: true });
    }
    return { removed, kept };
  }
}
