/**
 * `unpackImage`: applies an image's layers in order straight into `targetDir/rootfs`, the tree
 * `umoci unpack` writes; and `applyLayerBlob`, the streaming pipeline shared with the layer cache
 * (verified blob → decompressor → tar parser → safe applier, DiffID checked over the stream).
 *
 * @module
 */
import { parseOptions } from '../../options.js';
import { statfsSync } from 'node:fs';
import { chmod, lstat, mkdir, rm, rmdir, utimes } from 'node:fs/promises';
import { dirname, join, resolve as resolvePath } from 'node:path';
import type { z } from 'zod';
import { AbortedError, AlreadyExistsError, isLxcriError, LayerExtractionError, throwIfAborted } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { parseDigest } from '../image/digest.js';
import type { ResolvedImage } from '../image/layout.js';
import { layerCompression } from '../image/media-types.js';
import { LayerApplier, type LayerRecord, type LowerView, type WhiteoutMode } from './apply-layer.js';
import { LayerInflater, type LayerReaderOptions } from './decompress.js';
import { DEFAULT_EXTRACTION_LIMITS, type ResolvedExtractionLimits } from './limits.js';
import type { unpackImageOptionsSchema } from './unpack-options.js';
import { TarParser } from '../image/tar-reader.js';
import { hasOnly, isLogger, isPlainObject } from '../../internal/checks.js';

/** Progress of layer extraction. */
export interface LayerProgress {
  /** Index of the layer being applied (0 = base). */
  layer: number;
  /** Number of layers being applied. */
  layers: number;
  /** The layer's blob digest. */
  digest: string;
  /** Compressed bytes read of this layer. */
  compressedBytes: number;
  /** Compressed size of this layer (from its descriptor). */
  compressedTotal: number;
  /** Uncompressed bytes read of this layer. */
  bytes: number;
  /** Entries applied in this layer. */
  entries: number;
  /** Total entries of this layer: known once the layer is done. */
  entriesTotal?: number;
  /** Compressed bytes done of all layers being applied. */
  totalCompressedBytes: number;
  /** Compressed size of all layers being applied. */
  totalCompressedSize: number;
  /** True for the last report of a layer. */
  done: boolean;
}

/** A progress callback. */
export type ProgressCallback = (progress: LayerProgress) => void;

/** Options of {@link unpackImage} (what callers pass; the schema is in `./unpack-options.ts`). */
export type UnpackImageOptions = z.input<typeof unpackImageOptionsSchema>;
/** Options of {@link unpackImage} after defaults. */
export type ResolvedUnpackImageOptions = z.output<typeof unpackImageOptionsSchema>;

const UNPACK_OPTION_KEYS = ['rootless', 'allowSetuid', 'logger', 'signal', 'onProgress'];

/**
 * The options by hand, for what callers usually pass (no `limits`): the resolved options, or
 * `undefined` for anything else, which the zod schema then parses or rejects naming the field.
 * What this accepts the schema accepts with the same result (a test pins it).
 */
export function fastUnpackOptions(input: unknown): ResolvedUnpackImageOptions | undefined {
  if (!isPlainObject(input) || !hasOnly(input, UNPACK_OPTION_KEYS)) return undefined;
  const { rootless, allowSetuid, logger, signal, onProgress } = input;
  if (rootless !== undefined && typeof rootless !== 'boolean') return undefined;
  if (allowSetuid !== undefined && typeof allowSetuid !== 'boolean') return undefined;
  if (logger !== undefined && !isLogger(logger)) return undefined;
  if (signal !== undefined && !(signal instanceof AbortSignal)) return undefined;
  if (onProgress !== undefined && typeof onProgress !== 'function') return undefined;
  return {
    ...(rootless === undefined ? {} : { rootless }),
    allowSetuid: allowSetuid ?? true,
    limits: { ...DEFAULT_EXTRACTION_LIMITS },
    ...(logger === undefined ? {} : { logger: logger as Logger }),
    ...(signal === undefined ? {} : { signal }),
    ...(onProgress === undefined ? {} : { onProgress: onProgress as ProgressCallback }),
  };
}

