/**
 * The OCI image layout store: reads a directory as written by `skopeo copy … oci:DIR:TAG` or
 * umoci (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), resolves a reference to one image
 * (nested indexes, platform choice, OCI and Docker v2 schema 2 media types), and verifies the
 * digest and size of every blob it reads.
 *
 * @module
 */
import { parseOptions } from '../../options.js';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve as resolvePath } from 'node:path';
import type { Readable } from 'node:stream';
import { createHash, randomBytes } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import type { z } from 'zod';
import { AbortedError, ImageError, NotFoundError, throwIfAborted } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { computeChainIds, DigestVerifier, parseDigest } from './digest.js';
import { isTag, tryParseImageReference } from './reference.js';
import { readImageDocument } from './documents.js';
import type { imageLayoutOptionsSchema, importImageOptionsSchema, resolveImageOptionsSchema } from './layout-options.js';
import { layerCompression, MEDIA_TYPES } from './media-types.js';
import { bestForPlatform, parsePlatform, platformRank, type PlatformSpec } from './platform.js';
import type { OciDescriptor, OciImageConfig, OciIndex, OciManifest } from './types.js';
import { hasOnly, isIntIn, isLogger, isNonEmpty, isPlainObject } from '../../internal/checks.js';

/** The annotation that names a manifest in an image layout. */
export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** The annotation containerd uses for the full image name. */
export const CONTAINERD_NAME_ANNOTATION = 'io.containerd.image.name';

/** Options of {@link openImageLayout} (what callers pass). */
export type ImageLayoutOptions = z.input<typeof imageLayoutOptionsSchema>;
/** Options of {@link openImageLayout} after defaults. */
export type ResolvedImageLayoutOptions = z.output<typeof imageLayoutOptionsSchema>;

export { parsePlatform, type PlatformSpec };

/** Options of {@link ImageLayout.resolve} (what callers pass). */
export type ResolveImageOptions = z.input<typeof resolveImageOptionsSchema>;
/** Options of {@link ImageLayout.resolve} after defaults. */
export type ResolvedResolveImageOptions = z.output<typeof resolveImageOptionsSchema>;

/** Options of {@link ImageLayout.importImage} (what callers pass). */
export type ImportImageOptions = z.input<typeof importImageOptionsSchema>;

/** An image resolved from a layout: everything needed to build its root filesystem. */
export interface ResolvedImage {
  /** The reference that was asked for (or the one that was found when none was given). */
  reference: string;
  /** The digest of the image manifest. */
  manifestDigest: string;
  /** The manifest's descriptor. */
  manifestDescriptor: OciDescriptor;
  /** The parsed manifest. */
  manifest: OciManifest;
  /** The digest of the config blob, i.e. the image id. */
  configDigest: string;
  /** The parsed image config. */
  config: OciImageConfig;
  /** The layer descriptors, base first. */
  layers: OciDescriptor[];
  /** The DiffIDs from the config, one per layer. */
  diffIds: string[];
  /** The ChainIDs of the layers. */
  chainIds: string[];
  /** The layout the image's blobs are read from. */
  layout: ImageLayout;
}

/** One named image in a layout's `index.json`. */
export interface ImageLayoutEntry {
  /** The `org.opencontainers.image.ref.name` annotation, if any. */
  refName?: string;
  /** Digest of the manifest or index. */
  digest: string;
  /** Its media type. */
  mediaType: string;
}

const DEFAULT_MAX_DOCUMENT_BYTES = 8 * 1024 * 1024;

/** A `platform` option as the schemas take it: `os/arch[/variant]` or `{ os, architecture, variant? }`, none empty. */
export function isPlatformOption(value: unknown): boolean {
  if (isNonEmpty(value)) return true;
  return (
    isPlainObject(value) &&
    hasOnly(value, ['os', 'architecture', 'variant']) &&
    isNonEmpty(value['os']) &&
    isNonEmpty(value['architecture']) &&
    (value['variant'] === undefined || isNonEmpty(value['variant']))
  );
}

