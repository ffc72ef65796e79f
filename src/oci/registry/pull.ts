/**
 * `pullImage()`: fetches an image from a registry into the image store (an OCI image layout
 * `openImageLayout` reads), and `ensureImage()`: the same behind a kubelet-style pull policy.
 *
 * ```ts
 * const image = await pullImage('docker.io/library/nginx:1.27', { store: '/var/lib/lxcri/images' });
 * const same = await ensureImage('nginx:1.27', { store: '/var/lib/lxcri/images', pullPolicy: 'if-missing' });
 * ```
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import { mkdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { z } from 'zod';
import { AbortedError, ImageError, InvalidOptionsError, isLxcriError, NotFoundError, throwIfAborted } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { parseOptions } from '../../options.js';
import { parseDigest } from '../image/digest.js';
import { isPlatformOption, type ImageLayout, type ResolvedImage } from '../image/layout.js';
import { bestForPlatform, parsePlatform, platformRank, type PlatformSpec } from '../image/platform.js';
import { parseImageReference, type ImageReference } from '../image/reference.js';
import { readImageDocument } from '../image/documents.js';
import { layerCompression, MEDIA_TYPES } from '../image/media-types.js';
import type { OciDescriptor, OciIndex, OciManifest, OciPlatform } from '../image/types.js';
import { hasOnly, isIntIn, isLogger, isNonEmpty, isPlainObject } from '../../internal/checks.js';
import { RegistryClient, type FetchedManifest } from './client.js';
import { findCredentials, type RegistryCredentials } from './credentials.js';
import type { ensureImageOptionsSchema, pullImageOptionsSchema } from './options.js';
import { acquireLockFile, addIndexEntry, hasBlob, ingestDir, ingestPath, openStore, registerPull, writeBlob } from './store.js';

/** Progress of a pull, reported through `onProgress`. */
export interface PullProgress {
  /** The normalised reference being pulled. */
  reference: string;
  /** `manifest` (resolving), `blob` (a blob's bytes), `blob-done` (a blob is in the store), `done`. */
  phase: 'manifest' | 'blob' | 'blob-done' | 'done';
  /** The blob this event is about. */
  digest?: string;
  /** Bytes of that blob in the store or in its partial file. */
  blobBytes?: number;
  /** Size of that blob. */
  blobSize?: number;
  /** Bytes of all blobs done so far (downloaded, resumed or already present). */
  bytes: number;
  /** Size of all blobs of the image (config and layers). */
  totalBytes: number;
  /** Blobs in the store. */
  blobsDone: number;
  /** Blobs of the image. */
  blobsTotal: number;
}

const ARCH_OF_NODE: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64' };

/** The platform of this host, as an image index names it (`linux/amd64`, `linux/arm64`, ...). */
export function hostPlatform(): string {
  return `linux/${ARCH_OF_NODE[process.arch] ?? process.arch}`;
}

/** Options of {@link pullImage} (what callers pass; the schema is in `./options.ts`). */
export type PullImageOptions = z.input<typeof pullImageOptionsSchema>;
/** Options of {@link pullImage} after defaults. */
export type ResolvedPullImageOptions = z.output<typeof pullImageOptionsSchema>;

const PULL_OPTION_KEYS = ['store', 'platform', 'auth', 'tls', 'insecureRegistries', 'signal', 'onProgress', 'concurrency', 'logger', 'timeoutMs', 'headersTimeoutMs', 'bodyTimeoutMs', 'retry', 'userAgent'];
const RETRY_DEFAULTS = { retries: 4, minDelayMs: 200, maxDelayMs: 5000, maxRetryAfterMs: 60_000 };

/**
 * The pull options by hand, for the shapes callers pass (the CLI, `ensureImage`, the facade):
 * the resolved options (the schema's defaults filled in), or `undefined` for anything else —
 * credentials, an unknown key, a wrong type — which the zod schema then parses (or rejects,
 * naming every bad field). What this accepts the schema accepts with the same result.
 */
