/**
 * The read side of layer extraction, in a worker thread: the worker reads the blob file, checks
 * its size and digest, decompresses it (gzip through zlib, zstd through `fzstd` — Node 20's zlib
 * has no zstd — or none) and hands the uncompressed bytes to the main thread
 * in batches. Decompression (zlib runs on the libuv thread pool, driven by the worker) runs
 * beside parsing, hashing the DiffID and writing (main thread), and neither side waits for the
 * other's event-loop turns.
 *
 * Layers up to 4 MiB compressed are read by the same job code in the calling thread (over a
 * `MessageChannel`): starting a worker costs more than reading them.
 *
 * A {@link LayerInflater} owns one worker for all layers of an unpack: its jobs run one after the
 * other, and a layer queued ahead ({@link LayerInflater.prefetch}) starts inflating as soon as the
 * previous one has been read, while that one is still being applied. The apply order stays
 * sequential; only the reading runs ahead, by at most {@link CREDITS} batches.
 *
 * Memory is bounded: the worker waits for credits (at most {@link CREDITS} batches of
 * {@link BATCH_BYTES} in flight per job, and only one job runs at a time), reads the blob in
 * 256 KiB pieces, feeds zstd in 4 KiB slices, and stops a compression bomb at `maxBytes` or at
 * the inflation-ratio guard. The job code is `layer-jobs.ts`; the worker program `decompress-worker.ts`.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { MessageChannel, type MessagePort, type Worker } from 'node:worker_threads';
import { ImageError, LayerExtractionError } from '../../errors.js';
import type { LayerCompression } from '../image/types.js';
import { startLayerWorker } from './layer-worker.js';
import { serveLayerJobs, type DecompressControlMessage, type DecompressFailure, type DecompressJob, type DecompressWorkerMessage } from './layer-jobs.js';

/** Size of one batch handed from the worker to the main thread. */
const BATCH_BYTES = 1024 * 1024;
/** Batches in flight (decompressed but not yet consumed). */
const CREDITS = 4;
/**
 * Which thread hashes the DiffID: the worker (true) or the main thread, as it takes each batch
 * (false). Measured on 2 cores: the main thread is faster — the worker's thread also drives the
 * inflate, and hashing there delays the next batch more than it saves the main thread.
 */
const DIFF_HASH_IN_WORKER = false;
/**
 * Layers up to this compressed size are read in the calling thread (the same job code, on a
 * `MessageChannel`): starting a worker thread takes about 30 ms and 60–90 ms of CPU, more than
 * reading such a layer; a bigger one is worth a thread of its own.
 */
const IN_THREAD_MAX_BYTES = 4 * 1024 * 1024;

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

type Listener = (m: DecompressWorkerMessage | { type: 'crash'; error: unknown }) => void;

/**
 * One worker thread that reads layers for the main thread, one job after the other. Create one
 * per unpack, {@link LayerInflater.prefetch} the next layer while the current one is applied, and
 * {@link LayerInflater.close} it at the end (also after a failure: queued jobs are dropped).
 */
export class LayerInflater {
  #worker: Worker | undefined;
  /** The in-thread reader: our end of its channel, and how to stop its jobs. */
  #local: { port: MessagePort; stopAll: () => void } | undefined;
  readonly #inThreadMaxBytes: number;
  #nextId = 1;
  readonly #listeners = new Map<number, Listener>();
  /** Where each job runs. */
  readonly #ports = new Map<number, Worker | MessagePort>();
  readonly #prefetched = new Map<string, LayerReader>();
  #closed = false;

  /** @param options.inThreadMaxBytes layers up to this compressed size are read in this thread (default 4 MiB; 0: always a worker) */
  constructor(options: { inThreadMaxBytes?: number } = {}) {
    this.#inThreadMaxBytes = options.inThreadMaxBytes ?? IN_THREAD_MAX_BYTES;
  }

