/**
 * Digests, DiffIDs and ChainIDs (OCI image-spec `descriptor.md`, `config.md`).
 *
 * A digest is validated against the image-spec grammar (and, for `sha256`, the exact 64 lower-case
 * hex form) **before** it is used to build any path: that is what keeps a crafted `index.json`
 * from reading `blobs/sha256/../../etc/shadow` (CVE-2024-3727 class).
 *
 * @module
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ImageError } from '../../errors.js';

/** `algorithm ":" encoded`, with the grammar of the image-spec. */
const DIGEST_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const SHA256_ENCODED = /^[a-f0-9]{64}$/;
const SHA512_ENCODED = /^[a-f0-9]{128}$/;

/** A validated digest split into its parts. */
export interface ParsedDigest {
  /** `sha256` or `sha512`. */
  algorithm: 'sha256' | 'sha512';
  /** The hex part. */
  encoded: string;
  /** `algorithm:encoded`. */
  digest: string;
}

/**
 * Validates a digest string and returns its parts. Only `sha256` and `sha512` are accepted
 * (the registered algorithms); the encoded part must be lower-case hex of the right length.
 * @param value - the digest, e.g. `sha256:9f86d0...`
 * @param field - the name of the field it came from, used in the error
 * @throws ImageError when it is malformed or uses an unsupported algorithm
 */
export function parseDigest(value: unknown, field = 'digest'): ParsedDigest {
  if (typeof value !== 'string' || !DIGEST_GRAMMAR.test(value)) {
    throw new ImageError(`${field} is not a valid digest`, { reason: 'malformed digest', digest: typeof value === 'string' ? value.slice(0, 200) : String(value) });
  }
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (algorithm === 'sha256' && SHA256_ENCODED.test(encoded)) return { algorithm, encoded, digest: value };
  if (algorithm === 'sha512' && SHA512_ENCODED.test(encoded)) return { algorithm, encoded, digest: value };
  throw new ImageError(`${field} uses an unsupported algorithm or a malformed encoded part`, { reason: 'unsupported digest', digest: value.slice(0, 200) });
}

/** True when `value` is a valid, supported digest. */
export function isDigest(value: unknown): value is string {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

/** The sha256 digest (`sha256:<hex>`) of some bytes or a string. */
export function sha256Digest(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/**
 * ChainIDs of a list of DiffIDs: `ChainID(L0) = DiffID(L0)`,
 * `ChainID(L0..Ln) = sha256(ChainID(L0..Ln-1) + " " + DiffID(Ln))`.
 */
export function computeChainIds(diffIds: readonly string[]): string[] {
  const chain: string[] = [];
  for (const [i, diffId] of diffIds.entries()) {
    parseDigest(diffId, `rootfs.diff_ids[${i}]`);
    const previous = chain[i - 1];
    chain.push(previous === undefined ? diffId : sha256Digest(`${previous} ${diffId}`));
  }
  return chain;
}

/**
 * A pass-through stream that hashes what flows through it and, at the end, checks the size and
 * the digest against the expected ones (size as soon as it is exceeded). Errors are `ImageError`.
 */
export class DigestVerifier extends Transform {
  readonly #expected: ParsedDigest;
  readonly #expectedSize: number | undefined;
  readonly #hash;
  readonly #what: string;
  #size = 0;

  constructor(expectedDigest: string, expectedSize: number | undefined, what: string) {
    super();
    this.#expected = parseDigest(expectedDigest);
    this.#expectedSize = expectedSize;
    this.#hash = createHash(this.#expected.algorithm);
    this.#what = what;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#size += chunk.length;
    if (this.#expectedSize !== undefined && this.#size > this.#expectedSize) {
      callback(new ImageError(`${this.#what} is larger than its descriptor says (${this.#expectedSize} bytes)`, { digest: this.#expected.digest, reason: 'size mismatch' }));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#expectedSize !== undefined && this.#size !== this.#expectedSize) {
      callback(new ImageError(`${this.#what} has ${this.#size} bytes, its descriptor says ${this.#expectedSize}`, { digest: this.#expected.digest, reason: 'size mismatch' }));
      return;
    }
    const actual = `${this.#expected.algorithm}:${this.#hash.digest('hex')}`;
    if (actual !== this.#expected.digest) {
      callback(new ImageError(`${this.#what} does not match its digest: got ${actual}`, { digest: this.#expected.digest, reason: 'digest mismatch' }));
      return;
    }
    callback();
  }
}