/**
 * The layout options, checked by hand when they have the common shapes (zod, imported then,
 * parses anything else and names what is wrong, with the same defaults).
 */
async function optionsOf(options: ImageLayoutOptions | undefined): Promise<ResolvedImageLayoutOptions> {
  const o: unknown = options ?? {};
  if (isPlainObject(o) && hasOnly(o, ['logger', 'maxDocumentBytes', 'create'])) {
    const { logger, maxDocumentBytes, create } = o;
    if (
      (logger === undefined || isLogger(logger)) &&
      (maxDocumentBytes === undefined || isIntIn(maxDocumentBytes, 1)) &&
      (create === undefined || typeof create === 'boolean')
    ) {
      return { ...(logger === undefined ? {} : { logger }), maxDocumentBytes: maxDocumentBytes ?? DEFAULT_MAX_DOCUMENT_BYTES, create: create ?? false };
    }
  }
  const { imageLayoutOptionsSchema } = await import('./layout-options.js');
  return parseOptions(imageLayoutOptionsSchema, o, 'image layout options');
}

/** The resolve options, checked by hand when they have the common shapes (else parsed by zod). */
async function resolveOptionsOf(options: ResolveImageOptions | undefined): Promise<ResolvedResolveImageOptions> {
  const o: unknown = options ?? {};
  if (isPlainObject(o) && hasOnly(o, ['platform', 'signal'])) {
    const { platform, signal } = o;
    if ((platform === undefined || isPlatformOption(platform)) && (signal === undefined || signal instanceof AbortSignal)) {
      return { platform: (platform as ResolvedResolveImageOptions['platform'] | undefined) ?? 'linux/amd64', ...(signal === undefined ? {} : { signal }) };
    }
  }
  const { resolveImageOptionsSchema } = await import('./layout-options.js');
  return parseOptions(resolveImageOptionsSchema, o, 'resolve options');
}

const isIndexType = (mediaType: string | undefined): boolean => mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerManifestList;
const isManifestType = (mediaType: string | undefined): boolean => mediaType === MEDIA_TYPES.ociManifest || mediaType === MEDIA_TYPES.dockerManifest;

/**
 * An OCI image layout directory. Create with {@link openImageLayout}.
 */
export class ImageLayout {
  /** The absolute path of the layout directory. */
  readonly dir: string;
  readonly #options: ResolvedImageLayoutOptions;
  readonly #logger: Logger;

  /** @internal use {@link openImageLayout} */
  constructor(dir: string, options: ResolvedImageLayoutOptions) {
    this.dir = dir;
    this.#options = options;
    this.#logger = options.logger ?? silentLogger;
  }

  /**
   * The path of a blob. The digest is validated before the path is built.
   * @throws ImageError for a malformed digest
   */
  blobPath(digest: string): string {
    const { algorithm, encoded } = parseDigest(digest);
    return join(this.dir, 'blobs', algorithm, encoded);
  }

