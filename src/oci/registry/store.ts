/**
 * The image store: an OCI image layout (what `openImageLayout` reads) that pulls write into, and
 * its housekeeping — `listImages`, `removeImage`, `gcImages` — safe against a concurrent pull.
 *
 * Beside the layout's own files the store keeps, under `.lxcri/`:
 * - `lock`: the store lock (a file holding the owner's pid; a dead owner's lock is taken over),
 *   held while `index.json` is rewritten, while a pull registers the blobs it will use, and during gc;
 * - `pulls/<id>.json`: the blobs each running pull uses (gc keeps them while the pull's process lives);
 * - `ingest/<alg>-<hex>`: partial downloads, kept so an interrupted pull resumes, with a
 *   `.lock` beside each one while a download writes it.
 *
 * Index entries are annotated with the normalised reference in both
 * `org.opencontainers.image.ref.name` (as `skopeo copy … oci:DIR:REF` writes it) and
 * `io.containerd.image.name`, and carry the platform of the image, so one reference can be
 * stored for several platforms and `resolve(reference, { platform })` picks the right one.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { AbortedError, NotFoundError, StoreError, throwIfAborted } from '../../errors.js';
import { isProcessAlive } from '../../internal/process.js';
import { parseOptions } from '../../options.js';
import { isDigest, parseDigest } from '../image/digest.js';
import { CONTAINERD_NAME_ANNOTATION, openImageLayout, REF_NAME_ANNOTATION, type ImageLayout } from '../image/layout.js';
import { parsePlatform, samePlatform } from '../image/platform.js';
import { tryParseImageReference } from '../image/reference.js';
import { MEDIA_TYPES } from '../image/media-types.js';
import type { OciDescriptor, OciIndex, OciPlatform } from '../image/types.js';
import type { gcOptionsSchema, listOptionsSchema, removeOptionsSchema } from './options.js';

/** A store: its directory or an opened layout. */
export type ImageStore = string | ImageLayout;

/** The directory of a store. */
export function storeDir(store: ImageStore): string {
  return typeof store === 'string' ? store : store.dir;
}

/** Opens (creating when needed) a store's image layout. */
export async function openStore(store: ImageStore): Promise<ImageLayout> {
  return typeof store === 'string' ? openImageLayout(store, { create: true }) : store;
}

const internalDir = (dir: string): string => join(dir, '.lxcri');
/** Where partial downloads of a store live. */
export const ingestDir = (dir: string): string => join(internalDir(dir), 'ingest');
const pullsDir = (dir: string): string => join(internalDir(dir), 'pulls');