async function resolveUnpackOptions(options: UnpackImageOptions): Promise<ResolvedUnpackImageOptions> {
  const fast = fastUnpackOptions(options);
  if (fast !== undefined) return fast;
  const { unpackImageOptionsSchema } = await import('./unpack-options.js');
  return parseOptions(unpackImageOptionsSchema, options, 'unpackImage options');
}

/** What {@link unpackImage} did. */
export interface UnpackImageResult {
  /** Absolute path of the root filesystem (`targetDir/rootfs`). */
  rootfs: string;
  /** Layers applied. */
  layers: number;
  /** Entries applied over all layers. */
  entries: number;
  /** Uncompressed bytes read over all layers. */
  bytes: number;
}

/** Options of {@link applyLayerBlob}. */
export interface ApplyLayerBlobOptions {
  root: string;
  rootless: boolean;
  allowSetuid: boolean;
  whiteouts: WhiteoutMode;
  limits: ResolvedExtractionLimits;
  logger: Logger;
  signal?: AbortSignal | undefined;
  onProgress?: ProgressCallback | undefined;
  /** For progress: which layer of how many, and the compressed totals. */
  progressBase?: { layers: number; totalCompressedSize: number; totalCompressedBytesBefore: number } | undefined;
  /** Uncompressed bytes already read for this image (for `maxImageBytes`). */
  imageBytesBefore?: number;
  /** The layers below, when the layer is extracted on its own (layer cache). */
  lower?: LowerView | undefined;
  /**
   * Whether `root` may already carry extended attributes (a lower layer had some): only then are
   * they read back (with `getfattr`) for directories this layer sets again.
   * @defaultValue true
   */
  existingXattrs?: boolean | undefined;
  /** Overlay mode as root: mark opaque directories with `trusted.overlay.opaque` (default true). */
  opaqueMarkers?: boolean | undefined;
  /**
   * The worker that reads the layer (shared by the layers of one unpack, which may have queued
   * this layer ahead). Without one, the layer gets a worker of its own.
   */
  inflater?: LayerInflater | undefined;
}

/** How the worker reads layer `index` of `image` (blob, digests, limits). */
export function layerReaderOptions(image: ResolvedImage, index: number, limits: ResolvedExtractionLimits): LayerReaderOptions {
  const descriptor = image.layers[index];
  const diffId = image.diffIds[index];
  if (descriptor === undefined || diffId === undefined) throw new LayerExtractionError(`image has no layer ${index}`, { reason: 'invalid index' });
  const { algorithm } = parseDigest(diffId, `rootfs.diff_ids[${index}]`);
  return {
    path: image.layout.blobPath(descriptor.digest),
    digest: descriptor.digest,
    size: descriptor.size,
    compression: layerCompression(descriptor.mediaType),
    diffAlgorithm: algorithm,
    maxBytes: limits.maxLayerBytes + 1,
    inflation: limits.maxInflationRatio > 0 ? { ratio: limits.maxInflationRatio, afterBytes: limits.inflationRatioAfterBytes } : undefined,
  };
}

/**
 * The free-space guard: throws when the filesystem of `path` has fewer free bytes or inodes than
 * the limits reserve.
 */
export function checkFreeSpace(path: string, limits: ResolvedExtractionLimits, layer: string): void {
  if (limits.minFreeBytes === 0 && limits.minFreeInodes === 0) return;
  let st;
  try {
    st = statfsSync(path);
  } catch {
    return; // nothing to measure (the write that follows reports the real problem)
  }
  const freeBytes = st.bavail * st.bsize;
  if (freeBytes < limits.minFreeBytes) {
    throw new LayerExtractionError(
      `stopping: the filesystem of ${path} has ${freeBytes} bytes free, less than the reserve of ${limits.minFreeBytes} (limits.minFreeBytes)`,
      { layer, reason: 'no space' },
      { grpcStatus: 'ResourceExhausted' },
    );
  }
  if (st.files > 0 && st.ffree < limits.minFreeInodes) {
    throw new LayerExtractionError(
      `stopping: the filesystem of ${path} has ${st.ffree} free inodes, less than the reserve of ${limits.minFreeInodes} (limits.minFreeInodes)`,
      { layer, reason: 'no space' },
      { grpcStatus: 'ResourceExhausted' },
    );
  }
}

