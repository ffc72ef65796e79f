/**
 * The reading side of a layer: runs layer jobs one after the other. For each it reads the blob,
 * checks its size and digest, decompresses it (gzip through zlib's raw inflate, see `gunzip.ts`;
 * zstd through `fzstd`; or none), computes the DiffID when asked, and posts the uncompressed bytes
 * in batches, waiting for credits so at most `credits` batches of a job are in flight. The next
 * job starts as soon as the previous one posted its last batch, so a layer inflates while the one
 * before is still being applied. A compression bomb stops here, at `maxBytes` (the layer limit)
 * or at `ratioBytes` (the inflation-ratio guard), before it is handed on.
 *
 * {@link serveLayerJobs} runs on a message port: a worker thread's `parentPort`
 * (`decompress-worker.ts`), or one end of a `MessageChannel` in the calling thread, for layers too
 * small to pay for starting a worker (see `decompress.ts`).
 *
 * @internal
 * @module
 */
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { LayerCompression } from '../image/types.js';
import { GzipDecoder } from './gunzip.js';

/** One layer to read. */
export interface DecompressJob {
  /** Chosen by the main thread; every message about the job carries it. */
  id: number;
  /** Path of the blob file (opened without following a symlink). */
  path: string;
  /** Blob digest and size from the descriptor. */
  digest: string;
  size: number;
  compression: LayerCompression;
  /** Algorithm of the DiffID (`sha256` or `sha512`). */
  diffAlgorithm: string;
  /** Whether this thread computes the DiffID (else the main thread does, and `done` carries none). */
  hashDiff: boolean;
  /** More uncompressed bytes than this: `limit`. */
  maxBytes: number;
  /** More uncompressed bytes than this: `ratio` (the inflation-ratio guard). */
  ratioBytes: number;
  /** Bytes per batch, and batches in flight. */
  batchBytes: number;
  credits: number;
}

/** Why a job stopped. */
export type DecompressFailure = 'missing' | 'not a file' | 'size' | 'digest' | 'limit' | 'ratio' | 'decompression' | 'stopped' | 'io';

/** Worker → main thread. */
export type DecompressWorkerMessage =
  | { type: 'out'; id: number; data: Uint8Array; compressed: number }
  | { type: 'done'; id: number; compressed: number; bytes: number; diffId?: string }
  | { type: 'error'; id: number; kind: DecompressFailure; message: string };

/**
 * Main thread → worker: a job to queue; a batch of a job was consumed (its buffer comes back for
 * reuse); or a job is to stop (or be skipped when still queued).
 */
export type DecompressControlMessage = { type: 'job'; job: DecompressJob } | { type: 'credit'; id: number; buffer?: ArrayBuffer } | { type: 'stop'; id: number };

/** How much is read from the blob at a time. */
const READ_BYTES = 256 * 1024;
/** zstd is fed in slices this small, so even a 30000:1 stream cannot balloon in one push. */
const ZSTD_SLICE = 4096;

class Failure extends Error {
  constructor(
    readonly kind: DecompressFailure,
    message: string,
  ) {
    super(message);
  }
}

const fail = (kind: DecompressFailure, message: string): never => {
  throw new Failure(kind, message);
};

const errorText = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** What {@link serveLayerJobs} talks through (a `MessagePort` of `node:worker_threads`). */
export interface LayerJobPort {
  postMessage(message: DecompressWorkerMessage, transfer?: ArrayBuffer[]): void;
  on(event: 'message', listener: (message: DecompressControlMessage) => void): unknown;
}

/**
 * Runs the jobs sent to `port`, one after the other, with state of its own. `stopAll` stops the
 * running and queued jobs at once (for a port closed without a `stop` message).
 */
