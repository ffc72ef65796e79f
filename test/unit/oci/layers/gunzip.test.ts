/**
 * The layer gzip decoder over raw inflate: the same bytes as zlib's gunzip for every valid blob
 * (one member or many, real `gzip` output with a file name, pieces split anywhere), and an error
 * for everything Go's multistream gzip reader refuses (trailing bytes, zeros included; truncation
 * at any byte; bad header fields; a wrong length), with the CRC-32 deliberately left unchecked.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateRawSync, gunzipSync, gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GzipDecoder, GzipFormatError, gzipHeaderLength } from '../../../../src/oci/layers/gunzip.js';

/** Decodes `blob` fed in pieces of the given sizes (cycled), through a reused piece buffer. */
async function decode(blob: Buffer, sizes: number[] = [blob.length || 1], onChunk?: (c: Buffer) => Promise<void> | void): Promise<Buffer> {
  const out: Buffer[] = [];
  const decoder = new GzipDecoder(
    async (c) => {
      out.push(Buffer.from(c));
      await onChunk?.(c);
    },
    { chunkSize: 64 * 1024 },
  );
  // one buffer for every piece, overwritten after each write: the decoder must keep no reference
  const scratch = Buffer.alloc(Math.max(...sizes));
  let i = 0;
  for (let offset = 0; offset < blob.length; i++) {
    const n = Math.min(sizes[i % sizes.length] as number, blob.length - offset);
    blob.copy(scratch, 0, offset, offset + n);
    await decoder.write(scratch.subarray(0, n));
    scratch.fill(0xaa);
    offset += n;
  }
  await decoder.end();
  return Buffer.concat(out);
}

const failure = async (blob: Buffer, sizes?: number[]): Promise<Error> => {
  const error = await decode(blob, sizes).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, 'decoding should fail').toBeInstanceOf(Error);
  return error as Error;
};

/** A gzip member built by hand, so every header field and the trailer can be chosen. */
function member(data: Buffer, options: { flags?: number; extra?: Buffer; name?: string; comment?: string; headerCrc?: number; crc?: number; size?: number; method?: number } = {}): Buffer {
  let flags = options.flags ?? 0;
  const parts: Buffer[] = [];
  if (options.extra) {
    flags |= 0x04;
    const length = Buffer.alloc(2);
    length.writeUInt16LE(options.extra.length);
    parts.push(length, options.extra);
  }
  if (options.name !== undefined) {
    flags |= 0x08;
    parts.push(Buffer.from(`${options.name}\0`, 'latin1'));
  }
  if (options.comment !== undefined) {
    flags |= 0x10;
    parts.push(Buffer.from(`${options.comment}\0`, 'latin1'));
  }
  const fixed = Buffer.from([0x1f, 0x8b, options.method ?? 8, flags, 0, 0, 0, 0, 0, 3]);
  let header = Buffer.concat([fixed, ...parts]);
  if (options.headerCrc !== undefined || flags & 0x02) {
    header[3] = (header[3] as number) | 0x02;
    const crc = Buffer.alloc(2);
    crc.writeUInt16LE(options.headerCrc ?? crc32(header) & 0xffff);
    header = Buffer.concat([header, crc]);
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(options.crc ?? crc32(data));
  trailer.writeUInt32LE(options.size ?? data.length % 2 ** 32, 4);
  return Buffer.concat([header, deflateRawSync(data), trailer]);
}

const text = (n: number, seed = 1): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => `line ${i * seed} of ${n}\n`).join(''));
/** Bytes zlib barely compresses, so the deflate stream spans many pieces. */
const noise = (n: number): Buffer => {
  const b = Buffer.alloc(n);
  let x = 12345;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
};