export function fastPullOptions(input: unknown): ResolvedPullImageOptions | undefined {
  if (!isPlainObject(input) || !hasOnly(input, PULL_OPTION_KEYS)) return undefined;
  const { store, platform, auth, tls, insecureRegistries, signal, onProgress, concurrency, logger, timeoutMs, headersTimeoutMs, bodyTimeoutMs, retry, userAgent } = input;
  if (!(isNonEmpty(store) || (typeof store === 'object' && store !== null && typeof (store as { dir?: unknown }).dir === 'string'))) return undefined;
  if (platform !== undefined && !isPlatformOption(platform)) return undefined;
  if (auth !== undefined) {
    if (!isPlainObject(auth) || !hasOnly(auth, ['authFile', 'env'])) return undefined;
    if (auth['authFile'] !== undefined && !isNonEmpty(auth['authFile'])) return undefined;
    if (auth['env'] !== undefined && !isPlainObject(auth['env'])) return undefined;
  }
  if (tls !== undefined) {
    if (!isPlainObject(tls) || !hasOnly(tls, ['ca', 'caFile'])) return undefined;
    const ca = tls['ca'];
    if (ca !== undefined && !isNonEmpty(ca) && !(Array.isArray(ca) && ca.length > 0 && ca.every(isNonEmpty))) return undefined;
    if (tls['caFile'] !== undefined && !isNonEmpty(tls['caFile'])) return undefined;
  }
  if (insecureRegistries !== undefined && !(Array.isArray(insecureRegistries) && insecureRegistries.every(isNonEmpty))) return undefined;
  if (signal !== undefined && !(signal instanceof AbortSignal)) return undefined;
  if (onProgress !== undefined && typeof onProgress !== 'function') return undefined;
  if (concurrency !== undefined && !isIntIn(concurrency, 1, 32)) return undefined;
  if (logger !== undefined && !isLogger(logger)) return undefined;
  for (const ms of [timeoutMs, headersTimeoutMs, bodyTimeoutMs]) if (ms !== undefined && !isIntIn(ms, 1)) return undefined;
  if (retry !== undefined) {
    if (!isPlainObject(retry) || !hasOnly(retry, Object.keys(RETRY_DEFAULTS))) return undefined;
    if (retry['retries'] !== undefined && !isIntIn(retry['retries'], 0, 20)) return undefined;
    for (const k of ['minDelayMs', 'maxDelayMs', 'maxRetryAfterMs']) if (retry[k] !== undefined && !isIntIn(retry[k], 0)) return undefined;
  }
  if (userAgent !== undefined && !isNonEmpty(userAgent)) return undefined;
  const defined = <K extends string, V>(key: K, value: V | undefined): Partial<Record<K, V>> => (value === undefined ? {} : ({ [key]: value } as Record<K, V>));
  return {
    store: store as ResolvedPullImageOptions['store'],
    ...defined('platform', platform as ResolvedPullImageOptions['platform']),
    ...defined('auth', auth as ResolvedPullImageOptions['auth']),
    ...defined('tls', tls as ResolvedPullImageOptions['tls']),
    insecureRegistries: (insecureRegistries as string[] | undefined) ?? [],
    ...defined('signal', signal as AbortSignal | undefined),
    ...defined('onProgress', onProgress as ResolvedPullImageOptions['onProgress']),
    concurrency: (concurrency as number | undefined) ?? 4,
    ...defined('logger', logger as Logger | undefined),
    timeoutMs: (timeoutMs as number | undefined) ?? 3_600_000,
    headersTimeoutMs: (headersTimeoutMs as number | undefined) ?? 30_000,
    bodyTimeoutMs: (bodyTimeoutMs as number | undefined) ?? 60_000,
    retry: { ...RETRY_DEFAULTS, ...Object.fromEntries(Object.entries(retry ?? {}).filter(([, v]) => v !== undefined)) } as ResolvedPullImageOptions['retry'],
    userAgent: (userAgent as string | undefined) ?? 'proxmox-lxcri',
  };
}

/** The pull options: {@link fastPullOptions}, else the zod schema (imported then). */
async function resolvePullOptions(options: PullImageOptions): Promise<ResolvedPullImageOptions> {
  const fast = fastPullOptions(options);
  if (fast !== undefined) return fast;
  const { pullImageOptionsSchema } = await import('./options.js');
  return parseOptions(pullImageOptionsSchema, options, 'pullImage options');
}

