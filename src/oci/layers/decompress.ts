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
 * and stops a compression bomb at `maxBytes`.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { ImageError, LayerExtractionError } from '../../errors.js';
import type { LayerCompression } from '../image/types.js';

/** Size of one batch handed from the worker to the main thread. */
const BATCH_BYTES = 1024 * 1024;
/** Batches in flight (decompressed but not yet consumed). */
const CREDITS = 4;

const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const zlib = require('node:zlib');
const crypto = require('node:crypto');
const { path, digest, size, compression, maxBytes, batchBytes: BATCH, credits: CREDITS } = workerData;
let credits = CREDITS;
let wake = null;
let stopped = false;
const pool = [];
parentPort.on('message', (m) => {
  if (m.type === 'credit') {
    credits++;
    if (m.buffer) pool.push(m.buffer);
  }
  else if (m.type === 'stop') stopped = true;
  if (wake) { const w = wake; wake = null; w(); }
});
const waitCredit = () => new Promise((resolve) => { const check = () => (credits > 0 || stopped ? resolve() : (wake = check)); check(); });
const fail = (kind, message) => { const e = new Error(message); e.kind = kind; throw e; };
let out = 0;
let pending = [];
let pendingBytes = 0;
let compressed = 0;
async function flush() {
  if (pendingBytes === 0) return;
  await waitCredit();
  if (stopped) fail('stopped', 'stopped');
  credits--;
  let backing = pool.pop();
  if (!backing || backing.byteLength < pendingBytes) backing = new ArrayBuffer(Math.max(pendingBytes, BATCH + 512 * 1024));
  const data = new Uint8Array(backing, 0, pendingBytes);
  let off = 0;
  for (const p of pending) { data.set(p, off); off += p.length; }
  pending = [];
  pendingBytes = 0;
  parentPort.postMessage({ type: 'out', data, compressed }, [backing]);
}
function take(chunk) {
  out += chunk.length;
  if (out > maxBytes) fail('limit', 'limit');
  pending.push(chunk);
  pendingBytes += chunk.length;
}
(async () => {
  const colon = digest.indexOf(':');
  const blobHash = crypto.createHash(digest.slice(0, colon));
  let fd;
  try { fd = fs.openSync(path, 'r'); } catch (e) { fail(e.code === 'ENOENT' ? 'missing' : 'io', String(e.message)); }
  const readNext = () => {
    // a fresh buffer per read: the decompressor keeps it until it is consumed (no copy needed)
    const buf = Buffer.allocUnsafeSlow(256 * 1024);
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) return null;
    compressed += n;
    if (compressed > size) fail('size', 'larger than its descriptor');
    const piece = buf.subarray(0, n);
    blobHash.update(piece);
    return piece;
  };
  try {
    if (compression === 'gzip') {
      const gunzip = zlib.createGunzip({ chunkSize: 1024 * 1024 });
      gunzip.on('error', () => undefined);
      let cerr = null;
      const consumer = (async () => {
        for await (const c of gunzip) {
          take(c);
          if (pendingBytes >= BATCH) await flush();
        }
      })().catch((e) => { cerr = e; gunzip.destroy(); });
      for (;;) {
        if (stopped) fail('stopped', 'stopped');
        if (cerr) break;
        const piece = readNext();
        if (piece === null) break;
        if (!gunzip.write(piece)) {
          await new Promise((resolve) => {
            const done = () => { gunzip.off('drain', done); gunzip.off('close', done); resolve(); };
            gunzip.on('drain', done);
            gunzip.on('close', done);
          });
        }
      }
      if (!cerr) gunzip.end();
      await consumer;
      if (cerr) { if (cerr.kind) throw cerr; fail('decompression', String(cerr.message)); }
    } else if (compression === 'zstd') {
      const { Decompress } = require(workerData.fzstd);
      const decoder = new Decompress((chunk) => take(Uint8Array.prototype.slice.call(chunk)));
      for (;;) {
        if (stopped) fail('stopped', 'stopped');
        const piece = readNext();
        if (piece === null) break;
        for (let i = 0; i < piece.length; i += 4096) {
          try { decoder.push(piece.subarray(i, i + 4096)); } catch (e) { if (e && e.kind) throw e; fail('decompression', String(e && e.message || e)); }
          if (pendingBytes >= BATCH) await flush();
        }
      }
      try { decoder.push(new Uint8Array(0), true); } catch (e) { if (e && e.kind) throw e; fail('decompression', String(e && e.message || e)); }
    } else {
      for (;;) {
        if (stopped) fail('stopped', 'stopped');
        const piece = readNext();
        if (piece === null) break;
        take(piece);
        if (pendingBytes >= BATCH) await flush();
      }
    }
    if (compressed !== size) fail('size', 'has ' + compressed + ' bytes, its descriptor says ' + size);
    const actual = digest.slice(0, colon) + ':' + blobHash.digest('hex');
    if (actual !== digest) fail('digest', 'does not match its digest: got ' + actual);
    await flush();
    parentPort.postMessage({ type: 'done', compressed, bytes: out });
  } finally {
    fs.closeSync(fd);
  }
})().catch((e) => {
  parentPort.postMessage({ type: 'error', kind: (e && e.kind) || 'io', message: String((e && e.message) || e) });
});
`;

type WorkerMessage =
  | { type: 'out'; data: Uint8Array; compressed: number }
  | { type: 'done'; compressed: number; bytes: number }
  | { type: 'error'; kind: string; message: string };

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

  #error(kind: string, message: string): Error {
    const { digest, path } = this.#o;
    switch (kind) {
      case 'missing':
        return new ImageError(`layer ${digest} is missing from the image layout`, { digest, path, reason: 'missing blob' });
      case 'size':
        return new ImageError(`layer ${digest} ${message}`, { digest, reason: 'size mismatch' });
      case 'digest':
        return new ImageError(`layer ${digest} ${message}`, { digest, reason: 'digest mismatch' });
      case 'limit':
        return new LayerExtractionError(`layer expands to more than maxLayerBytes (${this.#o.maxBytes - 1} bytes)`, { layer: digest, reason: 'limit exceeded' });
      case 'decompression':
        return new LayerExtractionError(`layer ${digest} is not valid ${this.#o.compression} data: ${message}`, { layer: digest, reason: 'decompression' });
      default:
        return new LayerExtractionError(`reading layer ${digest} failed: ${message}`, { layer: digest, reason: 'io' });
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const require = createRequire(import.meta.url);
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        ...this.#o,
        fzstd: this.#o.compression === 'zstd' ? require.resolve('fzstd') : '',
        batchBytes: BATCH_BYTES,
        credits: CREDITS,
      },
    });
    // the DiffID is hashed here, not in the worker: the worker (decompression) is the slower side
    const diffHash = createHash(this.#o.diffAlgorithm);
    const messages: WorkerMessage[] = [];
    let wake: (() => void) | undefined;
    let crashed: unknown;
    worker.on('message', (m: WorkerMessage) => {
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
          worker.postMessage({ type: 'credit', buffer: backing }, [backing]);
        } else if (m.type === 'done') {
          this.compressedBytes = m.compressed;
          this.diffId = `${this.#o.diffAlgorithm}:${diffHash.digest('hex')}`;
          return;
        } else {
          throw this.#error(m.kind, m.message);
        }
      }
    } finally {
      worker.postMessage({ type: 'stop' });
      await worker.terminate();
    }
  }
}