  /** Reads and parses `index.json`. */
  async readIndex(): Promise<OciIndex> {
    const path = join(this.dir, 'index.json');
    let text: string;
    try {
      const info = await stat(path);
      if (info.size > this.#options.maxDocumentBytes) throw new ImageError('index.json is too large', { path, reason: 'too large' });
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new ImageError('image layout has no index.json', { path, reason: 'missing index.json' }, { cause: error });
      throw error;
    }
    return readImageDocument('index', parseJson(text, 'index.json', { path }), 'index.json', { path });
  }

  /** The named entries of `index.json`. */
  async listImages(): Promise<ImageLayoutEntry[]> {
    const index = await this.readIndex();
    return index.manifests.map((d) => {
      const refName = d.annotations?.[REF_NAME_ANNOTATION];
      return { ...(refName === undefined ? {} : { refName }), digest: d.digest, mediaType: d.mediaType };
    });
  }

  /**
   * Opens a blob as a stream that fails (with `ImageError`) when the content does not match the
   * descriptor's digest or size. The error surfaces at the end of the stream.
   * @param chunkSize - size of the pieces the file is read in
   */
  openBlob(descriptor: Pick<OciDescriptor, 'digest' | 'size'>, what = 'blob', chunkSize = 1024 * 1024): Readable {
    const path = this.blobPath(descriptor.digest);
    const verifier = new DigestVerifier(descriptor.digest, descriptor.size, `${what} ${descriptor.digest}`);
    const source = createReadStream(path, { highWaterMark: chunkSize });
    source.on('error', (error: NodeJS.ErrnoException) => {
      verifier.destroy(
        error.code === 'ENOENT'
          ? new ImageError(`${what} ${descriptor.digest} is missing from the image layout`, { digest: descriptor.digest, path, reason: 'missing blob' }, { cause: error })
          : error,
      );
    });
    return source.pipe(verifier);
  }

  /** Reads a small blob (manifest, index, config) completely, verifying size and digest. */
  async readBlob(descriptor: Pick<OciDescriptor, 'digest' | 'size'>, what = 'blob'): Promise<Buffer> {
    const path = this.blobPath(descriptor.digest);
    if (descriptor.size > this.#options.maxDocumentBytes) {
      throw new ImageError(`${what} ${descriptor.digest} is larger than maxDocumentBytes`, { digest: descriptor.digest, reason: 'too large' });
    }
    let data: Buffer;
    try {
      const handle = await open(path, 'r');
      try {
        const info = await handle.stat();
        if (info.size !== descriptor.size) {
          throw new ImageError(`${what} ${descriptor.digest} has ${info.size} bytes, its descriptor says ${descriptor.size}`, { digest: descriptor.digest, reason: 'size mismatch' });
        }
        data = await handle.readFile();
      } finally {
        await handle.close();
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ImageError(`${what} ${descriptor.digest} is missing from the image layout`, { digest: descriptor.digest, path, reason: 'missing blob' }, { cause: error });
      }
      throw error;
    }
    const { algorithm } = parseDigest(descriptor.digest);
    const actual = `${algorithm}:${createHash(algorithm).update(data).digest('hex')}`;
    if (actual !== descriptor.digest) {
      throw new ImageError(`${what} ${descriptor.digest} does not match its digest: got ${actual}`, { digest: descriptor.digest, reason: 'digest mismatch' });
    }
    return data;
  }

  async #readManifest(descriptor: OciDescriptor): Promise<OciManifest> {
    const data = await this.readBlob(descriptor, 'manifest');
    const json = parseJson(data.toString('utf8'), 'manifest', { digest: descriptor.digest });
    if (typeof json === 'object' && json !== null && 'manifests' in json) {
      throw new ImageError(`manifest ${descriptor.digest} looks like an index`, { digest: descriptor.digest, reason: 'media type mismatch' });
    }
    const manifest = await readImageDocument('manifest', json, `manifest ${descriptor.digest}`, { digest: descriptor.digest });
    if (manifest.mediaType !== undefined && manifest.mediaType !== descriptor.mediaType) {
      throw new ImageError(`manifest ${descriptor.digest} says mediaType ${manifest.mediaType}, its descriptor says ${descriptor.mediaType}`, {
        digest: descriptor.digest,
        reason: 'media type mismatch',
      });
    }
    return manifest;
  }