describe('GzipDecoder: valid blobs decode as zlib does', () => {
  it('one member, in one piece, in 1-byte pieces and in odd sizes', async () => {
    const data = Buffer.concat([text(20_000), noise(300_000)]);
    const blob = gzipSync(data);
    for (const sizes of [[blob.length], [7, 4096, 13], [65_536], [262_144]]) {
      expect((await decode(blob, sizes)).equals(data), String(sizes)).toBe(true);
    }
    const small = text(3000);
    expect((await decode(gzipSync(small), [1])).equals(small)).toBe(true);
  });

  it('many members (as eStargz), split at every byte of a small blob', async () => {
    const parts = [text(10), Buffer.alloc(0), text(50, 3), noise(100)];
    const blob = Buffer.concat(parts.map((p) => gzipSync(p)));
    const expected = gunzipSync(blob);
    expect(Buffer.concat(parts).equals(expected)).toBe(true);
    for (let cut = 1; cut < blob.length; cut++) {
      expect((await decode(blob, [cut, blob.length])).equals(expected), `cut at ${cut}`).toBe(true);
    }
    expect((await decode(blob, [1])).equals(expected)).toBe(true);
  });

  it('a thousand members in 256 KiB pieces', async () => {
    const parts = Array.from({ length: 1000 }, (_, i) => text(i % 37, i));
    const blob = Buffer.concat(parts.map((p) => gzipSync(p)));
    expect((await decode(blob, [262_144])).equals(Buffer.concat(parts))).toBe(true);
  });

  it('every optional header field (FEXTRA, FNAME, FCOMMENT, FHCRC), also split across pieces', async () => {
    const data = text(500);
    const blob = member(data, { extra: Buffer.alloc(300, 7), name: 'layer.tar', comment: 'c'.repeat(511 - 1), flags: 0x02 });
    expect(gunzipSync(blob).equals(data)).toBe(true);
    for (const sizes of [[blob.length], [1], [11], [320]]) expect((await decode(blob, sizes)).equals(data)).toBe(true);
  });

  it('GNU gzip output (a file name in the header), several files concatenated', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lxcri-gunzip-'));
    try {
      const blobs = ['a.tar', 'b.tar'].map((name, i) => {
        writeFileSync(join(dir, name), text(3000, i + 2));
        return execFileSync('gzip', ['-c', '-N', join(dir, name)]);
      });
      expect((blobs[0] as Buffer)[3]! & 0x08).toBe(0x08);
      const blob = Buffer.concat(blobs);
      expect((await decode(blob, [100])).equals(gunzipSync(blob))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('hands chunks on in order, one at a time, under backpressure', async () => {
    const data = noise(600_000);
    let busy = false;
    const sizes: number[] = [];
    const out = await decode(Buffer.concat([gzipSync(data), gzipSync(data)]), [100_000], async (c) => {
      expect(busy).toBe(false);
      busy = true;
      sizes.push(c.length);
      await new Promise((resolve) => setImmediate(resolve));
      busy = false;
    });
    expect(out.equals(Buffer.concat([data, data]))).toBe(true);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(64 * 1024);
  });

  it('what zlib inflated ahead while the consumer waited comes as zlib made it, not concatenated', async () => {
    const data = Buffer.from('proxmox-lxcri '.repeat(200_000));
    const blob = gzipSync(data);
    let release = (): void => undefined;
    const firstPieceTaken = new Promise<void>((resolve) => (release = resolve));
    const out: Buffer[] = [];
    const decoder = new GzipDecoder(
      async (c) => {
        out.push(Buffer.from(c));
        // the first chunk is held until zlib has taken the first piece: everything it inflated
        // meanwhile waits in the stream's buffer
        if (out.length === 1) await firstPieceTaken;
      },
      { chunkSize: 64 * 1024 },
    );
    await decoder.write(blob.subarray(0, blob.length - 64));
    release();
    await decoder.write(blob.subarray(blob.length - 64));
    await decoder.end();
    expect(Buffer.concat(out).equals(data)).toBe(true);
    expect(out.length).toBeGreaterThan(40);
    expect(Math.max(...out.map((c) => c.length))).toBeLessThanOrEqual(64 * 1024);
  });

  it('a consumer that returns nothing gets every chunk without waits', async () => {
    const data = noise(900_000);
    const out: Buffer[] = [];
    const decoder = new GzipDecoder((c) => {
      out.push(Buffer.from(c));
    });
    await decoder.write(gzipSync(data));
    await decoder.end();
    expect(Buffer.concat(out).equals(data)).toBe(true);
  });
});

describe('GzipDecoder: what Go’s multistream reader refuses is an error', () => {
  const data = text(600);
  const blob = gzipSync(data);

  it('trailing bytes after a member, zeros included, however the pieces fall', async () => {
    for (const tail of [Buffer.from('junk'), Buffer.alloc(1), Buffer.alloc(512), Buffer.from([0x1f]), Buffer.from([0x1f, 0x8b]), Buffer.from([0x1f, 0x8b, 8, 0, 0])]) {
      for (const sizes of [[blob.length + tail.length], [blob.length], [1]]) {
        const error = await failure(Buffer.concat([blob, tail]), sizes);
        expect(error.message, `${tail.toString('hex')} ${sizes}`).toMatch(/^bytes after the gzip stream are not a gzip member: /);
      }
    }
  });

  it('a blob cut short at any byte', async () => {
    const two = Buffer.concat([blob, gzipSync(text(30))]);
    for (let n = 0; n < two.length; n++) {
      if (n === blob.length) continue; // a whole first member is a whole blob
      const error = await failure(two.subarray(0, n), [Math.max(1, n >> 1)]);
      expect(error.message, `cut at ${n}`).toBeTruthy();
    }
  });

  it('bad header fields', async () => {
    const cases: [Buffer, string][] = [
      [Buffer.from('not gzip at all'), 'incorrect header check'],
      [member(data, { method: 7 }), 'unknown compression method'],
      [member(data, { flags: 0x20 }), 'unknown header flags set'],
      [member(data, { flags: 0x80 }), 'unknown header flags set'],
      [member(data, { headerCrc: 0x1234 }), 'header crc mismatch'],
      [member(data, { name: 'n'.repeat(512) }), 'too long'],
      [member(data, { comment: 'c'.repeat(600) }), 'too long'],
    ];
    for (const [bad, message] of cases) {
      const error = await failure(bad);
      expect(error, message).toBeInstanceOf(GzipFormatError);
      expect(error.message).toContain(message);
    }
  });

  it('a wrong length in the trailer, and a corrupt deflate stream', async () => {
    expect((await failure(member(data, { size: data.length + 1 }))).message).toContain('incorrect length check');
    const corrupt = Buffer.from(blob);
    corrupt.fill(0xff, 20, 40);
    await failure(corrupt);
  });

  it('the CRC-32 is not checked (the blob digest and the DiffID cover those bytes)', async () => {
    expect((await decode(member(data, { crc: 0 }))).equals(data)).toBe(true);
  });

  it('an error of the consumer comes back as is, and stops the decoding', async () => {
    const stop = new Error('consumer stop');
    let calls = 0;
    const error = await decode(gzipSync(noise(1_000_000)), [65_536], () => {
      calls++;
      throw stop;
    }).catch((e: unknown) => e);
    expect(error).toBe(stop);
    expect(calls).toBe(1);
  });
});

describe('gzipHeaderLength', () => {
  it('is 0 until the header is whole, then its length', () => {
    const h = member(Buffer.from('x'), { name: 'abc', extra: Buffer.alloc(5) });
    const length = 10 + 2 + 5 + 4;
    for (let n = 0; n < length; n++) expect(gzipHeaderLength(h.subarray(0, n)), String(n)).toBe(0);
    expect(gzipHeaderLength(h)).toBe(length);
  });

  it('throws on the first byte that cannot start a header', () => {
    expect(() => gzipHeaderLength(Buffer.from([0]))).toThrow(GzipFormatError);
    expect(() => gzipHeaderLength(Buffer.from([0x1f, 0]))).toThrow(GzipFormatError);
  });
});
