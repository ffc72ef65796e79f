/**
 * The tar parser on archives written by tar-stream and GNU tar: long names, PAX records with
 * binary xattr values and uid/gid/mtime, base-256 numbers, arbitrary chunking; and layer formats
 * (tar, gzip, zstd, non-distributable) that must all produce the same tree.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { openImageLayout } from '../../../../src/index.js';
import { unpackImage } from '../../../../src/exports/oci.js';
import { TarParser, type TarEntryHeader } from '../../../../src/oci/image/tar-reader.js';
import { encodeRootlessOwner, quoteAttrText, unquoteAttrText } from '../../../../src/oci/layers/xattr.js';
import { packTar, snapshotTree, writeImageLayout, type FixtureEntry } from '../../../helpers/oci-fixtures.js';
import { missing } from '../../../helpers/requirements.js';

interface Parsed {
  header: TarEntryHeader;
  data: Buffer;
}

function parse(archive: Buffer, chunk = archive.length): Parsed[] {
  const out: Parsed[] = [];
  let current: Parsed | undefined;
  const parser = new TarParser({
    entry: (header) => {
      current = { header, data: Buffer.alloc(0) };
      out.push(current);
    },
    data: (d) => {
      if (current) current.data = Buffer.concat([current.data, d]);
    },
    end: () => undefined,
  });
  for (let i = 0; i < archive.length; i += chunk) parser.push(archive.subarray(i, i + chunk));
  parser.finish();
  return out;
}

vi.setConfig({ testTimeout: 60_000 });

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'lxcri-tar-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('TarParser', () => {
  const entries: FixtureEntry[] = [
    { name: 'dir/', type: 'directory', mode: 0o2755, uid: 1000, gid: 1000 },
    { name: `dir/${'long-name-'.repeat(20)}end`, content: 'long', mode: 0o4711 },
    { name: 'dir/link', type: 'symlink', linkname: `../${'target/'.repeat(30)}x` },
    { name: 'dir/hard', type: 'link', linkname: `dir/${'long-name-'.repeat(20)}end` },
    { name: 'dev/tty', type: 'character-device', devmajor: 5, devminor: 0, mode: 0o620 },
    { name: 'big', content: Buffer.alloc(70_001, 0x61) },
    { name: 'empty', content: '' },
    { name: 'unicodé/ファイル', content: 'utf8' },
  ];

  it('reads names, types, modes, owners, links, devices and content, in any chunking', async () => {
    const archive = await packTar(entries);
    for (const chunk of [1, 7, 511, 512, 513, 4096, archive.length]) {
      const parsed = parse(archive, chunk);
      expect(parsed.map((p) => p.header.name)).toEqual(entries.map((e) => e.name));
      expect(parsed[0]?.header).toMatchObject({ type: 'dir', mode: 0o2755, uid: 1000, gid: 1000 });
      expect(parsed[1]?.header).toMatchObject({ type: 'file', mode: 0o4711, size: 4 });
      expect(parsed[1]?.data.toString()).toBe('long');
      expect(parsed[2]?.header.linkname).toBe(entries[2]?.linkname);
      expect(parsed[3]?.header).toMatchObject({ type: 'link', linkname: entries[1]?.name });
      expect(parsed[4]?.header).toMatchObject({ type: 'char', devmajor: 5, devminor: 0 });
      expect(parsed[5]?.data.length).toBe(70_001);
      expect(parsed[6]?.data.length).toBe(0);
      expect(parsed[7]?.data.toString()).toBe('utf8');
    }
  });

  it('property: any split of any archive parses the same', async () => {
    const archive = await packTar(entries);
    const whole = parse(archive).map((p) => [p.header.name, p.data.length]);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: archive.length }), { minLength: 1, maxLength: 12 }), (cuts) => {
        const sorted = [...new Set(cuts)].sort((a, b) => a - b);
        const out: [string, number][] = [];
        let current: [string, number] | undefined;
        const parser = new TarParser({ entry: (h) => out.push((current = [h.name, 0])), data: (d) => current && (current[1] += d.length), end: () => undefined });
        let prev = 0;
        for (const c of [...sorted, archive.length]) {
          parser.push(archive.subarray(prev, c));
          prev = c;
        }
        parser.finish();
        expect(out).toEqual(whole);
      }),
      { numRuns: 60 },
    );
  });

  it('keeps binary PAX xattr values and applies PAX uid, gid, mtime', async () => {
    const archive = await packTar([{ name: 'f', content: 'x', pax: { uid: '3000000000', gid: '42', mtime: '1700000000.5', 'SCHILY.xattr.user.text': 'hello' } }]);
    const [entry] = parse(archive);
    expect(entry?.header).toMatchObject({ uid: 3_000_000_000, gid: 42, mtime: 1_700_000_000.5 });
    expect(entry?.header.xattrs.get('user.text')?.toString()).toBe('hello');
  });

  it.skipIf(missing({ root: true, tools: ['setfattr', 'tar'] }))('reads GNU tar archives with binary security.capability xattrs and base-256 ids', () => {
    const src = join(work, 'gnu');
    mkdirSync(src);
    writeFileSync(join(src, 'ping'), 'ping');
    execFileSync('setfattr', ['-n', 'security.capability', '-v', '0x0100000200200000000000000000000000000000', join(src, 'ping')]);
    const archive = execFileSync('tar', ['-C', src, '--owner=2097152', '--group=0', '--format=gnu', '-cf', '-', 'ping']);
    const [entry] = parse(archive);
    expect(entry?.header.uid).toBe(2_097_152);
    expect(entry?.header.name).toBe('ping');
    const pax = execFileSync('tar', ['-C', src, '--xattrs', '--xattrs-include=*', '--format=posix', '-cf', '-', 'ping']);
    const [paxEntry] = parse(pax);
    expect(paxEntry?.header.xattrs.get('security.capability')?.toString('hex')).toBe('0100000200200000000000000000000000000000');
  });

  it('rejects bad checksums, truncation, sparse and unknown types, and non-UTF-8 names', async () => {
    const archive = await packTar([{ name: 'f', content: 'x'.repeat(1000) }]);
    expect(() => parse(archive.subarray(0, 700))).toThrow(/truncated/);
    expect(() => parse(archive.subarray(0, 300))).toThrow(/truncated/);
    const bad = Buffer.from(archive);
    bad[10] = 0x41;
    expect(() => parse(bad)).toThrow(/checksum/);
    const latin = Buffer.from(archive);
    latin[0] = 0xe9;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (latin[i] as number);
    latin.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    expect(() => parse(latin)).toThrow(/UTF-8/);
  });
});

describe('xattr helpers', () => {
  it('quotes and unquotes any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (text) => {
        expect(unquoteAttrText(quoteAttrText(text))).toBe(text);
      }),
    );
  });

  it('encodes the rootless owner as umoci does', () => {
    expect(encodeRootlessOwner(0, 0)).toBeUndefined();
    expect(encodeRootlessOwner(1000, 1000)?.toString('hex')).toBe('08e80710e807');
    expect(encodeRootlessOwner(0, 5)?.toString('hex')).toBe('08ffffffff0f1005');
  });
});

describe('layer formats', () => {
  it('tar, tar+gzip, tar+zstd and non-distributable layers unpack to the same tree', async () => {
    const files: FixtureEntry[] = [
      { name: 'etc/', type: 'directory' },
      { name: 'etc/big', content: Buffer.from(Array.from({ length: 300_000 }, (_, i) => i % 251)) },
      { name: 'etc/link', type: 'symlink', linkname: 'big' },
    ];
    const upper: FixtureEntry[] = [{ name: 'etc/.wh.big', content: '' }, { name: 'etc/new', content: 'new' }];
    const variants: [string, Parameters<typeof writeImageLayout>[1]][] = [
      ['tar', [{ tar: await packTar(files), compression: 'none' }, { tar: await packTar(upper), compression: 'none' }]],
      ['gzip', [{ tar: await packTar(files), compression: 'gzip' }, { tar: await packTar(upper), compression: 'gzip' }]],
      ['zstd', [{ tar: await packTar(files), compression: 'zstd' }, { tar: await packTar(upper), compression: 'zstd' }]],
      [
        'nondistributable',
        [
          { tar: await packTar(files), compression: 'zstd', mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd' },
          { tar: await packTar(upper), compression: 'gzip', mediaType: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip' },
        ],
      ],
    ];
    const trees: Record<string, unknown> = {};
    for (const [name, layers] of variants) {
      const dir = join(work, `fmt-${name}`);
      writeImageLayout(dir, layers);
      const image = await (await openImageLayout(dir)).resolve();
      const result = await unpackImage(image, join(work, `out-${name}`), { rootless: process.getuid?.() !== 0 });
      trees[name] = snapshotTree(result.rootfs);
    }
    expect(trees['gzip']).toEqual(trees['tar']);
    expect(trees['zstd']).toEqual(trees['tar']);
    expect(trees['nondistributable']).toEqual(trees['tar']);
    expect(Object.keys(trees['tar'] as object).sort()).toEqual(['.', 'etc', 'etc/link', 'etc/new']);
    expect(readFileSync(join(work, 'out-zstd', 'rootfs', 'etc', 'new'), 'utf8')).toBe('new');
  });

  it('a layer compressed by the zstd CLI (-19: entropy-coded blocks, checksum) unpacks without the CLI', async () => {
    // `zstd -19` of a tar of etc/ and etc/motd (the text below), made once and kept here so the
    // decoder's Huffman/FSE paths are tested on machines without zstd
    const blob = Buffer.from('KLUv/WQAFZ0LAPZSMhtgT9qfePkgHSSQ4tQgiKglIrSyt/gBBQ0VSAIuAC8AJABuEo8F5uahaBhy2oR6KTMZHseBzJBk8EwoCCnymdnNZmm7eZq3IauumaFA4WkC/t1X/1+p7HtMtjQvUeH9vgdMEI7BmMygYbOkqTieQByUhc0X5+CHxZEQzCgoKJEJf8VMtCPi4TqeoVp3dbtn6ZLefer7fenzfV5fvvfKv7+++SnIvhSVrtVLqlSfulazJqtvqit/lblpT4maK/Mw1eWfa2kLk7ovaoCLqEFs2ySV7LMZUElJQfMSQEAI1hCYCO4WECJoL38KDI0BURGtAg+wVoS72jmi0CCC0PLNGXv2dRHc1e5SUNop0lrqzikz9nUR2lQk/KsmdJlHcfRAdFRDkLEhBy0YGQh29ivJh6c8lO2AjMPzGyiJ6GT4wbBx8LtqUJkOahlFGkUcRYxGTKlYYaYKTFPdCUM5jhkAsEjnAFxh8f5/qNwAtOQUO5wfWKLcGw==', 'base64');
    const text = Array.from({ length: 60 }, (_, i) => `line ${i}: the quick brown fox ${(i * 7) % 13} jumps over ${i % 5} lazy dogs\n`).join('');
    const dir = join(work, 'fmt-zstd-cli');
    writeImageLayout(dir, [{ tar: Buffer.alloc(0), blob, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', diffId: 'sha256:60f144ad2d19f2272f8ff4a6ac2484afe9d514eb91e7eb6a61b8990c484628e8' }]);
    const image = await (await openImageLayout(dir)).resolve();
    const result = await unpackImage(image, join(work, 'out-zstd-cli'), { rootless: process.getuid?.() !== 0 });
    expect(readFileSync(join(result.rootfs, 'etc', 'motd'), 'utf8')).toBe(text);
  });
});