  async #readNestedIndex(descriptor: OciDescriptor): Promise<OciIndex> {
    const data = await this.readBlob(descriptor, 'index');
    const json = parseJson(data.toString('utf8'), 'index', { digest: descriptor.digest });
    if (typeof json === 'object' && json !== null && ('layers' in json || 'config' in json)) {
      throw new ImageError(`index ${descriptor.digest} looks like a manifest`, { digest: descriptor.digest, reason: 'media type mismatch' });
    }
    const index = await readImageDocument('index', json, `index ${descriptor.digest}`, { digest: descriptor.digest });
    if (index.mediaType !== undefined && index.mediaType !== descriptor.mediaType) {
      throw new ImageError(`index ${descriptor.digest} says mediaType ${index.mediaType}, its descriptor says ${descriptor.mediaType}`, { digest: descriptor.digest, reason: 'media type mismatch' });
    }
    return index;
  }

  async #readConfig(manifest: OciManifest, manifestDigest: string): Promise<OciImageConfig> {
    const descriptor = manifest.config;
    if (descriptor.mediaType !== MEDIA_TYPES.ociConfig && descriptor.mediaType !== MEDIA_TYPES.dockerConfig) {
      throw new ImageError(`manifest ${manifestDigest} has config media type '${descriptor.mediaType.slice(0, 200)}', not an image config`, {
        digest: manifestDigest,
        reason: 'media type mismatch',
      });
    }
    const data = await this.readBlob(descriptor, 'config');
    return readImageDocument('config', parseJson(data.toString('utf8'), 'config', { digest: descriptor.digest }), `image config ${descriptor.digest}`, { digest: descriptor.digest });
  }

  /** Collects the image manifests reachable from descriptors (through nested indexes) that match a platform. */
  async #collectManifests(
    descriptors: readonly OciDescriptor[],
    platform: { os: string; architecture: string; variant?: string },
    depth: number,
    signal: AbortSignal | undefined,
  ): Promise<OciDescriptor[]> {
    if (depth > 4) throw new ImageError('image index nesting is deeper than 4 levels', { reason: 'index too deep' });
    const found: OciDescriptor[] = [];
    for (const descriptor of descriptors) parseDigest(descriptor.digest, 'descriptor digest');
    // of the entries with a platform, those that serve it best (an exact variant before a lower one)
    for (const descriptor of bestForPlatform(descriptors, platform)) {
      throwIfAborted(signal, 'reading the image');
      if (isIndexType(descriptor.mediaType)) {
        const nested = await this.#readNestedIndex(descriptor);
        found.push(...(await this.#collectManifests(nested.manifests, platform, depth + 1, signal)));
      } else if (isManifestType(descriptor.mediaType)) {
        found.push(descriptor);
      } else {
        this.#logger.debug({ digest: descriptor.digest, mediaType: descriptor.mediaType }, 'ignoring index entry of unknown media type');
      }
    }
    return found;
  }

  /**
   * Resolves a reference to one image. Accepted forms: a `org.opencontainers.image.ref.name`
   * value as written (`latest`, `v1`, `docker.io/library/busybox:latest`), a full or short name
   * (`busybox` → `docker.io/library/busybox:latest`, matched against full-name annotations and,
   * by its tag, against bare-tag annotations), `name@sha256:…`, a manifest digest, or an image id
   * (config digest, `sha256:<hex>`, or at least 12 hex characters of it). Without a reference the
   * layout must hold exactly one image.
   * @throws NotFoundError when nothing matches; ImageError when the match is ambiguous or invalid
   */
  async resolve(reference?: string, options?: ResolveImageOptions): Promise<ResolvedImage> {
    const o = await resolveOptionsOf(options);
    const { signal } = o;
    throwIfAborted(signal, 'reading the image');
    const platform = parsePlatform(o.platform);
    const index = await this.readIndex();
    for (const [i, d] of index.manifests.entries()) parseDigest(d.digest, `index.json manifests[${i}].digest`);

    let candidates: OciDescriptor[] = index.manifests;
    let byImageId: string | undefined;
    if (reference !== undefined && reference !== '') {
      const matched = matchReference(index.manifests, reference);
      if (matched.kind === 'image-id') byImageId = matched.prefix;
      else candidates = matched.descriptors;
    }
    const manifests = await this.#collectManifests(candidates, platform, 0, signal);
    const results = new Map<string, { descriptor: OciDescriptor; manifest: OciManifest; config: OciImageConfig }>();
    for (const descriptor of manifests) {
      throwIfAborted(signal, 'reading the image');
      if (results.has(descriptor.digest)) continue;
      const manifest = await this.#readManifest(descriptor);
      if (byImageId !== undefined) {
        const configHex = parseDigest(manifest.config.digest, 'config digest').encoded;
        if (!configHex.startsWith(byImageId) && !descriptor.digest.endsWith(`:${byImageId}`)) continue;
      }
      const config = await this.#readConfig(manifest, descriptor.digest);
      if (!descriptor.platform && platformRank(platform, { os: config.os, architecture: config.architecture, variant: config.variant }) === undefined) {
        this.#logger.debug({ digest: descriptor.digest, os: config.os, architecture: config.architecture }, 'skipping image of another platform');
        continue;
      }
      results.set(descriptor.digest, { descriptor, manifest, config });
    }
    if (results.size === 0) {
      throw new NotFoundError(`no image${reference ? ` '${reference.slice(0, 300)}'` : ''} for ${platform.os}/${platform.architecture} in the image layout`, {
        ...(reference ? { reference } : {}),
        path: this.dir,
      });
    }
    if (results.size > 1) {
      throw new ImageError(`reference ${reference ? `'${reference.slice(0, 300)}' ` : ''}matches ${results.size} images; name one by digest`, {
        ...(reference ? { reference } : {}),
        reason: 'ambiguous reference',
      });
    }
    const [{ descriptor, manifest, config }] = [...results.values()] as [{ descriptor: OciDescriptor; manifest: OciManifest; config: OciImageConfig }];
    return this.#buildResolved(reference ?? descriptor.annotations?.[REF_NAME_ANNOTATION] ?? descriptor.digest, descriptor, manifest, config);
  }

  #buildResolved(reference: string, descriptor: OciDescriptor, manifest: OciManifest, config: OciImageConfig): ResolvedImage {
    if (config.rootfs.type !== 'layers') {
      throw new ImageError(`image config rootfs.type is '${config.rootfs.type.slice(0, 100)}', expected 'layers'`, { digest: manifest.config.digest, reason: 'invalid rootfs type' });
    }
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== manifest.layers.length) {
      throw new ImageError(`image has ${manifest.layers.length} layers but its config lists ${diffIds.length} rootfs.diff_ids`, {
        digest: descriptor.digest,
        reason: 'layer count mismatch',
      });
    }
    for (const [i, layer] of manifest.layers.entries()) {
      parseDigest(layer.digest, `manifest layers[${i}].digest`);
      layerCompression(layer.mediaType);
    }
    parseDigest(manifest.config.digest, 'manifest config.digest');
    return {
      reference,
      manifestDigest: descriptor.digest,
      manifestDescriptor: descriptor,
      manifest,
      configDigest: manifest.config.digest,
      config,
      layers: manifest.layers,
      diffIds,
      chainIds: computeChainIds(diffIds),
      layout: this,
    };
  }

  /**
   * Copies an image (every blob reachable from the source's matching index entries, verified)
   * from another layout directory or an `oci-archive` tar into this layout, and adds its index
   * entries (replacing entries with the same `org.opencontainers.image.ref.name`).
   * @param source - a layout directory, or a `.tar` oci-archive
   * @param importOptions - `reference`: import only the entries matching it; `as`: the ref name to store under
   */
  async importImage(source: string, importOptions?: ImportImageOptions): Promise<ImageLayoutEntry[]> {
    const { importImageOptionsSchema } = await import('./layout-options.js');
    const options = parseOptions(importImageOptionsSchema, importOptions ?? {}, 'importImage options');
    const { signal } = options;
    const info = await stat(source).catch((error: unknown) => {
      throw new ImageError(`import source ${source} cannot be read`, { path: source, reason: 'missing source' }, { cause: error });
    });
    let sourceLayout: ImageLayout;
    let cleanup: (() => Promise<void>) | undefined;
    if (info.isDirectory()) {
      sourceLayout = await openImageLayout(source, { maxDocumentBytes: this.#options.maxDocumentBytes });
    } else {
      const staging = join(this.dir, `.import-${randomBytes(6).toString('hex')}`);
      cleanup = () => rm(staging, { recursive: true, force: true });
      try {
        const { extractOciArchive } = await import('./archive.js');
        await extractOciArchive(source, staging, { signal, maxDocumentBytes: this.#options.maxDocumentBytes });
        sourceLayout = await openImageLayout(staging, { maxDocumentBytes: this.#options.maxDocumentBytes });
      } catch (error) {
        await cleanup();
        throw error;
      }
    }
    try {
      const sourceIndex = await sourceLayout.readIndex();
      let entries = sourceIndex.manifests;
      if (options.reference !== undefined) {
        const matched = matchReference(entries, options.reference);
        if (matched.kind === 'image-id') throw new ImageError('import by image id is not supported; use a name or manifest digest', { reference: options.reference, reason: 'invalid reference' });
        entries = matched.descriptors;
        if (entries.length === 0) throw new NotFoundError(`no image '${options.reference}' in ${source}`, { reference: options.reference });
      }
      for (const entry of entries) await this.#copyTree(sourceLayout, entry, 0, signal);
      const imported = entries.map((d) => (options.as === undefined ? d : { ...d, annotations: { ...d.annotations, [REF_NAME_ANNOTATION]: options.as } }));
      const own = await this.readIndex();
      const names = new Set(imported.map((d) => d.annotations?.[REF_NAME_ANNOTATION]).filter((n): n is string => n !== undefined));
      const kept = own.manifests.filter((d) => {
        const name = d.annotations?.[REF_NAME_ANNOTATION];
        return name === undefined ? !imported.some((i) => i.digest === d.digest) : !names.has(name);
      });
      await writeJsonAtomic(join(this.dir, 'index.json'), { ...own, manifests: [...kept, ...imported] });
      return imported.map((d) => {
        const refName = d.annotations?.[REF_NAME_ANNOTATION];
        return { ...(refName === undefined ? {} : { refName }), digest: d.digest, mediaType: d.mediaType };
      });
    } finally {
      await cleanup?.();
    }
  }

  async #copyTree(source: ImageLayout, descriptor: OciDescriptor, depth: number, signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal, 'reading the image');
    if (depth > 6) throw new ImageError('image index nesting too deep during import', { reason: 'index too deep' });
    if (isIndexType(descriptor.mediaType)) {
      const index = await source.#readNestedIndex(descriptor);
      for (const child of index.manifests) await this.#copyTree(source, child, depth + 1, signal);
    } else if (isManifestType(descriptor.mediaType)) {
      const manifest = await source.#readManifest(descriptor);
      await this.#copyBlob(source, manifest.config, signal);
      for (const layer of manifest.layers) await this.#copyBlob(source, layer, signal);
    } else {
      return;
    }
    await this.#copyBlob(source, descriptor, signal);
  }

  async #copyBlob(source: ImageLayout, descriptor: OciDescriptor, signal: AbortSignal | undefined): Promise<void> {
    const target = this.blobPath(descriptor.digest);
    const existing = await stat(target).catch(() => undefined);
    if (existing?.isFile() && existing.size === descriptor.size) return;
    await mkdir(join(target, '..'), { recursive: true });
    const temp = `${target}.tmp-${randomBytes(6).toString('hex')}`;
    try {
      await pipeline(source.openBlob(descriptor), createWriteStream(temp, { flags: 'wx', mode: 0o644 }), ...(signal ? [{ signal }] : []));
      await rename(temp, target);
    } catch (error) {
      await rm(temp, { force: true });
      if (signal?.aborted) throw new AbortedError('image import aborted', {}, { cause: error });
      throw error;
    }
  }
}

type ReferenceMatch = { kind: 'descriptors'; descriptors: OciDescriptor[] } | { kind: 'image-id'; prefix: string };

/** Selects the index entries a reference names (see {@link ImageLayout.resolve}). */
function matchReference(manifests: readonly OciDescriptor[], reference: string): ReferenceMatch {
  const nameOf = (d: OciDescriptor): string[] =>
    [d.annotations?.[REF_NAME_ANNOTATION], d.annotations?.[CONTAINERD_NAME_ANNOTATION]].filter((n): n is string => n !== undefined);
  const exact = manifests.filter((d) => nameOf(d).includes(reference));
  if (exact.length > 0) return { kind: 'descriptors', descriptors: exact };
  const digestLike = /^sha256:[a-f0-9]{64}$/.test(reference) ? reference : /^[a-f0-9]{64}$/.test(reference) ? `sha256:${reference}` : undefined;
  if (digestLike !== undefined) {
    const byDigest = manifests.filter((d) => d.digest === digestLike);
    if (byDigest.length > 0) return { kind: 'descriptors', descriptors: byDigest };
    return { kind: 'image-id', prefix: digestLike.slice('sha256:'.length) };
  }
  if (/^[a-f0-9]{12,63}$/.test(reference)) return { kind: 'image-id', prefix: reference };
  const parsed = tryParseImageReference(reference);
  if (parsed === undefined) throw new ImageError(`'${reference.slice(0, 300)}' is not a valid image reference`, { reference, reason: 'invalid reference' });
  if (parsed.digest !== undefined) {
    return { kind: 'descriptors', descriptors: manifests.filter((d) => d.digest === parsed.digest) };
  }
  const full = manifests.filter((d) =>
    nameOf(d).some((n) => {
      if (!n.includes('/') && !n.includes(':')) return false;
      const other = tryParseImageReference(n);
      return other !== undefined && other.name === parsed.name && other.tag === parsed.tag;
    }),
  );
  if (full.length > 0) return { kind: 'descriptors', descriptors: full };
  const byTag = manifests.filter((d) => nameOf(d).some((n) => isTag(n) && n === parsed.tag));
  return { kind: 'descriptors', descriptors: byTag };
}

function parseJson(text: string, what: string, details: { digest?: string; path?: string }): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new ImageError(`${what} is not valid JSON`, { ...details, reason: 'invalid JSON' }, { cause: error });
  }
}

async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(temp, `${JSON.stringify(value)}\n`, { mode: 0o644 });
  await rename(temp, path);
}

