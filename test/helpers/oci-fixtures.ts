/**
 * Builders for test images: tar archives (tar-stream), OCI image layouts written by hand (any
 * compression, tampered digests, ...), images built with umoci from real files, and a snapshot of
 * a directory tree to compare two root filesystems.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
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
    let blob = compression === 'gzip' ? gzipSync(layer.tar) : compression === 'zstd' ? zstd(layer.tar) : layer.tar;
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

/** Compresses with the zstd CLI. */
export function zstd(data: Buffer): Buffer {
  const result = spawnSync('zstd', ['-q', '-c', '-3'], { input: data, maxBuffer: 1 << 30 });
  if (result.status !== 0) throw new Error(`zstd failed: ${String(result.stderr)}`);
  return result.stdout;
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
  /** Paths that share this inode (hardlinks), sorted, when nlink > 1. */
  links?: string[];
  xattrs?: Record<string, string>;
}

/** Records every path under `root` (the root itself as `.`): type, mode, owner, content hash, link target, xattrs, hardlink groups. */
export function snapshotTree(root: string, options: { xattrs?: boolean; ignore?: (rel: string) => boolean } = {}): Record<string, TreeNode> {
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