  /** Queues a job; `listener` gets its messages. */
  submit(job: Omit<DecompressJob, 'id'>, listener: Listener): number {
    if (this.#closed) throw new LayerExtractionError('the layer reader was closed', { reason: 'io' });
    const id = this.#nextId++;
    this.#listeners.set(id, listener);
    const port = job.size <= this.#inThreadMaxBytes ? this.#startLocal() : this.#startWorker();
    this.#ports.set(id, port);
    port.postMessage({ type: 'job', job: { ...job, id } } satisfies DecompressControlMessage);
    return id;
  }

  /** Hands a consumed batch's buffer back to the reader (a credit of job `id`). */
  credit(id: number, buffer: ArrayBuffer): void {
    this.#ports.get(id)?.postMessage({ type: 'credit', id, buffer } satisfies DecompressControlMessage, [buffer]);
  }

  /** Stops job `id` (running or queued); its messages are no longer delivered. */
  cancel(id: number): void {
    this.#listeners.delete(id);
    this.#ports.get(id)?.postMessage({ type: 'stop', id } satisfies DecompressControlMessage);
    this.#ports.delete(id);
  }

  /** The job is over (done or failed): no more messages for it. */
  release(id: number): void {
    this.#listeners.delete(id);
    this.#ports.delete(id);
  }

  /**
   * Starts reading a layer now, for a later {@link LayerInflater.reader} call with the same blob.
   * Jobs run one after the other in the order they were queued, and a job waits for its batches
   * to be consumed: queue them in the order they are read, or a later one blocks the reader.
   */
  prefetch(options: LayerReaderOptions): void {
    const key = `${options.path}\0${options.digest}`;
    if (this.#closed || this.#prefetched.has(key)) return;
    const reader = new LayerReader(options, this);
    reader.start();
    this.#prefetched.set(key, reader);
  }

  /** A reader of the layer: the prefetched one when there is one, else a new one (queued now). */
  reader(options: LayerReaderOptions): LayerReader {
    const key = `${options.path}\0${options.digest}`;
    const ahead = this.#prefetched.get(key);
    if (ahead && sameJob(ahead.options, options)) {
      this.#prefetched.delete(key);
      return ahead;
    }
    const reader = new LayerReader(options, this);
    reader.start();
    return reader;
  }

  /** Drops queued and prefetched jobs, and ends the worker thread and the in-thread reader. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const reader of this.#prefetched.values()) reader.cancel();
    this.#prefetched.clear();
    this.#listeners.clear();
    this.#ports.clear();
    const local = this.#local;
    this.#local = undefined;
    // a job waiting for credits is stopped (its blob file closed), then the channel goes
    local?.stopAll();
    local?.port.close();
    const worker = this.#worker;
    this.#worker = undefined;
    await worker?.terminate();
  }

  #deliver = (m: DecompressWorkerMessage): void => this.#listeners.get(m.id)?.(m);

  #startLocal(): MessagePort {
    if (this.#local) return this.#local.port;
    const { port1, port2 } = new MessageChannel();
    const { stopAll } = serveLayerJobs(port1);
    port2.on('message', this.#deliver);
    this.#local = { port: port2, stopAll };
    return port2;
  }

  #startWorker(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startLayerWorker();
    worker.on('message', this.#deliver);
    const crash = (error: unknown): void => {
      for (const [id, port] of this.#ports) if (port === worker) this.#listeners.get(id)?.({ type: 'crash', error });
      for (const [id, port] of this.#ports) if (port === worker) this.#listeners.delete(id);
    };
    worker.on('error', crash);
    worker.on('exit', (code) => crash(new Error(`the worker thread exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }
}

function sameJob(a: LayerReaderOptions, b: LayerReaderOptions): boolean {
  return (
    a.path === b.path &&
    a.digest === b.digest &&
    a.size === b.size &&
    a.compression === b.compression &&
    a.diffAlgorithm === b.diffAlgorithm &&
    a.maxBytes === b.maxBytes &&
    a.inflation?.ratio === b.inflation?.ratio &&
    a.inflation?.afterBytes === b.inflation?.afterBytes
  );
}

/**
 * Streams a layer's uncompressed bytes from a worker thread. Each chunk is valid only until the
 * next one is requested (its memory goes back to the worker). Iterate it once; afterwards
 * {@link LayerReader.diffId} holds the digest of what was read. Errors are `ImageError` (missing
 * blob, size or digest mismatch) or `LayerExtractionError` (corrupt stream, limit).
 *
 * Made by a {@link LayerInflater} (shared worker, read-ahead), or on its own: then it starts a
 * worker of its own when iterated and ends it afterwards.
 */
export class LayerReader implements AsyncIterable<Buffer> {
  readonly options: LayerReaderOptions;
  readonly #shared: LayerInflater | undefined;
  #inflater: LayerInflater | undefined;
  #id: number | undefined;
  readonly #messages: (DecompressWorkerMessage | { type: 'crash'; error: unknown })[] = [];
  #wake: (() => void) | undefined;
  #over = false;
  /** Compressed bytes read so far. */
  compressedBytes = 0;
  /** DiffID of the stream; set when iteration completed. */
  diffId: string | undefined;

  constructor(options: LayerReaderOptions, inflater?: LayerInflater) {
    this.options = options;
    this.#shared = inflater;
  }

  /** Queues the job (a reader made by a {@link LayerInflater} is started by it). */
  start(): void {
    if (this.#id !== undefined) return;
    this.#inflater = this.#shared ?? new LayerInflater();
    const { path, digest, size, compression, diffAlgorithm, maxBytes, inflation } = this.options;
    this.#id = this.#inflater.submit(
      {
        path,
        digest,
        size,
        compression,
        diffAlgorithm,
        hashDiff: DIFF_HASH_IN_WORKER,
        maxBytes,
        ratioBytes: inflation ? Math.max(inflation.afterBytes, inflation.ratio * size) : Number.MAX_SAFE_INTEGER,
        batchBytes: BATCH_BYTES,
        credits: CREDITS,
      },
      (m) => {
        this.#messages.push(m);
        const w = this.#wake;
        this.#wake = undefined;
        w?.();
      },
    );
  }

  /** Stops the job (nothing more is read). */
  cancel(): void {
    if (this.#id !== undefined && !this.#over) this.#inflater?.cancel(this.#id);
    this.#over = true;
  }

  #error(kind: DecompressFailure, message: string): Error {
    const { digest, path } = this.options;
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
        return new LayerExtractionError(`layer expands to more than maxLayerBytes (${this.options.maxBytes - 1} bytes)`, { layer: digest, reason: 'limit exceeded' });
      case 'ratio': {
        const { ratio, afterBytes } = this.options.inflation ?? { ratio: 0, afterBytes: 0 };
        return new LayerExtractionError(
          `layer ${digest} expands to more than ${ratio} times its compressed size of ${this.options.size} bytes (past ${afterBytes} bytes): refused as a compression bomb (limits.maxInflationRatio)`,
          { layer: digest, reason: 'limit exceeded' },
        );
      }
      case 'decompression':
        return new LayerExtractionError(`layer ${digest} is not valid ${this.options.compression} data: ${message}`, { layer: digest, reason: 'decompression' });
      default:
        return new LayerExtractionError(`reading layer ${digest} failed: ${message}`, { layer: digest, reason: 'io' });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    this.start();
    const inflater = this.#inflater as LayerInflater;
    const id = this.#id as number;
    const diffHash = DIFF_HASH_IN_WORKER ? undefined : createHash(this.options.diffAlgorithm);
    try {
      for (;;) {
        const m = this.#messages.shift();
        if (m === undefined) {
          if (this.#over) throw new LayerExtractionError('the layer reader was closed', { layer: this.options.digest, reason: 'io' });
          await new Promise<void>((resolve) => (this.#wake = resolve));
          continue;
        }
        if (m.type === 'out') {
          this.compressedBytes = m.compressed;
          diffHash?.update(m.data);
          // the consumer (tar parser + applier) copies what it keeps, so the buffer goes back for reuse
          yield Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
          inflater.credit(id, m.data.buffer as ArrayBuffer);
        } else if (m.type === 'done') {
          this.#over = true;
          inflater.release(id);
          this.compressedBytes = m.compressed;
          this.diffId = diffHash ? `${this.options.diffAlgorithm}:${diffHash.digest('hex')}` : m.diffId;
          return;
        } else if (m.type === 'error') {
          this.#over = true;
          inflater.release(id);
          throw this.#error(m.kind, m.message);
        } else {
          this.#over = true;
          throw new LayerExtractionError('the layer reader thread failed', { layer: this.options.digest, reason: 'io' }, { cause: m.error });
        }
      }
    } finally {
      this.cancel();
      if (this.#shared === undefined) await inflater.close();
    }
  }
}