/** What {@link pullImage} returns: the image as the store resolves it, and what the pull did. */
export interface PulledImage extends ResolvedImage {
  /** What was transferred. */
  pull: {
    /** The digest of the index the image was chosen from, if the reference named one. */
    indexDigest?: string;
    /** Blobs fetched from the registry. */
    fetchedBlobs: number;
    /** Blobs that were in the store already. */
    reusedBlobs: number;
    /** Bytes received over the network for blobs (resumed bytes not counted). */
    downloadedBytes: number;
  };
}

const isIndexType = (t: string): boolean => t === MEDIA_TYPES.ociIndex || t === MEDIA_TYPES.dockerManifestList;
const isManifestType = (t: string): boolean => t === MEDIA_TYPES.ociManifest || t === MEDIA_TYPES.dockerManifest;

/**
 * Picks the manifest of a platform from an index, as containerd does: same os and architecture;
 * the variant defaults per architecture (`amd64` → `v1`, `arm64` → `v8`, `arm` → `v7`), and an
 * `amd64` or `arm` host also takes the nearest lower variant. Attestation entries
 * (`unknown/unknown`) never match. See `oci/image/platform.ts`.
 */
export function choosePlatformManifest(index: OciIndex, platform: { os: string; architecture: string; variant?: string }): OciDescriptor | undefined {
  return bestForPlatform(index.manifests, platform).find((d) => d.platform);
}

function parseJsonDocument(fetched: FetchedManifest, what: string): unknown {
  try {
    return JSON.parse(fetched.body.toString('utf8')) as unknown;
  } catch (error) {
    throw new ImageError(`${what} is not valid JSON`, { digest: fetched.digest, reason: 'invalid JSON' }, { cause: error });
  }
}

async function credentialsSource(options: ResolvedPullImageOptions, registry: string): Promise<(repository: string) => Promise<RegistryCredentials | undefined>> {
  const auth = options.auth;
  if (auth?.username !== undefined && auth.password !== undefined) {
    const fixed = { username: auth.username, password: auth.password };
    return () => Promise.resolve(fixed);
  }
  return (repository) => findCredentials(registry, repository, { ...(auth?.authFile !== undefined ? { authFile: auth.authFile } : {}), env: auth?.env ?? process.env });
}

async function caOf(options: ResolvedPullImageOptions): Promise<string[] | undefined> {
  const out: string[] = [];
  const ca = options.tls?.ca;
  if (ca !== undefined) out.push(...(Array.isArray(ca) ? ca : [ca]));
  if (options.tls?.caFile !== undefined) {
    try {
      out.push(await readFile(options.tls.caFile, 'utf8'));
    } catch (error) {
      throw new InvalidOptionsError(`tls.caFile ${options.tls.caFile} cannot be read`, { issues: [{ path: 'tls.caFile', message: 'cannot be read' }] }, { cause: error });
    }
  }
  return out.length > 0 ? out : undefined;
}