export function serveLayerJobs(port: LayerJobPort): { stopAll: () => void } {
  /** Buffers that came back from the main thread, reused for the next batches (of any job). */
  const pool: ArrayBuffer[] = [];
  /** Credits of the running job; stop requests (running or queued jobs). */
  let current: { id: number; credits: number; wake: (() => void) | undefined } | undefined;
  const stopped = new Set<number>();
  const queue: DecompressJob[] = [];
  let running = false;

  function wakeCurrent(): void {
    const w = current?.wake;
    if (current) current.wake = undefined;
    w?.();
  }

  async function run(job: DecompressJob): Promise<void> {
    const state = { id: job.id, credits: job.credits, wake: undefined as (() => void) | undefined };
    current = state;
    const isStopped = (): boolean => stopped.has(job.id);
    const waitCredit = (): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (state.credits > 0 || isStopped()) resolve();
          else state.wake = check;
        };
        check();
      });

    let out = 0;
    const pending: Uint8Array[] = [];
    let pendingBytes = 0;
    let compressed = 0;
    /** Bytes read ahead of the decompressor (not yet fed to it): not counted in a batch's `compressed`. */
    let readAhead = 0;
    // the DiffID is hashed here only when asked (see DIFF_HASH_IN_WORKER in decompress.ts)
    const diffHash = job.hashDiff ? createHash(job.diffAlgorithm) : undefined;
    // batches are exactly batchBytes (the last one of a job smaller), so every buffer in the pool
    // fits every batch and none is ever reallocated
    const flush = async (final = false): Promise<void> => {
      while (pendingBytes >= job.batchBytes || (final && pendingBytes > 0)) {
        await waitCredit();
        if (isStopped()) fail('stopped', 'stopped');
        state.credits--;
        const size = Math.min(pendingBytes, job.batchBytes);
        let backing = pool.pop();
        if (!backing || backing.byteLength < size) backing = new ArrayBuffer(job.batchBytes);
        const data = new Uint8Array(backing, 0, size);
        for (let offset = 0; offset < size; ) {
          const p = pending[0] as Uint8Array;
          const n = Math.min(p.length, size - offset);
          data.set(n === p.length ? p : p.subarray(0, n), offset);
          offset += n;
          if (n === p.length) pending.shift();
          else pending[0] = p.subarray(n);
        }
        pendingBytes -= size;
        diffHash?.update(data);
        port.postMessage({ type: 'out', id: job.id, data, compressed: compressed - readAhead } satisfies DecompressWorkerMessage, [backing]);
      }
    };
    const take = (chunk: Uint8Array): void => {
      out += chunk.length;
      if (out > job.maxBytes) fail('limit', 'limit');
      if (out > job.ratioBytes) fail('ratio', 'ratio');
      pending.push(chunk);
      pendingBytes += chunk.length;
    };

    const colon = job.digest.indexOf(':');
    const blobHash = createHash(job.digest.slice(0, colon));
    let fd: number | undefined;
    try {
      // never through a symlink (a blob file swapped for a link to a host file), and never block on
      // a FIFO: anything but a regular file is refused
      fd = openSync(job.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      fail(code === 'ENOENT' ? 'missing' : code === 'ELOOP' ? 'not a file' : 'io', errorText(error));
    }
    const blob = fd as number;
    try {
      if (!fstatSync(blob).isFile()) fail('not a file', 'is not a regular file');
      const readNext = (reuse?: Buffer): Buffer | null => {
        // a buffer the decompressor is done with, or a fresh one: it keeps a piece until it has
        // consumed it (no copy needed)
        const buf = reuse ?? Buffer.allocUnsafeSlow(READ_BYTES);
        const n = readSync(blob, buf, 0, buf.length, null);
        if (n === 0) return null;
        compressed += n;
        if (compressed > job.size) fail('size', 'is larger than its descriptor');
        const piece = buf.subarray(0, n);
        blobHash.update(piece);
        return piece;
      };
      if (job.compression === 'gzip') {
        const gunzip = new GzipDecoder((chunk) => {
          take(chunk);
          return pendingBytes >= job.batchBytes ? flush() : undefined;
        });
        // two read buffers: the next piece is read and hashed while zlib inflates this one on the
        // thread pool (a piece's buffer is reused once its write has settled)
        const buffers = [Buffer.allocUnsafeSlow(READ_BYTES), Buffer.allocUnsafeSlow(READ_BYTES)];
        try {
          let piece = readNext(buffers[0]);
          for (let i = 1; piece !== null; i ^= 1) {
            if (isStopped()) fail('stopped', 'stopped');
            const writing = gunzip.write(piece);
            let next: Buffer | null;
            try {
              next = readNext(buffers[i]);
            } catch (error) {
              await writing.catch(() => undefined);
              throw error;
            }
            // the density guard counts what the decompressor has taken, as before the read-ahead
            readAhead = next?.length ?? 0;
            await writing;
            readAhead = 0;
            piece = next;
          }
          await gunzip.end();
        } catch (error) {
          gunzip.destroy();
          if (error instanceof Failure) throw error;
          fail('decompression', errorText(error));
        }
      } else if (job.compression === 'zstd') {
        // fzstd (7–15 ms to load) only for a zstd layer: most are gzip, and this loads in the
        // worker's start, ahead of the first batch
        const { Decompress } = await import('fzstd');
        const decoder = new Decompress((chunk) => take(chunk.slice()));
        const push = (data: Uint8Array, final?: boolean): void => {
          try {
            decoder.push(data, final);
          } catch (error) {
            if (error instanceof Failure) throw error;
            fail('decompression', errorText(error));
          }
        };
        for (;;) {
          if (isStopped()) fail('stopped', 'stopped');
          const piece = readNext();
          if (piece === null) break;
          for (let i = 0; i < piece.length; i += ZSTD_SLICE) {
            push(piece.subarray(i, i + ZSTD_SLICE));
            if (pendingBytes >= job.batchBytes) await flush();
          }
        }
        push(new Uint8Array(0), true);
      } else {
        for (;;) {
          if (isStopped()) fail('stopped', 'stopped');
          const piece = readNext();
          if (piece === null) break;
          take(piece);
          if (pendingBytes >= job.batchBytes) await flush();
        }
      }
      if (compressed !== job.size) fail('size', `has ${compressed} bytes, its descriptor says ${job.size}`);
      const actual = `${job.digest.slice(0, colon)}:${blobHash.digest('hex')}`;
      if (actual !== job.digest) fail('digest', `does not match its digest: got ${actual}`);
      await flush(true);
      port.postMessage({ type: 'done', id: job.id, compressed, bytes: out, ...(diffHash ? { diffId: `${job.diffAlgorithm}:${diffHash.digest('hex')}` } : {}) } satisfies DecompressWorkerMessage);
    } finally {
      closeSync(blob);
      if (current === state) current = undefined;
    }
  }

  /** Runs the queued jobs one after the other (a stopped job is skipped). */
  async function drain(): Promise<void> {
    if (running) return;
    running = true;
    try {
      for (let job = queue.shift(); job !== undefined; job = queue.shift()) {
        if (stopped.has(job.id)) continue;
        const id = job.id;
        await run(job).catch((error: unknown) => {
          if (stopped.has(id)) return; // nobody listens any more
          port.postMessage({ type: 'error', id, kind: error instanceof Failure ? error.kind : 'io', message: errorText(error) } satisfies DecompressWorkerMessage);
        });
        stopped.delete(id);
      }
    } finally {
      running = false;
    }
  }

  port.on('message', (m: DecompressControlMessage) => {
    if (m.type === 'job') {
      queue.push(m.job);
      void drain();
      return;
    }
    if (m.type === 'credit') {
      if (m.buffer) pool.push(m.buffer);
      if (current?.id === m.id) current.credits++;
    } else stopped.add(m.id);
    if (current?.id === m.id) wakeCurrent();
  });
  return {
    stopAll: () => {
      for (const job of queue) stopped.add(job.id);
      if (current) stopped.add(current.id);
      wakeCurrent();
    },
  };
}
