/**
 * Builders for test images: tar archives (tar-stream), OCI image layouts written by hand (any
 * compression, tampered digests, ...), images built with umoci from real files, and a snapshot of
 * a directory tree to compare two root filesystems.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, linkSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants as zlibConstants, deflateRawSync, gzipSync } from 'node:zlib';
import * as tar from 'tar-stream';

/** One entry of a test archive. */
export interface FixtureEntry {
  name: string;
  type?: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  mode?: number;
  uid?: number;
  gid?: number;
  content?: string | Buffer;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  mtime?: Date;
  pax?: Record<string, string>;
}

/** Packs entries into a tar archive with tar-stream. */
export async function packTar(entries: readonly FixtureEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    pack.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    pack.on('end', () => resolve(Buffer.concat(chunks)));
    pack.on('error', (e: unknown) => reject(e as Error));
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    const content = e.content === undefined ? undefined : Buffer.isBuffer(e.content) ? e.content : Buffer.from(e.content);
    await new Promise<void>((resolve, reject) => {
      const header: Partial<tar.Header> & { name: string } = {
        name: e.name,
        type,
        mode: e.mode ?? (type === 'directory' ? 0o755 : 0o644),
        uid: e.uid ?? 0,
        gid: e.gid ?? 0,
        mtime: e.mtime ?? new Date(1_700_000_000_000),
        ...(e.linkname === undefined ? {} : { linkname: e.linkname }),
        ...(e.devmajor === undefined ? {} : { devmajor: e.devmajor }),
        ...(e.devminor === undefined ? {} : { devminor: e.devminor }),
        ...(e.pax === undefined ? {} : { pax: e.pax }),
      };
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (type === 'file') pack.entry({ ...header, size: content?.length ?? 0 }, content ?? Buffer.alloc(0), cb);
      else pack.entry(header, cb);
    });
  }
  pack.finalize();
  return done;
}

const sha256 = (data: Buffer | string): string => `sha256:${createHash('sha256').update(data).digest('hex')}`;

/** One layer of a hand-written layout. */
export interface FixtureLayer {
  tar: Buffer;
  compression?: 'none' | 'gzip' | 'zstd';
  /** Overrides the media type in the manifest. */
  mediaType?: string;
  /** Overrides the DiffID in the config. */
  diffId?: string;
  /** Uses these bytes as the blob (digest and size computed from them). */
  blob?: Buffer;
  /** Replaces the blob bytes after the digest was computed (tampering). */
  tamper?: (blob: Buffer) => Buffer;
  /** Overrides the digest written in the manifest. */
  digest?: string;
}

/** Writes an OCI image layout with the given layers; returns the manifest digest. */
export function writeImageLayout(
  dir: string,
  layers: readonly FixtureLayer[],
  options: { ref?: string; config?: Record<string, unknown>; architecture?: string; extraIndexEntries?: unknown[] } = {},
): { manifestDigest: string; configDigest: string; layerDigests: string[] } {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const put = (data: Buffer): string => {
    const digest = sha256(data);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
    return digest;
  };
  const descriptors: { mediaType: string; digest: string; size: number }[] = [];
  const diffIds: string[] = [];
  for (const layer of layers) {
    const compression = layer.compression ?? 'gzip';
    let blob = layer.blob ?? (compression === 'gzip' ? gzipSync(layer.tar) : compression === 'zstd' ? zstd(layer.tar) : layer.tar);
    const digest = layer.digest ?? sha256(blob);
    const size = blob.length;
    if (layer.tamper) blob = layer.tamper(blob);
    // an overridden (possibly malicious) digest is only written into the manifest, never used as a path here
    writeFileSync(join(dir, 'blobs', 'sha256', (layer.digest === undefined ? digest : sha256(blob)).slice(7)), blob);
    const suffix = compression === 'gzip' ? '+gzip' : compression === 'zstd' ? '+zstd' : '';
    descriptors.push({ mediaType: layer.mediaType ?? `application/vnd.oci.image.layer.v1.tar${suffix}`, digest, size });
    diffIds.push(layer.diffId ?? sha256(layer.tar));
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: options.architecture ?? 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: diffIds },
      ...options.config,
    }),
  );
  const configDigest = put(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: descriptors,
    }),
  );
  const manifestDigest = put(manifest);
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': options.ref ?? 'latest' },
        },
        ...(options.extraIndexEntries ?? []),
      ],
    }),
  );
  return { manifestDigest, configDigest, layerDigests: descriptors.map((d) => d.digest) };
}

