/**
 * The read side of layer extraction, in a worker thread: the worker reads the blob file, checks
 * its size and digest, decompresses it (gzip through zlib, zstd through `fzstd` — Node 20's zlib
 * has no zstd — or none) and hands the uncompressed bytes to the main thread in batches. The
 * main thread computes the DiffID over those batches, parses and writes, so decompression runs
 * on one core while writing runs on the other, and neither waits for the other's event-loop
 * turns. (The DiffID hash is on the main thread because decompression plus two hashes made the
 * worker the slower side.)
 *
 * Memory is bounded: the worker waits for credits (at most {@link CREDITS} batches of
 * {@link BATCH_BYTES} in flight), reads the blob in 256 KiB pieces, feeds zstd in 4 KiB slices,
 * and stops a compression bomb at `maxBytes` or at the inflation-ratio guard. The worker program
 * is `decompress-worker.ts`.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ImageError, LayerExtractionError } from '../../errors.js';
import type { LayerCompression } from '../image/types.js';
import type { DecompressControlMessage, DecompressFailure, DecompressWorkerData, DecompressWorkerMessage } from './decompress-worker.js';

/** Size of one batch handed from the worker to the main thread. */
const BATCH_BYTES = 1024 * 1024;
/** Batches in flight (decompressed but not yet consumed). */
const CREDITS = 4;

/**
 * How the worker module is started. Built (`dist/`), it is the compiled `decompress-worker.js`;
 * in a source checkout (tests, `tsx`) only `decompress-worker.ts` exists, and the worker
 * registers tsx (a devDependency) before it loads the TypeScript module.
 */
function workerEntry(): { source: string | URL; eval: boolean } {
  const compiled = new URL('./decompress-worker.js', import.meta.url);
  if (existsSync(fileURLToPath(compiled))) return { source: compiled, eval: false };
  const source = fileURLToPath(new URL('./decompress-worker.ts', import.meta.url));
  const tsx = createRequire(import.meta.url).resolve('tsx/cjs/api');
  return { source: `require(${JSON.stringify(tsx)}).register();\nrequire(${JSON.stringify(source)});\n`, eval: true };
}

let entry: ReturnType<typeof workerEntry> | undefined;

/** What a {@link LayerReader} needs to know. */
export interface LayerReaderOptions {
  /** Path of the blob file (already validated). */
  path: string;
  /** The blob digest and size from the descriptor. */
  digest: string;
  size: number;
  compression: LayerCompression;
  /** Algorithm of the DiffID (`sha256` or `sha512`). */
  diffAlgorithm: string;
  /** Most uncompressed bytes accepted. */
  maxBytes: number;
  /**
   * Inflation-ratio guard: past `afterBytes` uncompressed, at most `ratio` times the blob size.
   * @defaultValue no guard
   */
  inflation?: { ratio: number; afterBytes: number } | undefined;
}

/**
 * Streams a layer's uncompressed bytes from a worker thread. Each chunk is valid only until the
 * next one is requested (its memory goes back to the worker). Iterate it once; afterwards
 * {@link LayerReader.diffId} holds the digest of what was read. Errors are `ImageError` (missing
 * blob, size or digest mismatch) or `LayerExtractionError` (corrupt stream, limit).
 */
export class LayerReader implements AsyncIterable<Buffer> {
  readonly #o: LayerReaderOptions;
  /** Compressed bytes read so far. */
  compressedBytes = 0;
  /** DiffID of the stream; set when iteration completed. */
  diffId: string | undefined;

  constructor(options: LayerReaderOptions) {
    this.#o = options;
  }

  #error(kind: DecompressFailure, message: string): Error {
    const { digest, path } = this.#o;
    switch (kind) {
      case 'missing':
        return new ImageError(`layer ${digest} is missing from the image layout`, { digest, path, reason: 'missing blob' });
      case 'not a file':
        return new ImageError(`layer blob ${digest} is not a regular file (a symlink or a special file): ${message}`, { digest, path, reason: 'not a regular file' });
      case 'size':
        return new ImageError(`layer ${digest} ${message}`, { digest, reason: 'size mismatch' });
      case 'digest':
        return new ImageError(`layer ${digest} ${message}`, { digest, reason: 'digest mismatch' });
      case 'limit':
        return new LayerExtractionError(`layer expands to more than maxLayerBytes (${this.#o.maxBytes - 1} bytes)`, { layer: digest, reason: 'limit exceeded' });
      case 'ratio': {
        const { ratio, afterBytes } = this.#o.inflation ?? { ratio: 0, afterBytes: 0 };
        return new LayerExtractionError(
          `layer ${digest} expands to more than ${ratio} times its compressed size of ${this.#o.size} bytes (past ${afterBytes} bytes): refused as a compression bomb (limits.maxInflationRatio)`,
          { layer: digest, reason: 'limit exceeded' },
        );
      }
      case 'decompression':
        return new LayerExtractionError(`layer ${digest} is not valid ${this.#o.compression} data: ${message}`, { layer: digest, reason: 'decompression' });
      default:
        return new LayerExtractionError(`reading layer ${digest} failed: ${message}`, { layer: digest, reason: 'io' });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    entry ??= workerEntry();
    const { path, digest, size, compression, maxBytes, inflation } = this.#o;
    const workerData: DecompressWorkerData = {
      path,
      digest,
      size,
      compression,
      maxBytes,
      ratioBytes: inflation ? Math.max(inflation.afterBytes, inflation.ratio * size) : Number.MAX_SAFE_INTEGER,
      batchBytes: BATCH_BYTES,
      credits: CREDITS,
    };
    const worker = new Worker(entry.source, { eval: entry.eval, workerData });
    // the DiffID is hashed here, not in the worker: the worker (decompression) is the slower side
    const diffHash = createHash(this.#o.diffAlgorithm);
    const messages: DecompressWorkerMessage[] = [];
    let wake: (() => void) | undefined;
    let crashed: unknown;
    worker.on('message', (m: DecompressWorkerMessage) => {
      messages.push(m);
      const w = wake;
      wake = undefined;
      w?.();
    });
    worker.on('error', (error) => {
      crashed = error;
      const w = wake;
      wake = undefined;
      w?.();
    });
    try {
      for (;;) {
        const m = messages.shift();
        if (m === undefined) {
          if (crashed !== undefined) throw new LayerExtractionError('the layer reader thread failed', { layer: this.#o.digest, reason: 'io' }, { cause: crashed });
          await new Promise<void>((resolve) => (wake = resolve));
          continue;
        }
        if (m.type === 'out') {
          this.compressedBytes = m.compressed;
          diffHash.update(m.data);
          // the consumer (tar parser + applier) copies what it keeps, so the buffer goes back for reuse
          yield Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
          const backing = m.data.buffer as ArrayBuffer;
          worker.postMessage({ type: 'credit', buffer: backing } satisfies DecompressControlMessage, [backing]);
        } else if (m.type === 'done') {
          this.compressedBytes = m.compressed;
          this.diffId = `${this.#o.diffAlgorithm}:${diffHash.digest('hex')}`;
          return;
        } else {
          throw this.#error(m.kind, m.message);
        }
      }
    } finally {
      worker.postMessage({ type: 'stop' } satisfies DecompressControlMessage);
      await worker.terminate();
    }
  }
}
