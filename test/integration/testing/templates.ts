/**
 * Real CT templates for the simulator tests: rootfs tars (compressed by their name, as PVE
 * reads them) and PVE 9.1 OCI archives with real gzip layers.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';

/** A file's contents, a symlink, or a directory. */
export type TreeEntry = string | Buffer | { symlink: string } | { dir: true };

/** The first 20 bytes of an x86-64 ELF executable (what PVE reads from /bin/sh). */
export function elfHead(machine = 0x3e): Buffer {
  const head = Buffer.alloc(64);
  head.write('\x7fELF', 0, 'latin1');
  head[4] = 2; // 64-bit
  head[5] = 1; // little endian
  head[6] = 1;
  head.writeUInt16LE(2, 16); // ET_EXEC
  head.writeUInt16LE(machine, 18);
  return head;
}

/** Packs a tree into an uncompressed tar. */
export async function packTree(tree: Readonly<Record<string, TreeEntry>>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, entry] of Object.entries(tree)) {
    if (typeof entry === 'string' || Buffer.isBuffer(entry)) pack.entry({ name, mode: 0o755 }, entry);
    else if ('symlink' in entry) pack.entry({ name, type: 'symlink', linkname: entry.symlink });
    else pack.entry({ name, type: 'directory' });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A minimal root filesystem of a distribution (`/etc/os-release` ID, `/bin/sh` an ELF via busybox). */
export function distroTree(id: string | null, extra: Readonly<Record<string, TreeEntry>> = {}): Record<string, TreeEntry> {
  return {
    'bin/': { dir: true },
    'bin/busybox': elfHead(),
    'bin/sh': { symlink: 'busybox' },
    'etc/': { dir: true },
    ...(id === null ? {} : { 'etc/os-release': `NAME="Test ${id}"\nID=${id}\nVERSION_ID="1"\n` }),
    ...extra,
  };
}

/** Compresses a tar as its file name says (`.tar.gz`, `.tar.zst`, `.tar.xz`, `.tar.bz2`, `.tar`). */
export function compressFor(name: string, data: Buffer): Buffer {
  if (/\.tar\.gz$/.test(name)) return gzipSync(data);
  const tool = /\.tar\.zst$/.test(name) ? 'zstd' : /\.tar\.xz$/.test(name) ? 'xz' : /\.tar\.bz2$/.test(name) ? 'bzip2' : undefined;
  if (!tool) return data;
  return execFileSync(tool, ['-c'], { input: data, maxBuffer: 1 << 28 });
}

/** A rootfs-mode template of `id` (os-release), compressed for `name`. */
/** `id: null` leaves out /etc/os-release. */
export async function rootfsTemplate(name: string, id: string | null = 'debian', extra: Readonly<Record<string, TreeEntry>> = {}): Promise<Buffer> {
  return compressFor(name, await packTree(distroTree(id, extra)));
}

/** A PVE 9.1 OCI archive (`oci-layout`, `index.json`, `blobs/`) whose layers are gzip tars of `layers`. */
export async function ociArchive(config: Record<string, unknown>, layers: readonly Readonly<Record<string, TreeEntry>>[] = [distroTree('alpine')]): Promise<Buffer> {
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  const tars = await Promise.all(layers.map((l) => packTree(l)));
  const blobs = tars.map((t) => gzipSync(t));
  const configBlob = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config, rootfs: { type: 'layers', diff_ids: tars.map((t) => `sha256:${sha(t)}`) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: `sha256:${sha(configBlob)}`, size: configBlob.length },
      layers: blobs.map((b) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: `sha256:${sha(b)}`, size: b.length })),
    }),
  );
  const index = Buffer.from(
    JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${sha(manifest)}`, size: manifest.length }] }),
  );
  const tree: Record<string, TreeEntry> = { 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', 'index.json': index, 'blobs/': { dir: true }, 'blobs/sha256/': { dir: true } };
  for (const blob of [...blobs, configBlob, manifest]) tree[`blobs/sha256/${sha(blob)}`] = blob;
  return packTree(tree);
}