/** What one layer's application did. */
export interface ApplyLayerResult {
  record: LayerRecord;
  entries: number;
  bytes: number;
}

/**
 * Streams one layer blob into a directory: blob digest and size verified, decompressed, parsed
 * and applied; the DiffID is checked over the uncompressed stream (including trailing bytes).
 * @throws LayerExtractionError or ImageError; the directory then holds a partial layer
 */
export async function applyLayerBlob(image: ResolvedImage, index: number, options: ApplyLayerBlobOptions): Promise<ApplyLayerResult> {
  const descriptor = image.layers[index];
  const diffId = image.diffIds[index];
  if (descriptor === undefined || diffId === undefined) throw new LayerExtractionError(`image has no layer ${index}`, { reason: 'invalid index' });
  const { signal, limits } = options;
  const readerOptions = layerReaderOptions(image, index, limits);
  throwIfAborted(signal, 'layer extraction', { layer: descriptor.digest });

  const applier = new LayerApplier({
    root: options.root,
    rootless: options.rootless,
    whiteouts: options.whiteouts,
    allowSetuid: options.allowSetuid,
    limits,
    logger: options.logger,
    layer: descriptor.digest,
    lower: options.lower,
    existingXattrs: options.existingXattrs ?? true,
    opaqueMarkers: options.opaqueMarkers,
  });
  const parser = new TarParser(applier, { maxMetaBytes: limits.maxMetaBytes });
  const inflater = options.inflater ?? new LayerInflater();
  const reader = inflater.reader(readerOptions);
  const base = options.progressBase ?? { layers: image.layers.length, totalCompressedSize: descriptor.size, totalCompressedBytesBefore: 0 };
  const report = (done: boolean): void => {
    options.onProgress?.({
      layer: index,
      layers: base.layers,
      digest: descriptor.digest,
      compressedBytes: reader.compressedBytes,
      compressedTotal: descriptor.size,
      bytes: parser.bytes,
      entries: applier.entries,
      ...(done ? { entriesTotal: applier.entries } : {}),
      totalCompressedBytes: base.totalCompressedBytesBefore + reader.compressedBytes,
      totalCompressedSize: base.totalCompressedSize,
      done,
    });
  };
  const imageBytesBefore = options.imageBytesBefore ?? 0;
  try {
    checkFreeSpace(options.root, limits, descriptor.digest);
    for await (const chunk of reader) {
      throwIfAborted(signal, 'layer extraction', { layer: descriptor.digest });
      checkFreeSpace(options.root, limits, descriptor.digest);
      parser.push(chunk);
      const entries = applier.entries;
      if (limits.minCompressedBytesPerEntry > 0 && entries > limits.entryDensityAfter && entries * limits.minCompressedBytesPerEntry > reader.compressedBytes) {
        throw new LayerExtractionError(
          `layer ${descriptor.digest} packs ${entries} entries into ${reader.compressedBytes} compressed bytes (fewer than ${limits.minCompressedBytesPerEntry} per entry): refused as an entry flood (limits.minCompressedBytesPerEntry)`,
          { layer: descriptor.digest, reason: 'limit exceeded' },
        );
      }
      if (parser.bytes > limits.maxLayerBytes) {
        throw new LayerExtractionError(`layer expands to more than maxLayerBytes (${limits.maxLayerBytes} bytes)`, { layer: descriptor.digest, reason: 'limit exceeded' });
      }
      if (imageBytesBefore + parser.bytes > limits.maxImageBytes) {
        throw new LayerExtractionError(`image expands to more than maxImageBytes (${limits.maxImageBytes} bytes)`, { layer: descriptor.digest, reason: 'limit exceeded' });
      }
      report(false);
    }
    parser.finish();
    await applier.finish(signal);
  } catch (error) {
    applier.abort();
    reader.cancel();
    if (isLxcriError(error)) throw error;
    if (signal?.aborted) throw new AbortedError('layer extraction aborted', { layer: descriptor.digest }, { cause: error });
    const code = (error as NodeJS.ErrnoException).code;
    const reason = typeof code === 'string' && code.startsWith('Z_') ? 'decompression' : 'io';
    throw new LayerExtractionError(`layer ${descriptor.digest} could not be applied: ${(error as Error).message}`, { layer: descriptor.digest, reason }, { cause: error });
  } finally {
    if (options.inflater === undefined) await inflater.close();
  }
  const actual = reader.diffId;
  if (actual !== diffId) {
    throw new LayerExtractionError(`diffid mismatch: got ${actual} expected ${diffId}`, { layer: descriptor.digest, reason: 'diffid mismatch' });
  }
  report(true);
  return { record: applier.record, entries: applier.entries, bytes: parser.bytes };
}

