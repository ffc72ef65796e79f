/**
 * Storage endpoints: list, content list/delete, and streamed uploads.
 * @module
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import { z } from 'zod';
import { throwIfAborted, InvalidArgumentError } from '../../errors.js';
import { expandPath } from '../transport/encode.js';
import { buildMultipartBody, type UploadProgress } from '../transport/multipart.js';
import { boolLike, intLike, numLike, upidResponse, type CallOptions, type Endpoint, type EndpointSender } from './endpoint.js';

/** One entry of `GET /nodes/{node}/storage`. */
export const storageSchema = z.looseObject({
  storage: z.string(),
  type: z.string(),
  content: z.string().optional(),
  active: boolLike.optional(),
  enabled: boolLike.optional(),
  shared: boolLike.optional(),
  avail: numLike.optional(),
  total: numLike.optional(),
  used: numLike.optional(),
});
/** A storage as a node sees it. */
export type PveStorage = z.output<typeof storageSchema>;

/** One entry of `GET …/storage/{storage}/content`. */
export const storageContentSchema = z.looseObject({
  volid: z.string(),
  content: z.string().optional(),
  format: z.string().optional(),
  size: numLike.optional(),
  ctime: intLike.optional(),
});
/** A volume on a storage. */
export type StorageContent = z.output<typeof storageContentSchema>;

/** Content types the upload endpoint accepts. */
export type UploadContentType = 'vztmpl' | 'iso' | 'import';
/** Checksum algorithms PVE verifies. */
export type ChecksumAlgorithm = 'md5' | 'sha1' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** Options of {@link StorageApi.upload}. */
export interface UploadOptions extends CallOptions {
  /** `vztmpl` for CT templates. */
  content: UploadContentType;
  /** A file path, or a stream with its exact size. */
  source: { path: string } | { stream: AsyncIterable<Uint8Array | string>; size: number };
  /**
   * Target file name (PVE normalises it: basename, chars outside `[A-Za-z0-9_.-]` become `_`).
   * @defaultValue the basename of `source.path` (required for a stream)
   */
  filename?: string;
  /**
   * `'sha256'` (computed from `source.path` before sending), an explicit checksum, or `false`.
   * PVE verifies it and fails the task on a mismatch.
   * @defaultValue `'sha256'` for a path, `false` for a stream
   */
  checksum?: 'sha256' | { algorithm: ChecksumAlgorithm; value: string } | false;
  /** Called as bytes are sent. */
  onProgress?: (progress: UploadProgress) => void;
}

/** Result of an upload: the `imgcopy` task and the volume id it will produce. */
export interface UploadResult {
  upid: string;
  volid: string;
  /** The checksum sent, if any. */
  checksum?: { algorithm: ChecksumAlgorithm; value: string };
}

/** PVE's filename normalisation (`PVE::Storage::normalize_content_filename`). */
export function normalizeContentFilename(name: string): string {
  return basename(name).replace(/[^a-zA-Z0-9_.-]/g, '_');
}


/** Hashes a file with SHA-256 through one reused 256 KiB buffer (constant memory, no allocation churn). */
async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.allocUnsafe(1 << 18);
    for (;;) {
      throwIfAborted(signal, 'checksum');
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
  return hash.digest('hex');
}

/**
 * The bytes of a file, opened when the first chunk is asked for (so a login that fails before
 * the body is sent never opens it) and closed when the iteration ends, fails or is abandoned.
 */
async function* readLazily(path: string, signal: AbortSignal | undefined): AsyncGenerator<Buffer> {
  const stream = createReadStream(path, { highWaterMark: 1 << 16, ...(signal ? { signal } : {}) });
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } finally {
    stream.destroy();
  }
}

/** Endpoint builders (pure). */
export const storageEndpoints = {
  list: (node: string, params: { content?: string; enabled?: boolean; storage?: string } = {}): Endpoint<PveStorage[]> => ({
    method: 'GET',
    path: expandPath('/nodes/{node}/storage', { node }),
    params,
    response: z.array(storageSchema),
    retry: 'idempotent',
  }),
  content: (node: string, storage: string, params: { content?: string; vmid?: number } = {}): Endpoint<StorageContent[]> => ({
    method: 'GET',
    path: expandPath('/nodes/{node}/storage/{storage}/content', { node, storage }),
    params,
    response: z.array(storageContentSchema),
    retry: 'idempotent',
  }),
  deleteContent: (node: string, storage: string, volume: string, params: { delay?: number } = {}): Endpoint<string | null> => ({
    method: 'DELETE',
    path: expandPath('/nodes/{node}/storage/{storage}/content/{volume}', { node, storage, volume }),
    params,
    response: z.union([upidResponse, z.null()]),
    retry: 'not-executed',
  }),
};