/** Runs `fn` over `items` with at most `limit` at a time; the first failure aborts the rest. */
async function runPool<T>(items: readonly T[], limit: number, signal: AbortSignal, fn: (item: T, signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  const combined = AbortSignal.any([signal, controller.signal]);
  setMaxListeners(16 * limit + 16, combined);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T;
      try {
        await fn(item, combined);
      } catch (error) {
        if (failure === undefined) failure = { error };
        controller.abort(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure.error;
}

/**
 * Pulls an image into the store and returns it as `openImageLayout(store).resolve(reference)`
 * does. References follow containerd's rules: `nginx` → `docker.io/library/nginx:latest`
 * (Docker Hub's API on `registry-1.docker.io`), `host:port/repo:tag`, `repo@sha256:…`.
 *
 * - Manifests and indexes are verified against the reference's digest or `Docker-Content-Digest`;
 *   from an index the manifest of `platform` is chosen (skopeo's and containerd's rules).
 * - Blobs already in the store are not fetched; the others are fetched `concurrency` at a time
 *   into `.lxcri/ingest/`, verified (size and digest) and only then renamed into `blobs/`. An
 *   interrupted download resumes with `Range` where the registry supports it.
 * - The store's `index.json` gets an entry named with the normalised reference (both
 *   `org.opencontainers.image.ref.name` and `io.containerd.image.name`) and the image's platform.
 *
 * @throws RegistryError (`ERR_REGISTRY`, gRPC status from the registry's error code:
 *   NotFound, ResourceExhausted, Unavailable, ...), RegistryAuthError (`ERR_REGISTRY_AUTH`:
 *   Unauthenticated, PermissionDenied), ImageError (a digest or size mismatch, an unsupported
 *   document), AbortedError
 * @example
 * ```ts
 * const image = await pullImage('docker.io/library/busybox:1.36', { store: '/var/lib/lxcri/images' });
 * // image.manifestDigest; openImageLayout('/var/lib/lxcri/images') resolves it too
 * ```
 */
export async function pullImage(reference: string, options: PullImageOptions): Promise<PulledImage> {
  const o = await resolvePullOptions(options);
  const ref = parseImageReference(reference);
  const platform = parsePlatform(o.platform ?? hostPlatform());
  const logger = o.logger ?? silentLogger;
  const deadline = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, deadline]) : deadline;
  // every parallel download listens on it (request, body, retry wait): not a leak
  setMaxListeners(16 * o.concurrency + 16, signal);
  throwIfAborted(o.signal, `pulling ${ref.normalized}`);
  const layout = await openStore(o.store);
  const client = new RegistryClient({
    registry: ref.domain,
    insecure: o.insecureRegistries.includes(ref.domain),
    ca: await caOf(o),
    credentials: await credentialsSource(o, ref.domain),
    logger,
    retry: o.retry,
    headersTimeoutMs: o.headersTimeoutMs,
    bodyTimeoutMs: o.bodyTimeoutMs,
    connections: Math.max(o.concurrency, 2),
    userAgent: o.userAgent,
  });
  try {
    return await pullWith(client, layout, ref, platform, o, signal, logger);
  } catch (error) {
    if (!isLxcriError(error) && signal.aborted) throw new AbortedError(`pulling ${ref.normalized} was aborted`, { reference: ref.normalized }, { cause: signal.reason });
    throw error;
  } finally {
    await client.close();
  }
}

async function pullWith(
  client: RegistryClient,
  layout: ImageLayout,
  ref: ImageReference,
  platform: { os: string; architecture: string; variant?: string },
  o: ResolvedPullImageOptions,
  signal: AbortSignal,
  logger: Logger,
): Promise<PulledImage> {
  const name = ref.normalized;
  const total = { bytes: 0, totalBytes: 0, blobsDone: 0, blobsTotal: 0 };
  const progress = (p: Partial<PullProgress> & Pick<PullProgress, 'phase'>): void => o.onProgress?.({ reference: name, ...total, ...p });
  progress({ phase: 'manifest' });

  let fetched = await client.getManifest(ref.path, ref.digest ?? ref.tag ?? 'latest', signal);
  let indexDigest: string | undefined;
  let entryPlatform: OciPlatform | undefined;
  let depth = 0;
  while (isIndexType(fetched.mediaType)) {
    if (++depth > 4) throw new ImageError(`image index of ${name} is nested deeper than 4 levels`, { reference: name, reason: 'index too deep' });
    const index = await readImageDocument('index', parseJsonDocument(fetched, 'image index'), `image index ${fetched.digest}`, { digest: fetched.digest });
    indexDigest ??= fetched.digest;
    const chosen = choosePlatformManifest(index, platform) ?? index.manifests.find((d) => isIndexType(d.mediaType) && !d.platform);
    if (chosen === undefined) {
      const offered = index.manifests.map((d) => (d.platform ? `${d.platform.os}/${d.platform.architecture}${d.platform.variant ? `/${d.platform.variant}` : ''}` : '?')).join(', ');
      throw new NotFoundError(`${name} has no image for ${platform.os}/${platform.architecture}${platform.variant ? `/${platform.variant}` : ''} (it has ${offered.slice(0, 300)})`, { reference: name, reason: 'no matching platform' });
    }
    parseDigest(chosen.digest, 'index entry digest');
    if (chosen.platform) entryPlatform = chosen.platform;
    const child = await client.getManifest(ref.path, chosen.digest, signal);
    if (child.body.length !== chosen.size) {
      throw new ImageError(`manifest ${chosen.digest} has ${child.body.length} bytes, the index says ${chosen.size}`, { digest: chosen.digest, reason: 'size mismatch' });
    }
    fetched = { ...child, mediaType: child.mediaType || chosen.mediaType };
  }
  if (!isManifestType(fetched.mediaType)) {
    throw new ImageError(`${name} is a '${fetched.mediaType.slice(0, 200)}', not an image manifest or index`, { reference: name, digest: fetched.digest, reason: 'unsupported media type' });
  }
  const manifest: OciManifest = await readImageDocument('manifest', parseJsonDocument(fetched, 'manifest'), `manifest ${fetched.digest}`, { digest: fetched.digest });
  if (manifest.config.mediaType !== MEDIA_TYPES.ociConfig && manifest.config.mediaType !== MEDIA_TYPES.dockerConfig) {
    throw new ImageError(`${name} is not a container image (config media type '${manifest.config.mediaType.slice(0, 200)}')`, { reference: name, digest: fetched.digest, reason: 'unsupported media type' });
  }
  parseDigest(manifest.config.digest, 'manifest config.digest');
  for (const [i, layer] of manifest.layers.entries()) {
    parseDigest(layer.digest, `manifest layers[${i}].digest`);
    layerCompression(layer.mediaType);
  }

  const blobs = [manifest.config, ...manifest.layers].filter((d, i, all) => all.findIndex((x) => x.digest === d.digest) === i);
  total.blobsTotal = blobs.length;
  total.totalBytes = blobs.reduce((n, d) => n + d.size, 0);
  const unregister = await registerPull(layout.dir, [fetched.digest, ...(indexDigest ? [indexDigest] : []), ...blobs.map((d) => d.digest)], o.signal);
  const stats = { fetchedBlobs: 0, reusedBlobs: 0, downloadedBytes: 0 };
  try {
    const fetchOne = async (descriptor: OciDescriptor, s: AbortSignal): Promise<void> => {
      const fetchedNow = await fetchIntoStore(client, layout, ref.path, descriptor, s, o.timeoutMs, (bytes, received) => {
        progress({ phase: 'blob', digest: descriptor.digest, blobBytes: bytes, blobSize: descriptor.size, bytes: total.bytes + bytes });
        void received;
      });
      if (fetchedNow === false) stats.reusedBlobs += 1;
      else {
        stats.fetchedBlobs += 1;
        stats.downloadedBytes += fetchedNow;
      }
      total.bytes += descriptor.size;
      total.blobsDone += 1;
      progress({ phase: 'blob-done', digest: descriptor.digest, blobBytes: descriptor.size, blobSize: descriptor.size });
    };
    // The config and the layers are fetched together (the config first in the queue). The
    // config of a single-manifest image says its platform: checked as soon as it is in, and a
    // mismatch stops the layer downloads (what they received stays in ingest/ for gc).
    const checkConfig = async (): Promise<void> => {
      const config = JSON.parse((await layout.readBlob(manifest.config, 'config')).toString('utf8')) as { os?: unknown; architecture?: unknown; variant?: unknown };
      if (entryPlatform !== undefined) return;
      const os = typeof config.os === 'string' ? config.os : '';
      const architecture = typeof config.architecture === 'string' ? config.architecture : '';
      const variant = typeof config.variant === 'string' && config.variant !== '' ? config.variant : undefined;
      if (platformRank(platform, { os, architecture, variant }) === undefined) {
        const wanted = [platform.os, platform.architecture, platform.variant].filter(Boolean).join('/');
        throw new NotFoundError(`${name} is an image for ${[os, architecture, variant].filter(Boolean).join('/')}, not ${wanted}`, { reference: name, reason: 'no matching platform' });
      }
      entryPlatform = { os, architecture, ...(variant === undefined ? {} : { variant }) };
    };
    await runPool(blobs, o.concurrency, signal, async (descriptor, s) => {
      await fetchOne(descriptor, s);
      if (descriptor === manifest.config) await checkConfig();
    });
    if (entryPlatform === undefined) throw new ImageError(`${name}: the config of ${fetched.digest} was not read`, { reference: name, reason: 'no config' });
    await writeBlob(layout, fetched.digest, fetched.body);
    await addIndexEntry(layout, name, { mediaType: fetched.mediaType, digest: fetched.digest, size: fetched.body.length, platform: entryPlatform }, o.signal);
  } finally {
    await unregister();
  }
  logger.info({ reference: name, digest: fetched.digest, ...stats }, 'pulled image');
  progress({ phase: 'done' });
  const resolved = await layout.resolve(name, { platform: entryPlatform, ...(o.signal ? { signal: o.signal } : {}) });
  return { ...resolved, pull: { ...(indexDigest ? { indexDigest } : {}), ...stats } };
}

/**
 * Puts one blob into the store unless it is there. Downloads into the store's ingest folder under
 * a per-blob lock (a concurrent pull of the same blob waits and then finds it present).
 * @returns false when the blob was present, else the bytes received
 */
async function fetchIntoStore(
  client: RegistryClient,
  layout: ImageLayout,
  repository: string,
  descriptor: OciDescriptor,
  signal: AbortSignal,
  lockTimeoutMs: number,
  onBytes: (bytes: number, received: number) => void,
): Promise<number | false> {
  if (await hasBlob(layout, descriptor)) return false;
  const partial = ingestPath(layout.dir, descriptor.digest);
  await mkdir(ingestDir(layout.dir), { recursive: true });
  const release = await acquireLockFile(`${partial}.lock`, { signal, timeoutMs: lockTimeoutMs, what: `downloading ${descriptor.digest}` });
  try {
    if (await hasBlob(layout, descriptor)) return false;
    let received = 0;
    await client.fetchBlob(repository, descriptor, partial, signal, (p) => {
      received = p.received;
      onBytes(p.bytes, p.received);
    });
    const target = layout.blobPath(descriptor.digest);
    await mkdir(join(target, '..'), { recursive: true });
    await rename(partial, target);
    return received;
  } finally {
    await release();
  }
}

/** When {@link ensureImage} pulls, as kubelet's `imagePullPolicy`. */
export type PullPolicy = 'if-missing' | 'always' | 'never';

/** Options of {@link ensureImage} (what callers pass). */
export type EnsureImageOptions = z.input<typeof ensureImageOptionsSchema>;

/**
 * Returns `openImageLayout(store).resolve(reference)`, pulling first when the pull policy says so.
 * @throws NotFoundError when the policy is `never` and the store lacks the image; whatever
 *   {@link pullImage} throws otherwise
 * @example
 * ```ts
 * // kubelet's IfNotPresent: pull only when the store lacks the image
 * const image = await ensureImage('nginx:1.27', { store: '/var/lib/lxcri/images', pullPolicy: 'if-missing' });
 * ```
 */
export async function ensureImage(reference: string, options: EnsureImageOptions): Promise<ResolvedImage> {
  const { ensureImageOptionsSchema } = await import('./options.js');
  const { pullPolicy, ...pullOptions } = parseOptions(ensureImageOptionsSchema, options, 'ensureImage options');
  const ref = parseImageReference(reference);
  const platform = pullOptions.platform ?? hostPlatform();
  if (pullPolicy !== 'always') {
    const layout = await openStore(pullOptions.store);
    try {
      return await layout.resolve(ref.normalized, { platform: platform as PlatformSpec, ...(pullOptions.signal ? { signal: pullOptions.signal } : {}) });
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      if (pullPolicy === 'never') {
        throw new NotFoundError(`image ${ref.normalized} is not in the store and the pull policy is 'never'`, { reference: ref.normalized, reason: 'not present' }, { cause: error });
      }
    }
  }
  return pullImage(reference, { ...pullOptions, platform } as PullImageOptions);
}