/**
 * Removes `dir` (recursively) and then its parents up to `firstCreated` — what one
 * `mkdir(dir, { recursive: true })` returned — while they are empty: a parent something else
 * has meanwhile put a file into stays.
 */
export async function removeCreatedDirs(dir: string, firstCreated: string | undefined): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  if (firstCreated === undefined) return;
  for (let p = dirname(dir); p.length >= firstCreated.length && (p === firstCreated || p.startsWith(`${firstCreated}/`)); p = dirname(p)) {
    try {
      await rmdir(p);
    } catch {
      return;
    }
  }
}

/**
 * Applies an image's layers, base first, into `targetDir/rootfs` — the tree `umoci unpack`
 * writes. `targetDir` is created if needed and set to mode 0700 (it protects setuid binaries and
 * device nodes from other host users); `targetDir/rootfs` must not exist yet.
 *
 * On failure (bad layer, limit, abort) the `rootfs` directory it made is removed — and
 * `targetDir` too when this call created it, with the parent directories it created for it;
 * nothing outside `targetDir` is ever written.
 */
export async function unpackImage(image: ResolvedImage, targetDir: string, options?: UnpackImageOptions): Promise<UnpackImageResult> {
  const o = await resolveUnpackOptions(options ?? {});
  const logger = o.logger ?? silentLogger;
  const rootless = o.rootless ?? process.getuid?.() !== 0;
  const target = resolvePath(targetDir);
  const rootfs = join(target, 'rootfs');
  const targetExisted = await lstat(target).then(
    (s) => {
      if (!s.isDirectory()) throw new AlreadyExistsError(`${target} exists and is not a directory`, { path: target });
      return true;
    },
    () => false,
  );
  if (await lstat(rootfs).then(() => true, () => false)) {
    throw new AlreadyExistsError(`${rootfs} already exists`, { path: rootfs });
  }
  // the first directory this call created (targetDir or one of its parents): removed on failure
  const created = await mkdir(target, { recursive: true, mode: 0o700 });
  await chmod(target, 0o700);
  await mkdir(rootfs, { mode: 0o755 });
  await utimes(rootfs, 0, 0);
  const totalCompressedSize = image.layers.reduce((sum, l) => sum + l.size, 0);
  let before = 0;
  let entries = 0;
  let bytes = 0;
  let existingXattrs = false;
  // one worker reads all layers, the next one queued while the current one is applied
  const inflater = new LayerInflater();
  try {
    for (let i = 0; i < image.layers.length; i++) {
      // jobs run in the order they are queued, which must be the order they are consumed
      inflater.prefetch(layerReaderOptions(image, i, o.limits));
      if (i + 1 < image.layers.length) inflater.prefetch(layerReaderOptions(image, i + 1, o.limits));
      const result = await applyLayerBlob(image, i, {
        inflater,
        root: rootfs,
        rootless,
        allowSetuid: o.allowSetuid,
        whiteouts: 'apply',
        limits: o.limits,
        logger,
        signal: o.signal,
        onProgress: o.onProgress,
        progressBase: { layers: image.layers.length, totalCompressedSize, totalCompressedBytesBefore: before },
        imageBytesBefore: bytes,
        existingXattrs,
      });
      existingXattrs ||= result.record.hasXattrs;
      before += image.layers[i]?.size ?? 0;
      entries += result.entries;
      bytes += result.bytes;
      logger.debug({ layer: image.layers[i]?.digest, entries: result.entries, bytes: result.bytes }, 'layer applied');
    }
  } catch (error) {
    await inflater.close();
    if (targetExisted) await rm(rootfs, { recursive: true, force: true });
    else await removeCreatedDirs(target, created);
    throw error;
  }
  await inflater.close();
  return { rootfs, layers: image.layers.length, entries, bytes };
}