/**
 * Builds an image with umoci: `init`, `new`, then for each step `unpack`, the step's changes to
 * the rootfs, `repack`. Every step becomes one layer.
 */
export function buildUmociImage(layout: string, tag: string, work: string, steps: readonly ((rootfs: string) => void)[]): void {
  execFileSync('umoci', ['init', '--layout', layout]);
  execFileSync('umoci', ['new', '--image', `${layout}:${tag}`]);
  for (const [i, step] of steps.entries()) {
    const bundle = join(work, `bundle-${i}`);
    execFileSync('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle]);
    step(join(bundle, 'rootfs'));
    execFileSync('umoci', ['repack', '--image', `${layout}:${tag}`, bundle]);
    rmSync(bundle, { recursive: true, force: true });
  }
}

/** What a snapshot records for one path. */
export interface TreeNode {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  rdev?: number;
  /** Modification time in ms (with `mtimes: true`). */
  mtime?: number;
  /** Paths that share this inode (hardlinks), sorted, when nlink > 1. */
  links?: string[];
  xattrs?: Record<string, string>;
}

/** Records every path under `root` (the root itself as `.`): type, mode, owner, content hash, link target, xattrs, hardlink groups. */
export function snapshotTree(root: string, options: { xattrs?: boolean; mtimes?: boolean; ignore?: (rel: string) => boolean } = {}): Record<string, TreeNode> {
  const out: Record<string, TreeNode> = {};
  const inodes = new Map<number, string[]>();
  const walk = (rel: string): void => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = lstatSync(abs);
    const type = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : st.isFIFO() ? 'fifo' : 'socket';
    const node: TreeNode = { type, mode: (st.mode & 0o7777).toString(8), uid: st.uid, gid: st.gid };
    if (type === 'file') {
      node.size = st.size;
      node.sha256 = sha256(readFileSync(abs));
    }
    if (type === 'symlink') node.link = readlinkSync(abs);
    if (options.mtimes) node.mtime = st.mtimeMs;
    if (type === 'char' || type === 'block') node.rdev = st.rdev;
    if (type !== 'dir' && st.nlink > 1) {
      const list = inodes.get(st.ino) ?? [];
      list.push(rel);
      inodes.set(st.ino, list);
    }
    out[rel] = node;
    if (type === 'dir') {
      for (const child of readdirSync(abs).sort()) {
        const childRel = rel === '.' ? child : `${rel}/${child}`;
        if (options.ignore?.(childRel)) continue;
        walk(childRel);
      }
    }
  };
  walk('.');
  for (const list of inodes.values()) {
    const sorted = [...list].sort();
    for (const p of list) (out[p] as TreeNode).links = sorted;
  }
  if (options.xattrs) {
    const dump = spawnSync('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '--absolute-names', root], { encoding: 'utf8', maxBuffer: 1 << 28 });
    let current: TreeNode | undefined;
    for (const line of dump.stdout.split('\n')) {
      if (line.startsWith('# file: ')) {
        const path = line.slice(8);
        const rel = path === root ? '.' : path.slice(root.length + 1);
        current = out[rel];
      } else if (current && line.includes('=')) {
        const eq = line.indexOf('=');
        current.xattrs = { ...current.xattrs, [line.slice(0, eq)]: line.slice(eq + 1) };
      }
    }
  }
  return out;
}

const setfattr = (path: string, name: string, value: string): void => {
  execFileSync('setfattr', ['-h', '-n', name, '-v', value, path]);
};

/** Layer 1: a small system with every kind of entry. */
export function layerBase(rootfs: string): void {
  for (const d of ['bin', 'etc', 'usr/bin', 'usr/lib', 'var/empty', 'opt/app/lib', 'dev', 'home/user', 'shared', 'old/dir/deep']) mkdirSync(join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'));
  chmodSync(join(rootfs, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(rootfs, 'bin/sh'));
  symlinkSync('/bin/busybox', join(rootfs, 'usr/bin/env'));
  symlinkSync('../nowhere/at/all', join(rootfs, 'usr/bin/dangling'));
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n');
  writeFileSync(join(rootfs, 'etc/motd'), 'hello\n');
  writeFileSync(join(rootfs, 'etc/shadow'), 'root:*:1::::::\n');
  chmodSync(join(rootfs, 'etc/shadow'), 0o640);
  chownSync(join(rootfs, 'etc/shadow'), 0, 42);
  writeFileSync(join(rootfs, 'bin/suid'), '#!/bin/sh\n');
  chmodSync(join(rootfs, 'bin/suid'), 0o4755);
  writeFileSync(join(rootfs, 'bin/sgid'), '#!/bin/sh\n');
  chmodSync(join(rootfs, 'bin/sgid'), 0o2711);
  mkdirSync(join(rootfs, 'tmp'));
  chmodSync(join(rootfs, 'tmp'), 0o1777);
  chmodSync(join(rootfs, 'shared'), 0o2775);
  chownSync(join(rootfs, 'shared'), 0, 100);
  writeFileSync(join(rootfs, 'home/user/secret'), 'x'.repeat(70_000));
  chmodSync(join(rootfs, 'home/user/secret'), 0o600);
  chownSync(join(rootfs, 'home/user/secret'), 1000, 1000);
  chownSync(join(rootfs, 'home/user'), 1000, 1000);
  writeFileSync(join(rootfs, 'var/empty/nomode'), '');
  chmodSync(join(rootfs, 'var/empty/nomode'), 0);
  writeFileSync(join(rootfs, 'usr/lib/libfoo.so.1'), Buffer.alloc(200_000, 7));
  linkSync(join(rootfs, 'usr/lib/libfoo.so.1'), join(rootfs, 'usr/lib/libfoo-hardlink.so'));
  linkSync(join(rootfs, 'usr/lib/libfoo.so.1'), join(rootfs, 'bin/libfoo-other-dir'));
  writeFileSync(join(rootfs, 'opt/app/lib/a.txt'), 'a');
  writeFileSync(join(rootfs, 'opt/app/b.txt'), 'b');
  writeFileSync(join(rootfs, 'old/dir/deep/file'), 'deep');
  execFileSync('mknod', ['-m', '0666', join(rootfs, 'dev/null'), 'c', '1', '3']);
  execFileSync('mknod', ['-m', '0660', join(rootfs, 'dev/loop9'), 'b', '7', '9']);
  execFileSync('mkfifo', ['-m', '0620', join(rootfs, 'dev/fifo')]);
  writeFileSync(join(rootfs, 'bin/ping'), 'ping');
  setfattr(join(rootfs, 'bin/ping'), 'security.capability', '0x0100000200200000000000000000000000000000');
  setfattr(join(rootfs, 'etc/motd'), 'user.comment', 'greeting');
  setfattr(join(rootfs, 'etc/passwd'), 'trusted.test', '0x00ff10');
  setfattr(join(rootfs, 'opt'), 'user.dir-attr', 'on a directory');
}

/** Layer 2: deletions (file, dir tree), modifications, type changes, owner/mode changes. */
export function layerChanges(rootfs: string): void {
  unlinkSync(join(rootfs, 'etc/shadow'));
  rmSync(join(rootfs, 'old'), { recursive: true });
  writeFileSync(join(rootfs, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  chmodSync(join(rootfs, 'bin/suid'), 0o6755);
  chownSync(join(rootfs, 'etc/motd'), 1000, 1000);
  unlinkSync(join(rootfs, 'usr/bin/env'));
  writeFileSync(join(rootfs, 'usr/bin/env'), 'now a file');
  rmSync(join(rootfs, 'var/empty'), { recursive: true });
  symlinkSync('/tmp', join(rootfs, 'var/empty'));
  mkdirSync(join(rootfs, 'srv/www'), { recursive: true });
  writeFileSync(join(rootfs, 'srv/www/index.html'), '<html></html>');
  linkSync(join(rootfs, 'srv/www/index.html'), join(rootfs, 'srv/www/index.htm'));
  unlinkSync(join(rootfs, 'usr/lib/libfoo-hardlink.so'));
  setfattr(join(rootfs, 'srv/www/index.html'), 'user.mime', 'text/html');
}


/**
 * Builds the feature image used by the equivalence and cache tests (needs root, umoci, setfattr,
 * mknod): base layer with every entry kind, a layer of changes (deletions, type/owner/mode
 * changes), an opaque directory, an explicit whiteout, and a re-added path.
 */
export function buildFeatureImage(layout: string, tag: string, work: string): void {
  buildUmociImage(layout, tag, work, [layerBase, layerChanges]);
  const optNew = join(work, 'opt-new');
  mkdirSync(join(optNew, 'fresh'), { recursive: true });
  writeFileSync(join(optNew, 'fresh/new.txt'), 'new');
  execFileSync('umoci', ['insert', '--image', `${layout}:${tag}`, '--opaque', optNew, '/opt']);
  execFileSync('umoci', ['insert', '--image', `${layout}:${tag}`, '--whiteout', '/etc/motd']);
  const readd = join(work, 'readd');
  mkdirSync(readd);
  writeFileSync(join(readd, 'shadow'), 'new shadow');
  execFileSync('umoci', ['insert', '--image', `${layout}:${tag}`, join(readd, 'shadow'), '/etc/shadow']);
}

/** A ustar header of one regular file (size in base-256 when it does not fit in octal). */
export function tarFileHeader(name: string, size: number, mode = 0o644): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0, 100, 'utf8');
  h.write(`${mode.toString(8).padStart(7, '0')}\0`, 100, 'latin1');
  h.write('0000000\0', 108, 'latin1');
  h.write('0000000\0', 116, 'latin1');
  if (size < 8 ** 11) h.write(`${size.toString(8).padStart(11, '0')}\0`, 124, 'latin1');
  else {
    h[124] = 0x80;
    let v = size;
    for (let i = 135; i > 124; i--) {
      h[i] = v % 256;
      v = Math.floor(v / 256);
    }
  }
  h.write('14544554000\0', 136, 'latin1');
  h[156] = 0x30;
  h.write('ustar\x0000', 257, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : (h[i] as number);
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return h;
}

/**
 * A zstd frame of raw and RLE blocks (no entropy coding): valid zstd, written without the zstd
 * CLI. Runs of one byte become 4-byte RLE blocks of 128 KiB, so zeros compress 32768:1.
 */
export function zstdFrame(parts: readonly (Buffer | { zeros: number })[]): Buffer {
  const BLOCK = 128 * 1024;
  const out: Buffer[] = [Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x38])]; // magic, no size/checksum, 128 KiB window
  const blocks: { type: 0 | 1; size: number; body: Buffer }[] = [];
  for (const part of parts) {
    if (Buffer.isBuffer(part)) {
      for (let i = 0; i < part.length; i += BLOCK) {
        const piece = part.subarray(i, i + BLOCK);
        blocks.push(piece.every((b) => b === piece[0]) ? { type: 1, size: piece.length, body: piece.subarray(0, 1) } : { type: 0, size: piece.length, body: piece });
      }
    } else {
      for (let left = part.zeros; left > 0; left -= BLOCK) blocks.push({ type: 1, size: Math.min(BLOCK, left), body: Buffer.alloc(1) });
    }
  }
  if (blocks.length === 0) blocks.push({ type: 0, size: 0, body: Buffer.alloc(0) });
  for (const [i, b] of blocks.entries()) {
    const header = (b.size << 3) | (b.type << 1) | (i === blocks.length - 1 ? 1 : 0);
    out.push(Buffer.from([header & 0xff, (header >> 8) & 0xff, (header >> 16) & 0xff]), b.body);
  }
  return Buffer.concat(out);
}

/** Compresses with zstd (raw and RLE blocks; see {@link zstdFrame}). */
export function zstd(data: Buffer): Buffer {
  return zstdFrame([data]);
}

/**
 * A zstd compression bomb: a tar with one file of `size` zero bytes (a multiple of 512) in RLE
 * blocks — 10 GiB in 320 KiB. Built without holding the stream; `diffId` is the real DiffID only
 * when `hash` is set (hashing gigabytes of zeros takes seconds), otherwise a placeholder: the
 * limits stop a bomb long before its DiffID is compared.
 */
export function zstdZeroBomb(size: number, options: { hash?: boolean } = {}): { blob: Buffer; diffId: string } {
  const header = tarFileHeader('zeros', size);
  const blob = zstdFrame([header, { zeros: size + 1024 }]);
  return { blob, diffId: options.hash ? zeroStreamDiffId(header, size + 1024) : `sha256:${'0'.repeat(64)}` };
}

/**
 * A gzip compression bomb: a tar with one file of `size` zero bytes (a multiple of 1 MiB), made
 * by repeating one full-flushed deflate block of 1 MiB of zeros — 10 GiB in about 10 MiB, in
 * milliseconds. The gzip trailer's CRC is a placeholder (the stream is refused long before it),
 * and so is the DiffID unless `hash` is set.
 */
export function gzipZeroBomb(size: number, options: { hash?: boolean } = {}): { blob: Buffer; diffId: string } {
  const MIB = 1024 * 1024;
  const header = tarFileHeader('zeros', size);
  const flush = { level: 9, finishFlush: zlibConstants.Z_FULL_FLUSH };
  const zeros = deflateRawSync(Buffer.alloc(MIB), flush);
  const parts = [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 2, 3]), deflateRawSync(header, flush)];
  for (let i = 0; i < size / MIB; i++) parts.push(zeros);
  parts.push(deflateRawSync(Buffer.alloc(1024), flush), Buffer.from([0x03, 0x00]));
  const isize = Buffer.alloc(8);
  isize.writeUInt32LE((512 + size + 1024) % 2 ** 32, 4);
  parts.push(isize);
  return { blob: Buffer.concat(parts), diffId: options.hash ? zeroStreamDiffId(header, size + 1024) : `sha256:${'0'.repeat(64)}` };
}

function zeroStreamDiffId(header: Buffer, zeros: number): string {
  const hash = createHash('sha256').update(header);
  const chunk = Buffer.alloc(1024 * 1024);
  for (let left = zeros; left > 0; left -= chunk.length) hash.update(left >= chunk.length ? chunk : chunk.subarray(0, left));
  return `sha256:${hash.digest('hex')}`;
}

/**
 * An entry flood: `dirs` directories of `perDir` empty files each (`d<i>/f<j>`), tar+gzip,
 * built header by header (no tar-stream round trips).
 */
export function entryFlood(dirs: number, perDir: number): { blob: Buffer; diffId: string; tar: Buffer } {
  const headers: Buffer[] = [];
  for (let d = 0; d < dirs; d++) for (let f = 0; f < perDir; f++) headers.push(tarFileHeader(`d${d}/f${f}`, 0));
  headers.push(Buffer.alloc(1024));
  const tarData = Buffer.concat(headers);
  return { tar: tarData, blob: gzipSync(tarData), diffId: `sha256:${createHash('sha256').update(tarData).digest('hex')}` };
}