async function pollDelay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError('waiting for the image store was aborted', {}, { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Takes an exclusive lock file holding this process's pid. A lock whose owner is dead is taken
 * over. Waits (polling) until `timeoutMs` or the signal.
 * @returns a function that releases the lock
 */
export async function acquireLockFile(path: string, options: { signal?: AbortSignal | undefined; timeoutMs?: number; what: string }): Promise<() => Promise<void>> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const token = `${process.pid} ${randomBytes(6).toString('hex')}`;
  for (;;) {
    throwIfAborted(options.signal, options.what);
    try {
      const handle = await open(path, 'wx', 0o600);
      try {
        await handle.writeFile(token);
      } finally {
        await handle.close();
      }
      return async () => {
        const current = await readFile(path, 'utf8').catch(() => undefined);
        if (current === token) await unlink(path).catch(() => undefined);
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        await mkdir(join(path, '..'), { recursive: true });
        continue;
      }
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const owner = await readFile(path, 'utf8').catch(() => undefined);
    const pid = owner === undefined ? undefined : Number(owner.split(' ')[0]);
    if (owner !== undefined && (pid === undefined || !Number.isInteger(pid) || pid <= 0 || !isProcessAlive(pid))) {
      // a dead owner: take its lock over (only if it is still the same lock)
      const again = await readFile(path, 'utf8').catch(() => undefined);
      if (again === owner) await unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw new StoreError(`${options.what}: timed out waiting for the lock ${path}`, { path });
    await pollDelay(25 + Math.floor(Math.random() * 25), options.signal);
  }
}

/** Runs `fn` holding the store lock. */
export async function withStoreLock<T>(dir: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  const release = await acquireLockFile(join(internalDir(dir), 'lock'), { signal, what: 'locking the image store' });
  try {
    return await fn();
  } finally {
    await release();
  }
}

/**
 * Registers the blobs a pull is about to use, so a concurrent {@link gcImages} keeps them (and does not
 * delete a blob the pull found present). Returns a function that unregisters.
 */
export async function registerPull(dir: string, digests: readonly string[], signal: AbortSignal | undefined): Promise<() => Promise<void>> {
  const file = join(pullsDir(dir), `${process.pid}-${randomBytes(6).toString('hex')}.json`);
  await mkdir(pullsDir(dir), { recursive: true });
  await withStoreLock(dir, signal, () => writeFile(file, JSON.stringify({ pid: process.pid, digests }), { mode: 0o644 }));
  return () => rm(file, { force: true });
}

/**
 * Writes a file under a temporary name, flushes it to the disk and renames it into place: after a
 * crash the name holds the old content or the whole new one, never a file of the right size with
 * lost data (`hasBlob` trusts a blob of the right size). skopeo and containerd's content store
 * also sync each blob before its rename.
 */
async function writeDurably(path: string, data: string | Buffer): Promise<void> {
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(data);
    await handle.datasync();
  } catch (error) {
    await handle.close();
    await rm(temp, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temp, path);
}

const writeJsonAtomic = (path: string, value: unknown): Promise<void> => writeDurably(path, `${JSON.stringify(value)}\n`);

/** An entry without a platform stands for any; else the same platform, defaults applied (arm64 is arm64/v8). */
const sameEntryPlatform = (a: OciPlatform | undefined, b: OciPlatform | undefined): boolean =>
  a === undefined || b === undefined || samePlatform(a, b);

/**
 * Adds (or replaces) the index entry of a reference for a platform. Entries of the same name and
 * another platform stay.
 */
export async function addIndexEntry(layout: ImageLayout, name: string, descriptor: OciDescriptor, signal: AbortSignal | undefined): Promise<void> {
  await withStoreLock(layout.dir, signal, async () => {
    const index = await layout.readIndex();
    const kept = index.manifests.filter((d) => {
      const names = [d.annotations?.[REF_NAME_ANNOTATION], d.annotations?.[CONTAINERD_NAME_ANNOTATION]];
      return !(names.includes(name) && sameEntryPlatform(d.platform, descriptor.platform));
    });
    const entry: OciDescriptor = {
      ...descriptor,
      annotations: { ...descriptor.annotations, [REF_NAME_ANNOTATION]: name, [CONTAINERD_NAME_ANNOTATION]: name },
    };
    await writeJsonAtomic(join(layout.dir, 'index.json'), { ...index, mediaType: index.mediaType ?? MEDIA_TYPES.ociIndex, manifests: [...kept, entry] });
  });
}

/** One image in a store. */
export interface StoredImage {
  /** The reference it is stored under (`org.opencontainers.image.ref.name`), if any. */
  reference?: string;
  /** The digest of the manifest (or index) the entry points at. */
  digest: string;
  /** Its media type. */
  mediaType: string;
  /** The platform, when the entry records it. */
  platform?: { os: string; architecture: string; variant?: string };
  /** The config digest (image id), when the manifest is in the store. */
  configDigest?: string;
  /** Manifest + config + layers, in bytes (compressed), when the manifest is in the store. */
  size?: number;
}

async function readManifestQuiet(layout: ImageLayout, d: OciDescriptor): Promise<{ config: OciDescriptor; layers: OciDescriptor[] } | undefined> {
  if (d.mediaType !== MEDIA_TYPES.ociManifest && d.mediaType !== MEDIA_TYPES.dockerManifest) return undefined;
  try {
    const json = JSON.parse((await layout.readBlob(d, 'manifest')).toString('utf8')) as { config?: OciDescriptor; layers?: OciDescriptor[] };
    if (!json.config || !Array.isArray(json.layers)) return undefined;
    return { config: json.config, layers: json.layers };
  } catch {
    return undefined;
  }
}

/** Options of {@link listImages}. */
export type ListImagesOptions = z.input<typeof listOptionsSchema>;

/** The images of a store: one per `index.json` entry. */
export async function listImages(store: ImageStore, options?: ListImagesOptions): Promise<StoredImage[]> {
  const { listOptionsSchema } = await import('./options.js');
  const { signal } = parseOptions(listOptionsSchema, options ?? {}, 'listImages options');
  const layout = await openStore(store);
  const index = await layout.readIndex();
  const out: StoredImage[] = [];
  for (const d of index.manifests) {
    throwIfAborted(signal, 'listing images');
    const reference = d.annotations?.[REF_NAME_ANNOTATION] ?? d.annotations?.[CONTAINERD_NAME_ANNOTATION];
    const manifest = await readManifestQuiet(layout, d);
    out.push({
      ...(reference === undefined ? {} : { reference }),
      digest: d.digest,
      mediaType: d.mediaType,
      ...(d.platform ? { platform: { os: d.platform.os, architecture: d.platform.architecture, ...(d.platform.variant ? { variant: d.platform.variant } : {}) } } : {}),
      ...(manifest ? { configDigest: manifest.config.digest, size: d.size + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0) } : {}),
    });
  }
  return out;
}

/** Options of {@link removeImage}. */
export type RemoveImageOptions = z.input<typeof removeOptionsSchema>;

/**
 * Removes the index entries of a reference (its name as stored, a short or full name, or a
 * manifest digest). Blobs stay until {@link gcImages}.
 * @returns the removed entries
 * @throws NotFoundError when no entry matches
 */
export async function removeImage(store: ImageStore, reference: string, options?: RemoveImageOptions): Promise<StoredImage[]> {
  const { removeOptionsSchema } = await import('./options.js');
  const { signal, platform } = parseOptions(removeOptionsSchema, options ?? {}, 'removeImage options');
  const layout = await openStore(store);
  const parsed = tryParseImageReference(reference);
  const digest = isDigest(reference) ? reference : undefined;
  const wantPlatform = platform === undefined ? undefined : parsePlatform(platform);
  const matches = (d: OciDescriptor): boolean => {
    // the same os and architecture, and the same variant when one is named (defaults applied:
    // arm64 is arm64/v8), not a compatible lower one
    if (wantPlatform && d.platform) {
      const want = wantPlatform.variant === undefined && d.platform.variant !== undefined ? { ...wantPlatform, variant: d.platform.variant } : wantPlatform;
      if (!samePlatform(want, d.platform)) return false;
    }
    if (digest !== undefined) return d.digest === digest;
    const names = [d.annotations?.[REF_NAME_ANNOTATION], d.annotations?.[CONTAINERD_NAME_ANNOTATION]].filter((n): n is string => n !== undefined);
    if (names.includes(reference)) return true;
    if (parsed === undefined) return false;
    return names.some((n) => n === parsed.normalized || tryParseImageReference(n)?.normalized === parsed.normalized);
  };
  return withStoreLock(layout.dir, signal, async () => {
    const index = await layout.readIndex();
    const removed = index.manifests.filter(matches);
    if (removed.length === 0) throw new NotFoundError(`no image '${reference.slice(0, 300)}' in the store`, { reference, path: layout.dir });
    await writeJsonAtomic(join(layout.dir, 'index.json'), { ...index, manifests: index.manifests.filter((d) => !matches(d)) });
    return removed.map((d) => {
      const name = d.annotations?.[REF_NAME_ANNOTATION];
      return { ...(name === undefined ? {} : { reference: name }), digest: d.digest, mediaType: d.mediaType };
    });
  });
}

/** Options of {@link gcImages}. */
export type GcOptions = z.input<typeof gcOptionsSchema>;

/** What {@link gcImages} removed. */
export interface GcResult {
  /** Digests of the removed blobs. */
  removed: string[];
  /** Their total size in bytes. */
  bytes: number;
}

/** Every blob reachable from a descriptor (nested indexes, manifests, configs, layers) that is in the store. */
async function markReachable(layout: ImageLayout, descriptor: OciDescriptor, marked: Set<string>, depth: number): Promise<void> {
  if (depth > 6 || !isDigest(descriptor.digest) || marked.has(descriptor.digest)) return;
  marked.add(descriptor.digest);
  const isIndex = descriptor.mediaType === MEDIA_TYPES.ociIndex || descriptor.mediaType === MEDIA_TYPES.dockerManifestList;
  const isManifest = descriptor.mediaType === MEDIA_TYPES.ociManifest || descriptor.mediaType === MEDIA_TYPES.dockerManifest;
  if (!isIndex && !isManifest) return;
  let json: { manifests?: OciDescriptor[]; config?: OciDescriptor; layers?: OciDescriptor[] };
  try {
    json = JSON.parse((await layout.readBlob(descriptor)).toString('utf8')) as typeof json;
  } catch {
    return; // missing or damaged: nothing below it can be reached
  }
  if (isIndex) {
    for (const child of json.manifests ?? []) await markReachable(layout, child, marked, depth + 1);
  } else {
    if (json.config?.digest && isDigest(json.config.digest)) marked.add(json.config.digest);
    for (const layer of json.layers ?? []) if (isDigest(layer.digest)) marked.add(layer.digest);
  }
}

/**
 * Removes the blobs no index entry reaches and no running pull uses. Runs under the store lock,
 * so a pull either registered its blobs before (they are kept) or registers them after (and
 * downloads what gc removed).
 */
export async function gcImages(store: ImageStore, options?: GcOptions): Promise<GcResult> {
  const { gcOptionsSchema } = await import('./options.js');
  const { signal, partials } = parseOptions(gcOptionsSchema, options ?? {}, 'gcImages options');
  const layout = await openStore(store);
  return withStoreLock(layout.dir, signal, async () => {
    const index: OciIndex = await layout.readIndex();
    const marked = new Set<string>();
    for (const d of index.manifests) await markReachable(layout, d, marked, 0);
    for (const name of await readdir(pullsDir(layout.dir)).catch(() => [] as string[])) {
      const file = join(pullsDir(layout.dir), name);
      try {
        const record = JSON.parse(await readFile(file, 'utf8')) as { pid?: unknown; digests?: unknown };
        if (typeof record.pid === 'number' && isProcessAlive(record.pid) && Array.isArray(record.digests)) {
          for (const d of record.digests) if (typeof d === 'string') marked.add(d);
          continue;
        }
      } catch {
        // unreadable: a record being written is written under the lock we hold, so this one is stale
      }
      await rm(file, { force: true });
    }
    const removed: string[] = [];
    let bytes = 0;
    for (const algorithm of await readdir(join(layout.dir, 'blobs')).catch(() => [] as string[])) {
      for (const encoded of await readdir(join(layout.dir, 'blobs', algorithm)).catch(() => [] as string[])) {
        throwIfAborted(signal, 'image store gc');
        const digest = `${algorithm}:${encoded}`;
        if (!isDigest(digest) || marked.has(digest)) continue; // temp files of a running import have other names
        const path = layout.blobPath(digest);
        const info = await stat(path).catch(() => undefined);
        await rm(path, { force: true });
        removed.push(digest);
        bytes += info?.size ?? 0;
      }
    }
    if (partials) {
      for (const name of await readdir(ingestDir(layout.dir)).catch(() => [] as string[])) {
        if (name.endsWith('.lock')) continue;
        const lock = join(ingestDir(layout.dir), `${name}.lock`);
        const owner = await readFile(lock, 'utf8').catch(() => undefined);
        const pid = owner === undefined ? undefined : Number(owner.split(' ')[0]);
        if (pid !== undefined && Number.isInteger(pid) && isProcessAlive(pid)) continue;
        const info = await stat(join(ingestDir(layout.dir), name)).catch(() => undefined);
        await rm(join(ingestDir(layout.dir), name), { force: true });
        await rm(lock, { force: true });
        bytes += info?.size ?? 0;
      }
    }
    return { removed, bytes };
  });
}

/** The partial-download path of a blob in a store. */
export function ingestPath(dir: string, digest: string): string {
  const { algorithm, encoded } = parseDigest(digest);
  return join(ingestDir(dir), `${algorithm}-${encoded}`);
}

/** True when a blob is in the store with the expected size. */
export async function hasBlob(layout: ImageLayout, descriptor: { digest: string; size: number }): Promise<boolean> {
  const info = await stat(layout.blobPath(descriptor.digest)).catch(() => undefined);
  return info?.isFile() === true && info.size === descriptor.size;
}

/** Writes a small verified blob (a manifest) into the store. */
export async function writeBlob(layout: ImageLayout, digest: string, data: Buffer): Promise<void> {
  const target = layout.blobPath(digest);
  if ((await stat(target).catch(() => undefined))?.size === data.length) return;
  await mkdir(join(target, '..'), { recursive: true });
  await writeDurably(target, data);
}
