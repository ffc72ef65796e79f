/**
 * Reading an `oci-archive` (a tar of an image layout, as `skopeo copy … oci-archive:FILE` writes).
 * Only `oci-layout`, `index.json` and `blobs/<alg>/<hex>` regular files are taken; every blob is
 * hashed while it is written and must match its name.
 *
 * @module
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, createReadStream, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { ImageError, throwIfAborted } from '../../errors.js';
import { TarParser, type TarEntryHeader, type TarHandler } from './tar-reader.js';
import { parseDigest } from './digest.js';

const BLOB_NAME = /^blobs\/(sha256|sha512)\/([a-f0-9]{64}|[a-f0-9]{128})$/;

class ArchiveHandler implements TarHandler {
  readonly #dir: string;
  readonly #maxDocumentBytes: number;
  #fd: number | undefined;
  #hash: Hash | undefined;
  #expected: string | undefined;
  #name = '';

  constructor(dir: string, maxDocumentBytes: number) {
    this.#dir = dir;
    this.#maxDocumentBytes = maxDocumentBytes;
  }

  entry(h: TarEntryHeader): void {
    const name = h.name.replace(/^\.\//, '').replace(/\/+$/, '');
    if (h.type !== 'file') return;
    const blob = BLOB_NAME.exec(name);
    if (name !== 'oci-layout' && name !== 'index.json' && !blob) return;
    if (!blob && h.size > this.#maxDocumentBytes) throw new ImageError(`${name} in the archive is too large`, { reason: 'too large' });
    if (blob) {
      const digest = parseDigest(`${blob[1] as string}:${blob[2] as string}`).digest;
      mkdirSync(join(this.#dir, 'blobs', blob[1] as string), { recursive: true });
      this.#hash = createHash(blob[1] as string);
      this.#expected = digest;
    }
    this.#name = name;
    this.#fd = openSync(join(this.#dir, name), constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o644);
  }

  data(chunk: Buffer): void {
    if (this.#fd === undefined) return;
    this.#hash?.update(chunk);
    let off = 0;
    while (off < chunk.length) off += writeSync(this.#fd, chunk, off, chunk.length - off);
  }

  end(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
    if (this.#hash && this.#expected) {
      const actual = `${this.#expected.split(':')[0] as string}:${this.#hash.digest('hex')}`;
      if (actual !== this.#expected) throw new ImageError(`archive member ${this.#name} does not match its digest`, { digest: this.#expected, reason: 'digest mismatch' });
    }
    this.#hash = undefined;
    this.#expected = undefined;
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Extracts the layout files of an oci-archive into `dir` (created). */
export async function extractOciArchive(file: string, dir: string, options: { signal?: AbortSignal | undefined; maxDocumentBytes: number }): Promise<void> {
  mkdirSync(join(dir, 'blobs'), { recursive: true });
  const handler = new ArchiveHandler(dir, options.maxDocumentBytes);
  const parser = new TarParser(handler, { maxMetaBytes: 1024 * 1024 });
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
      throwIfAborted(options.signal, 'archive import');
      parser.push(chunk);
    }
    parser.finish();
  } finally {
    handler.close();
  }
}
