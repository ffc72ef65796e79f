/**
 * The OCI bundle writer: `<dir>/{config.json, rootfs}` from a CRI request and a resolved image.
 *
 * @module
 */
import { parseOptions } from '../../options.js';
import { chmod, chown, lstat, mkdir, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { z } from 'zod';
import { AlreadyExistsError, BundleError, isLxcriError, throwIfAborted } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { NormalizedCreateContainerRequest } from '../../cri/types.js';
import type { ResolvedImage } from '../image/layout.js';
import { unpackImage, type ProgressCallback } from '../layers/unpack-image.js';
import { buildRuntimeSpec } from '../spec/build.js';
import { collectSpecInputs, detectHostSpecDefaults } from '../spec/collect.js';
import { createMissingHostPaths } from './host-paths.js';
import type { BuildRuntimeSpecOptions } from '../spec/options.js';
import type { OciRuntimeSpec } from '../spec/runtime-spec.js';
import { mapToHost, shiftOwnership } from './shift-ownership.js';
import { callbackSchema, containerIdSchema, loggerSchema, signalSchema } from '../../internal/schemas.js';
import { mountPointsBelow, readMountinfo } from '../../internal/mountinfo.js';

/** How a rootfs is made: an overlay mount over cached layers, a copy, or whichever works. */
export type RootfsMode = 'auto' | 'overlay' | 'copy';

/** A rootfs a {@link RootfsProvider} made. */
export interface ProvidedRootfs {
  /** Absolute path of the root filesystem. */
  path: string;
  /** How it was made (`overlay` or `copy`). */
  mode: string;
  /** Undoes it: unmounts an overlay and removes what the provider made. */
  release(): Promise<void>;
}

/**
 * Makes a container rootfs from an image in `targetDir/rootfs` (`targetDir` is the bundle
 * directory, which exists). `LayerCache` (`new LayerCache({ root })`) has this shape and makes an
 * overlayfs mount over its cached layers (upper and work dirs in `targetDir`) or a copy;
 * {@link unpackRootfsProvider} is the cache-less fallback that unpacks a private copy.
 */
export interface RootfsProvider {
  createRootfs(image: ResolvedImage, targetDir: string, options: { mode?: RootfsMode; signal?: AbortSignal; onProgress?: ProgressCallback }): Promise<ProvidedRootfs>;
}

/** A {@link RootfsProvider} that unpacks every layer into `targetDir/rootfs` (a private copy, no cache). */
export function unpackRootfsProvider(options: { logger?: Logger } = {}): RootfsProvider {
  return {
    async createRootfs(image, targetDir, { mode, signal, onProgress }) {
      if (mode === 'overlay') throw new BundleError('the unpack rootfs provider cannot make overlay rootfs; pass a layer cache', { path: targetDir, reason: 'overlay unsupported' });
      const result = await unpackImage(image, resolve(targetDir), {
        ...(signal ? { signal } : {}),
        ...(onProgress ? { onProgress } : {}),
        ...(options.logger ? { logger: options.logger } : {}),
      });
      return { path: result.rootfs, mode: 'copy', release: () => rm(result.rootfs, { recursive: true, force: true }) };
    },
  };
}

/** zod schema of {@link WriteBundleOptions}. */
export const writeBundleOptionsSchema = z.strictObject({
  /** The container id (used in `cgroupsPath`); the bundle directory is usually `<root>/<id>`. */
  containerId: containerIdSchema,
  /** The normalised, validated CRI request. */
  request: z.custom<NormalizedCreateContainerRequest>((v) => typeof v === 'object' && v !== null && 'config' in v && 'sandboxConfig' in v, {
    message: 'expected a normalised CreateContainerRequest',
  }),
  /** The resolved image (from `openImageLayout(dir).resolve(ref)`). */
  image: z.custom<ResolvedImage>((v) => typeof v === 'object' && v !== null && 'config' in v && 'layers' in v, { message: 'expected a resolved image' }),
  /**
   * Makes the rootfs: a `LayerCache` (overlay or copy over cached layers).
   * @defaultValue {@link unpackRootfsProvider} (a private copy, no cache)
   */
  rootfsProvider: z.custom<RootfsProvider>((v) => typeof v === 'object' && v !== null && typeof (v as RootfsProvider).createRootfs === 'function', { message: 'expected an object with createRootfs()' }).optional(),
  /**
   * Rootfs mode asked of the provider.
   * @defaultValue `'auto'`
   */
  rootfsMode: z.enum(['auto', 'overlay', 'copy']).default('auto'),
  /**
   * Further {@link BuildRuntimeSpecOptions} (sandbox namespaces, cgroup settings, ...). The facts
   * read from the rootfs and host (`userDb`, `seccompProfiles`, `hostPaths`, `devices`) are collected
   * here, and `nodeHostname`, `cgroupV2`, `hugetlbController`, `swapController` default to what
   * `detectHostSpecDefaults()` finds.
   * @defaultValue `{}`
   */
  spec: z.record(z.string(), z.unknown()).default({}),
  /**
   * Create missing mount source directories (0755) like containerd; they are removed again when
   * the write fails. Off: a missing mount source is a `NotFound` issue.
   * @defaultValue `false`
   */
  createMissingHostPaths: z.boolean().default(false),
  /**
   * Called as layers are read and applied for the rootfs.
   * @defaultValue none
   */
  onProgress: callbackSchema<ProgressCallback>().optional(),
  /**
   * Cancels the write; everything made so far is removed.
   * @defaultValue none
   */
  signal: signalSchema.optional(),
  /**
   * Where progress and cleanup problems are logged.
   * @defaultValue the silent logger
   */
  logger: loggerSchema.default(silentLogger),
});

/** Spec options a caller may pass through the `spec` field of {@link WriteBundleOptions}. */
export type BundleSpecOptions = Omit<BuildRuntimeSpecOptions, 'containerId' | 'userDb' | 'seccompProfiles' | 'hostPaths' | 'devices' | 'rootPath'>;

/** What callers pass to {@link writeBundle}. */
export type WriteBundleOptions = Omit<z.input<typeof writeBundleOptionsSchema>, 'spec'> & { spec?: BundleSpecOptions };
/** The options after defaults. */
export type ResolvedWriteBundleOptions = z.output<typeof writeBundleOptionsSchema>;

/** A written bundle. */
export interface OciBundle {
  /** Absolute bundle directory. */
  path: string;
  /** `<path>/config.json`. */
  configPath: string;
  /** Absolute rootfs path. */
  rootfs: string;
  /** How the rootfs was made. */
  rootfsMode: string;
  /** The spec written to config.json. */
  spec: OciRuntimeSpec;
  /**
   * Removes the bundle: releases the rootfs (unmounting an overlay), then deletes the directory.
   * Refuses (BundleError) while anything is still mounted below the bundle.
   */
  remove(): Promise<void>;
}

/** The conventional bundle directory of a container: `<root>/<id>`. */
export function bundlePath(root: string, containerId: string): string {
  return join(resolve(root), containerId);
}

/** Mount points at or below `dir`, from /proc/self/mountinfo. */
export async function mountsBelow(dir: string): Promise<string[]> {
  return mountPointsBelow(await readMountinfo(), dir);
}

/**
 * Writes an OCI bundle at `dir`: the directory (mode 0700, must not exist), `rootfs` from the
 * rootfs provider (the layer cache: overlay or copy), and `config.json` from
 * {@link buildRuntimeSpec} with the facts `collectSpecInputs` reads from the new rootfs.
 * Any failure (or abort) removes everything this call made — the rootfs (unmounted), the bundle
 * directory and parent directories it created — and nothing else. `options.request` must have
 * passed `validateCreateContainerRequest`: spec building does not check the CRI rules again.
 *
 * @throws AlreadyExistsError when `dir` exists
 * @throws CriValidationError when the request cannot be mapped (unknown user, missing host path, ...)
 * @throws BundleError for I/O failures
 * @example
 * ```ts
 * const bundle = await writeBundle('/run/bundles/c1', { containerId: 'c1', request, image, rootfsProvider: new LayerCache({ root: '/var/lib/lxcri/layers' }) });
 * // crun run --bundle /run/bundles/c1 c1
 * await bundle.remove();
 * ```
 */
export async function writeBundle(dir: string, options: WriteBundleOptions): Promise<OciBundle> {
  const o = parseOptions(writeBundleOptionsSchema, options, 'writeBundle options');
  const { signal, logger } = o;
  throwIfAborted(signal, 'writing the bundle');
  const bundle = resolve(dir);
  const provider = o.rootfsProvider ?? unpackRootfsProvider({ logger });

  const exists = await lstat(bundle).then(
    () => true,
    () => false,
  );
  if (exists) throw new AlreadyExistsError(`bundle directory ${bundle} already exists`, { path: bundle });
  let firstCreated: string | undefined;
  let rootfs: ProvidedRootfs | undefined;
  const createdHostPaths: string[] = [];
  try {
    // Parents are 0711: traversable (a user-namespaced container's root must reach its bundle) but not listable.
    firstCreated = (await mkdir(dirname(bundle), { recursive: true, mode: 0o711 })) ?? undefined;
    try {
      await mkdir(bundle, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') throw new AlreadyExistsError(`bundle directory ${bundle} already exists`, { path: bundle }, { cause: error });
      throw error;
    }
    firstCreated ??= bundle;
    await chmod(bundle, 0o700);
    throwIfAborted(signal, 'writing the bundle');

    rootfs = await provider.createRootfs(o.image, bundle, { mode: o.rootfsMode, ...(signal ? { signal } : {}), ...(o.onProgress ? { onProgress: o.onProgress } : {}) });
    throwIfAborted(signal, 'writing the bundle');
    if (o.createMissingHostPaths) await createMissingHostPaths(o.request, createdHostPaths, signal);
    const inputs = await collectSpecInputs(o.request, { rootfs: rootfs.path, ...(signal ? { signal } : {}) });
    const rel = relative(bundle, rootfs.path);
    const rootPath = rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : rootfs.path;
    const host = await detectHostSpecDefaults();
    const spec = buildRuntimeSpec(o.request, o.image.config, { ...host, ...(o.spec as BundleSpecOptions), containerId: o.containerId, ...inputs, rootPath });
    throwIfAborted(signal, 'writing the bundle');
    if (spec.linux.uidMappings && spec.linux.gidMappings) {
      // A user namespace: the container's root must own its rootfs and reach it through the
      // 0700 bundle directory. Only a private copy can be re-owned.
      if (rootfs.mode !== 'copy') {
        throw new BundleError('a container with a user namespace needs a copied rootfs (rootfsMode copy): overlay layers are shared and cannot be re-owned', {
          path: bundle,
          reason: 'userns needs copy',
        });
      }
      await shiftOwnership(rootfs.path, spec.linux.uidMappings, spec.linux.gidMappings, signal ? { signal } : {});
      const rootUid = mapToHost(0, spec.linux.uidMappings);
      const rootGid = mapToHost(0, spec.linux.gidMappings);
      if (rootUid !== undefined && rootGid !== undefined) await chown(bundle, rootUid, rootGid);
    }
    const configPath = join(bundle, 'config.json');
    await writeFile(configPath, `${JSON.stringify(spec, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    const made = rootfs;
    logger.info({ bundle, rootfsMode: made.mode, containerId: o.containerId }, 'bundle written');
    return {
      path: bundle,
      configPath,
      rootfs: made.path,
      rootfsMode: made.mode,
      spec,
      remove: () => removeBundle(bundle, made),
    };
  } catch (error) {
    if (rootfs) {
      await rootfs.release().catch((e: unknown) => logger.error({ bundle, error: String(e) }, 'releasing the rootfs after a failed bundle write failed'));
    }
    for (const path of createdHostPaths.reverse()) {
      // Only what this call created, and only while still empty (nothing else has used it).
      await removeEmptyTree(path).catch((e: unknown) => logger.warn({ path, error: String(e) }, 'could not remove a created mount source'));
    }
    if (firstCreated !== undefined) {
      const left = await mountsBelow(firstCreated).catch(() => [] as string[]);
      if (left.length === 0) await rm(firstCreated, { recursive: true, force: true });
      else logger.error({ bundle, mounts: left }, 'not removing the bundle directory: something is still mounted below it');
    }
    if (isLxcriError(error)) throw error;
    throw new BundleError(`cannot write the bundle ${bundle}: ${(error as Error).message}`, { path: bundle }, { cause: error });
  }
}

/** Removes a directory tree made only of empty directories (rmdir, deepest first); stops at anything else. */
async function removeEmptyTree(dir: string): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) return;
    await removeEmptyTree(join(dir, entry.name));
  }
  await rmdir(dir);
}

async function removeBundle(bundle: string, rootfs: ProvidedRootfs): Promise<void> {
  await rootfs.release();
  const left = await mountsBelow(bundle);
  if (left.length > 0) throw new BundleError(`cannot remove bundle ${bundle}: still mounted: ${left.join(', ')}`, { path: bundle, reason: 'mounted' });
  await rm(bundle, { recursive: true, force: true });
}