/**
 * Opens an OCI image layout directory. Checks `oci-layout` (`imageLayoutVersion` 1.0.0) and that
 * `index.json` exists; with `create: true` an empty layout is made when the directory has none.
 * @throws ImageError when the directory is not an image layout
 * @example
 * ```ts
 * const layout = await openImageLayout('/srv/oci/busybox'); // skopeo copy docker://busybox oci:/srv/oci/busybox:1.36
 * const image = await layout.resolve('busybox:1.36', { platform: 'linux/amd64' });
 * const { manifestDigest, layers } = image; // image.config.config?.Cmd is the image's command
 * ```
 */
export async function openImageLayout(dir: string, options?: ImageLayoutOptions): Promise<ImageLayout> {
  const resolved = await optionsOf(options);
  const root = resolvePath(dir);
  const layoutFile = join(root, 'oci-layout');
  let text: string | undefined;
  try {
    text = await readFile(layoutFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new ImageError(`cannot read ${layoutFile}`, { path: layoutFile }, { cause: error });
    if (!resolved.create) throw new ImageError(`${root} is not an OCI image layout (no oci-layout file)`, { path: root, reason: 'not an image layout' }, { cause: error });
  }
  if (text === undefined) {
    await mkdir(join(root, 'blobs', 'sha256'), { recursive: true });
    await writeJsonAtomic(layoutFile, { imageLayoutVersion: '1.0.0' });
    await writeJsonAtomic(join(root, 'index.json'), { schemaVersion: 2, mediaType: MEDIA_TYPES.ociIndex, manifests: [] });
  } else {
    const header = parseJson(text, 'oci-layout', { path: layoutFile });
    const version = typeof header === 'object' && header !== null ? (header as { imageLayoutVersion?: unknown }).imageLayoutVersion : undefined;
    if (version !== '1.0.0') {
      throw new ImageError(`oci-layout imageLayoutVersion is ${JSON.stringify(version)}, expected "1.0.0"`, { path: layoutFile, reason: 'unsupported layout version' });
    }
  }
  return new ImageLayout(root, resolved);
}
