/**
 * Decompression of layer blobs, pipelined with the writer:
 * - gzip through Node's zlib, which inflates in the libuv thread pool (another core than the
 *   main thread, which writes the files);
 * - zstd through `fzstd` (pure JS; Node 20's zlib has no zstd) in a worker thread, with credit
 *   based flow control so the worker runs ahead by a bounded amount;
 * - none.
 * Output is bounded: a compression bomb stops at `maxBytes` and never sits in memory whole
 * (blobs are read in 64 KiB pieces; zstd output is handed over in batches of at most 4 MiB, and
 * the worker waits for the consumer).
 *
 * @module
 */
import { createRequire } from 'node:module';
import { pipeline, type Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { createGunzip } from 'node:zlib';
import { LayerExtractionError } from '../../errors.js';
import type { LayerCompression } from '../image/types.js';

/** Size of the pieces compressed blobs are read in (bounds the output of one zlib call). */
export const BLOB_READ_CHUNK = 64 * 1024;

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { Decompress } = require(workerData.fzstd);
const BATCH = 4 * 1024 * 1024;
const SLICE = 4096;
let total = 0;
let batch = [];
let batchBytes = 0;
let credits = 2;
let wake = null;
const inbox = [];
const decoder = new Decompress((chunk) => {
  total += chunk.length;
  if (total > workerData.limit) throw Object.assign(new Error('limit'), { limit: true });
  batch.push(Uint8Array.prototype.slice.call(chunk));
  batchBytes += chunk.length;
});
parentPort.on('message', (m) => {
  if (m.type === 'credit') credits++;
  else inbox.push(m);
  if (wake) { const w = wake; wake = null; w(); }
});
const waitFor = (cond) => new Promise((resolve) => { const check = () => (cond() ? resolve() : (wake = check)); check(); });
async function flush() {
  if (batchBytes === 0) return;
  await waitFor(() => credits > 0);
  credits--;
  const out = Buffer.concat(batch);
  batch = [];
  batchBytes = 0;
  parentPort.postMessage({ type: 'out', data: out }, [out.buffer]);
}
(async () => {
  try {
    for (;;) {
      await waitFor(() => inbox.length > 0);
      const m = inbox.shift();
      if (m.type === 'end') {
        decoder.push(new Uint8Array(0), true);
        await flush();
        parentPort.postMessage({ type: 'done' });
        return;
      }
      const data = m.data;
      for (let i = 0; i < data.length; i += SLICE) {
        decoder.push(data.subarray(i, i + SLICE));
        if (batchBytes >= BATCH) await flush();
      }
      await flush();
      parentPort.postMessage({ type: 'ack' });
    }
  } catch (error) {
    parentPort.postMessage({ type: 'error', limit: error && error.limit === true, message: String(error && error.message || error) });
  }
})();
`;

type WorkerMessage = { type: 'out'; data: Uint8Array } | { type: 'ack' } | { type: 'done' } | { type: 'error'; limit: boolean; message: string };

/**
 * Decompresses a zstd stream in a worker thread. Yields decompressed chunks; fails with
 * `LayerExtractionError` on corrupt data or when the output exceeds `maxBytes`.
 */
export async function* zstdDecompress(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  const require = createRequire(import.meta.url);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { fzstd: require.resolve('fzstd'), limit: maxBytes } });
  const messages: WorkerMessage[] = [];
  let wake: (() => void) | undefined;
  let failure: unknown;
  let inFlight = 0;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  worker.on('message', (m: WorkerMessage) => {
    if (m.type === 'ack') inFlight--;
    else messages.push(m);
    notify();
  });
  worker.on('error', (error) => {
    failure ??= error;
    notify();
  });
  const wait = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  const feeding = (async () => {
    try {
      for await (const chunk of source) {
        while (inFlight >= 4 && failure === undefined) await new Promise<void>((resolve) => setImmediate(resolve));
        if (failure !== undefined) break;
        const copy = new Uint8Array(chunk);
        inFlight++;
        worker.postMessage({ type: 'data', data: copy }, [copy.buffer]);
      }
      if (failure === undefined) worker.postMessage({ type: 'end' });
    } catch (error) {
      failure ??= error;
      notify();
    }
  })();
  try {
    for (;;) {
      const m = messages.shift();
      if (m === undefined) {
        if (failure !== undefined) throw failure;
        await wait();
        continue;
      }
      if (m.type === 'out') {
        worker.postMessage({ type: 'credit' });
        yield Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);
      } else if (m.type === 'done') {
        break;
      } else if (m.type === 'error') {
        throw m.limit
          ? new LayerExtractionError(`layer expands to more than maxLayerBytes (${maxBytes} bytes)`, { reason: 'limit exceeded' })
          : new LayerExtractionError(`zstd stream is corrupt: ${m.message}`, { reason: 'decompression' });
      }
    }
    await feeding;
    if (failure !== undefined) throw failure;
  } finally {
    failure ??= new Error('consumer stopped');
    await worker.terminate();
    await feeding.catch(() => undefined);
  }
}

/**
 * The decompressed content of a blob stream, as an async iterable of chunks.
 * @param maxBytes - output limit (zstd stops in the worker; gzip and plain tar are checked by the caller)
 */
export function decompressStream(blob: Readable, compression: LayerCompression, maxBytes: number): AsyncIterable<Buffer> {
  if (compression === 'gzip') return pipeline(blob, createGunzip({ chunkSize: 256 * 1024 }), () => undefined) as unknown as AsyncIterable<Buffer>;
  if (compression === 'zstd') return zstdDecompress(blob as AsyncIterable<Buffer>, maxBytes);
  return blob as AsyncIterable<Buffer>;
}
