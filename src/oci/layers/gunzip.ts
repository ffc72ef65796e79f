/**
 * A gzip decoder (RFC 1952) over zlib's raw inflate, for layer blobs.
 *
 * Why not `zlib.createGunzip()`: zlib's gzip mode computes a CRC-32 over every uncompressed byte,
 * about 15 % of a layer's inflate, on the one thread that inflates layers in order. A layer's
 * bytes are already covered twice: by the blob digest (checked over the compressed bytes, CRC
 * field included, before the layer is accepted) and by the DiffID (over the uncompressed bytes).
 * So this decoder parses the gzip framing itself and leaves the CRC field unchecked; everything
 * else is checked: the header (magic, method, reserved flags, the header CRC of `FHCRC`), the
 * deflate stream's end, and the trailer's length field.
 *
 * Framing is Go's `compress/gzip` in its default multistream mode, which containerd, Docker and
 * Podman use: members follow each other to the end of the blob (eStargz layers have one per
 * file), and whatever follows a member must be a whole member. Trailing bytes that are not, zeros
 * included, are an error, as in umoci and containerd (GNU gzip ignores trailing zeros; Node's
 * gunzip ignores them only when they arrive in the same chunk as the member's end). As in Go, a
 * file name or comment longer than 511 bytes is refused.
 *
 * @internal
 * @module
 */
import { crc32, createInflateRaw, type InflateRaw, type ZlibOptions } from 'node:zlib';

/** The blob is not valid gzip. */
export class GzipFormatError extends Error {}

const FHCRC = 0x02;
const FEXTRA = 0x04;
const FNAME = 0x08;
const FCOMMENT = 0x10;
/** Go's limit on a header's file name and comment, terminating NUL included. */
const MAX_HEADER_STRING = 512;
const TRAILER_BYTES = 8;
/** Uncompressed bytes zlib may inflate ahead of the consumer (the stream options zlib passes on). */
const OUTPUT_AHEAD_BYTES = 4 * 1024 * 1024;
const TRAILING = 'bytes after the gzip stream are not a gzip member';

/**
 * The length of the gzip member header at the start of `b`, or 0 when `b` ends before the header
 * does. Throws {@link GzipFormatError} as soon as the bytes seen cannot start a valid header.
 */
export function gzipHeaderLength(b: Uint8Array): number {
  if (b.length > 0 && b[0] !== 0x1f) throw new GzipFormatError('incorrect header check');
  if (b.length > 1 && b[1] !== 0x8b) throw new GzipFormatError('incorrect header check');
  if (b.length > 2 && b[2] !== 8) throw new GzipFormatError('unknown compression method');
  if (b.length > 3 && ((b[3] as number) & 0xe0) !== 0) throw new GzipFormatError('unknown header flags set');
  if (b.length < 10) return 0;
  const flags = b[3] as number;
  let p = 10;
  if (flags & FEXTRA) {
    if (b.length < p + 2) return 0;
    p += 2 + ((b[p] as number) | ((b[p + 1] as number) << 8));
    if (b.length < p) return 0;
  }
  for (const flag of [FNAME, FCOMMENT]) {
    if ((flags & flag) === 0) continue;
    const nul = b.subarray(p, p + MAX_HEADER_STRING).indexOf(0);
    if (nul === -1) {
      if (b.length >= p + MAX_HEADER_STRING) throw new GzipFormatError('header name or comment too long');
      return 0;
    }
    p += nul + 1;
  }
  if (flags & FHCRC) {
    if (b.length < p + 2) return 0;
    if (((crc32(b.subarray(0, p)) & 0xffff) >>> 0) !== ((b[p] as number) | ((b[p + 1] as number) << 8))) {
      throw new GzipFormatError('header crc mismatch');
    }
    p += 2;
  }
  return p;
}

type Stage = 'header' | 'body' | 'trailer';

/**
 * Streams a gzip blob: {@link write} each piece in order (the piece may be reused once the promise
 * settles: nothing is kept), then {@link end}. Uncompressed chunks go to `onChunk` in order; the
 * promise it may return is the backpressure (no chunk follows until it settles). An error of
 * `onChunk` is rethrown as is; a malformed blob throws {@link GzipFormatError} (or zlib's error
 * for a malformed deflate stream).
 */
export class GzipDecoder {
  readonly #onChunk: (chunk: Buffer) => Promise<void> | void;
  readonly #chunkSize: number;
  #stage: Stage = 'header';
  /** Header or trailer bytes seen so far, when they span pieces (copied: pieces are reused). */
  #held: Buffer = Buffer.alloc(0);
  #members = 0;
  #inflater: InflateRaw | undefined;
  #consumer: Promise<void> = Promise.resolve();
  #consumerError: unknown;
  /** Uncompressed bytes of the current member (its trailer's length field is checked). */
  #memberBytes = 0;

  constructor(onChunk: (chunk: Buffer) => Promise<void> | void, options: { chunkSize?: number } = {}) {
    this.#onChunk = onChunk;
    this.#chunkSize = options.chunkSize ?? 1024 * 1024;
  }