/** `client.storage`. */
export class StorageApi {
  readonly #send: EndpointSender;
  /** @internal */
  constructor(send: EndpointSender) {
    this.#send = send;
  }
  /** Storages of a node (optionally only those with a content type). */
  list(node: string, options: CallOptions & { content?: string; enabled?: boolean } = {}): Promise<PveStorage[]> {
    const { signal: _s, timeoutMs: _t, ...params } = options;
    return this.#send(storageEndpoints.list(node, params), options);
  }
  /** Volumes on a storage. */
  content(node: string, storage: string, options: CallOptions & { content?: string; vmid?: number } = {}): Promise<StorageContent[]> {
    const { signal: _s, timeoutMs: _t, ...params } = options;
    return this.#send(storageEndpoints.content(node, storage, params), options);
  }
  /** Deletes a volume; returns a UPID, or `null` when PVE finished within `delay`. */
  deleteContent(node: string, storage: string, volume: string, options: CallOptions & { delay?: number } = {}): Promise<string | null> {
    const { signal: _s, timeoutMs: _t, ...params } = options;
    return this.#send(storageEndpoints.deleteContent(node, storage, volume, params), options);
  }

  /**
   * Uploads a file (e.g. a CT template) as a streamed `multipart/form-data` body with
   * `Content-Length`; memory use stays flat whatever the size. Never re-sent automatically.
   *
   * @example
   * ```ts
   * const { upid, volid } = await client.storage.upload('pve1', 'local', { content: 'vztmpl', source: { path: '/tmp/app.tar' } });
   * await client.tasks.wait(upid);
   * ```
   */
  async upload(node: string, storage: string, options: UploadOptions): Promise<UploadResult> {
    const { source, content, onProgress, signal } = options;
    let size: number;
    let file: AsyncIterable<Uint8Array | string>;
    let filename = options.filename;
    let checksum: { algorithm: ChecksumAlgorithm; value: string } | undefined;
    if ('path' in source) {
      const info = await stat(source.path).catch((error: unknown) => {
        throw InvalidArgumentError.forField('source.path', `cannot read ${source.path}`, { cause: error });
      });
      if (!info.isFile()) throw InvalidArgumentError.forField('source.path', `${source.path} is not a regular file`);
      size = info.size;
      filename ??= basename(source.path);
      const wanted = options.checksum ?? 'sha256';
      if (wanted === 'sha256') checksum = { algorithm: 'sha256', value: await sha256File(source.path, signal) };
      else if (wanted) checksum = wanted;
      // opened only when the body is sent (after login), and closed on every path
      file = readLazily(source.path, signal);
    } else {
      if (!Number.isInteger(source.size) || source.size < 0) throw InvalidArgumentError.forField('source.size', 'must be the exact byte length of the stream');
      if (!filename) throw InvalidArgumentError.forField('filename', 'is required when uploading a stream');
      if (options.checksum === 'sha256') throw InvalidArgumentError.forField('checksum', "'sha256' can only be computed for a path; pass { algorithm, value } for a stream");
      if (options.checksum) checksum = options.checksum;
      size = source.size;
      file = source.stream;
    }
    throwIfAborted(signal, 'upload');
    if (content === 'vztmpl' && !/\.(?:tar|tar\.(?:gz|xz|zst|bz2))$/i.test(filename)) {
      throw InvalidArgumentError.forField('filename', 'a vztmpl upload must end in .tar, .tar.gz, .tar.xz, .tar.zst or .tar.bz2');
    }
    const fields: [string, string][] = [['content', content]];
    if (checksum) fields.push(['checksum-algorithm', checksum.algorithm], ['checksum', checksum.value]);
    const multipart = buildMultipartBody({ fields, fileField: 'filename', filename, file, size, ...(onProgress ? { onProgress } : {}) });
    const endpoint: Endpoint<string> = {
      method: 'POST',
      path: expandPath('/nodes/{node}/storage/{storage}/upload', { node, storage }),
      body: { stream: multipart.body, contentType: multipart.contentType },
      response: upidResponse,
      retry: 'never',
    };
    const upid = await this.#send(endpoint, { ...(signal ? { signal } : {}), timeoutMs: options.timeoutMs ?? 3_600_000 });
    return { upid, volid: `${storage}:${content}/${normalizeContentFilename(filename)}`, ...(checksum ? { checksum } : {}) };
  }
}
