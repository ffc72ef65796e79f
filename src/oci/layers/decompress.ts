/**
 * Decompression streams for layer blobs: gzip through Node's zlib (which runs in the libuv
 * thread pool, i.e. on another core than the writer), zstd through `fzstd` (Node 20's zlib has
 * no zstd), or none.
 *
 * @module
 */
import { Transform, type TransformCallback } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Decompress } from 'fzstd';
import { LayerExtractionError } from '../../errors.js';
import type { LayerCompression } from '../image/types.js';

/** A Transform that decompresses a zstd stream (one or more frames). */
export class ZstdDecompressStream extends Transform {
  readonly #decoder: Decompress;
  #pending: Buffer[] = [];

  constructor() {
    super({ readableHighWaterMark: 4 * 1024 * 1024 });
    this.#decoder = new Decompress((data) => {
      if (data.length > 0) this.#pending.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    });
  }

  #drain(): void {
    for (const b of this.#pending) this.push(b);
    this.#pending = [];
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#decoder.push(chunk);
      this.#drain();
      callback();
    } catch (error) {
      callback(new LayerExtractionError(`zstd stream is corrupt: ${(error as Error).message}`, { reason: 'decompression' }, { cause: error }));
    }
  }

  override _flush(callback: TransformCallback): void {
    try {
      this.#decoder.push(new Uint8Array(0), true);
      this.#drain();
      callback();
    } catch (error) {
      callback(new LayerExtractionError(`zstd stream is corrupt or truncated: ${(error as Error).message}`, { reason: 'decompression' }, { cause: error }));
    }
  }
}

/** A decompressing transform for a layer compression, or `undefined` for none. */
export function createDecompressor(compression: LayerCompression): Transform | undefined {
  if (compression === 'gzip') return createGunzip({ chunkSize: 1024 * 1024 });
  if (compression === 'zstd') return new ZstdDecompressStream();
  return undefined;
}