  /** Decodes the next piece of the blob. */
  async write(piece: Buffer): Promise<void> {
    let rest = piece;
    while (rest.length > 0) {
      this.#throwIfFailed();
      if (this.#stage === 'body') {
        const inflater = this.#inflater as InflateRaw;
        const before = inflater.bytesWritten;
        await this.#feed(inflater, rest);
        const used = inflater.bytesWritten - before;
        if (used === rest.length) return;
        // the deflate stream ended inside this piece: what follows is the trailer
        rest = rest.subarray(used);
        await this.#endMember();
        this.#stage = 'trailer';
        continue;
      }
      const bytes = this.#held.length === 0 ? rest : Buffer.concat([this.#held, rest]);
      const fromHeld = this.#held.length;
      if (this.#stage === 'header') {
        const length = this.#headerLength(bytes);
        if (length === 0) {
          this.#held = Buffer.from(bytes);
          return;
        }
        this.#held = Buffer.alloc(0);
        rest = rest.subarray(length - fromHeld);
        this.#startMember();
        continue;
      }
      if (bytes.length < TRAILER_BYTES) {
        this.#held = Buffer.from(bytes);
        return;
      }
      // the CRC-32 (bytes 0–3) is not checked: see the module comment
      if (bytes.readUInt32LE(4) !== this.#memberBytes % 2 ** 32) throw new GzipFormatError('incorrect length check');
      this.#held = Buffer.alloc(0);
      rest = rest.subarray(TRAILER_BYTES - fromHeld);
      this.#stage = 'header';
    }
  }

  /** The blob is over: throws unless it ended right after a member's trailer. */
  async end(): Promise<void> {
    this.#throwIfFailed();
    if (this.#stage === 'body') {
      // the deflate stream has not ended, or ended with the last piece and no trailer followed:
      // either way the member is cut short
      this.#inflater?.destroy();
      await this.#consumer;
      throw new GzipFormatError('unexpected end of file');
    }
    if (this.#members === 0) throw new GzipFormatError('unexpected end of file');
    if (this.#held.length > 0) throw new GzipFormatError(`${TRAILING}: unexpected end of file`);
  }

  /** Stops decoding (after an error elsewhere): the current member's inflater is released. */
  destroy(): void {
    this.#inflater?.destroy();
  }

  /** {@link gzipHeaderLength}, its error saying so when the header is not the blob's first. */
  #headerLength(bytes: Buffer): number {
    try {
      return gzipHeaderLength(bytes);
    } catch (error) {
      if (this.#members > 0 && error instanceof GzipFormatError) throw new GzipFormatError(`${TRAILING}: ${error.message}`);
      throw error;
    }
  }

  #throwIfFailed(): void {
    if (this.#consumerError !== undefined) throw this.#consumerError;
  }

  #startMember(): void {
    // zlib goes on inflating into its next output buffer while the consumer handles a chunk (up
    // to OUTPUT_AHEAD_BYTES); with the stream's default 16 KiB it would wait for every read
    const inflater = createInflateRaw({ chunkSize: this.#chunkSize, readableHighWaterMark: OUTPUT_AHEAD_BYTES } as ZlibOptions);
    this.#inflater = inflater;
    this.#members++;
    this.#memberBytes = 0;
    this.#stage = 'body';
    // flowing mode hands on zlib's chunks one by one; a paused stream's read() (and so its async
    // iterator) would concatenate everything buffered into one new buffer: a copy of the output
    this.#consumer = new Promise<void>((resolve) => {
      const failed = (error: unknown): void => {
        this.#consumerError ??= error ?? new Error('failed');
        inflater.destroy();
        resolve();
      };
      inflater.on('data', (chunk: Buffer) => {
        if (this.#consumerError !== undefined) return;
        this.#memberBytes += chunk.length;
        let wait: Promise<void> | void;
        try {
          wait = this.#onChunk(chunk);
        } catch (error) {
          failed(error);
          return;
        }
        if (!wait) return;
        // the consumer's backpressure: no more chunks until it has taken this one
        inflater.pause();
        wait.then(() => {
          if (this.#consumerError === undefined) inflater.resume();
        }, failed);
      });
      inflater.on('error', failed);
      inflater.once('end', resolve);
      // destroyed (by destroy() or end()) before its end: nothing more comes
      inflater.once('close', resolve);
    });
  }

  /** Waits until the current member's output has all been handed on. */
  async #endMember(): Promise<void> {
    const inflater = this.#inflater as InflateRaw;
    inflater.end();
    await this.#consumer;
    this.#inflater = undefined;
    this.#throwIfFailed();
  }

  /**
   * Writes a piece and waits until zlib has taken what it will of it (its write callback), or the
   * stream failed (then no callback comes: a destroyed stream closes instead).
   */
  async #feed(inflater: InflateRaw, piece: Buffer): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        inflater.off('close', done);
        resolve();
      };
      inflater.once('close', done);
      inflater.write(piece, done);
    });
    if (inflater.destroyed) {
      // the consumer saw the stream's error (or failed itself, and destroyed it)
      await this.#consumer;
      this.#throwIfFailed();
      throw inflater.errored ?? new GzipFormatError('decompression stopped');
    }
  }
}
