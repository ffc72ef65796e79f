/**
 * Writes one image of a layout as an OCI archive (`.tar` holding `oci-layout`, `index.json` and
 * the blobs of the chosen manifest only), streaming every blob from the layout with tar-stream.
 * This is the template format PVE 9.1 detects at create (`archive_is_oci_format`).
 *
 * @module
 */
import { throwIfAborted } from '../../errors.js';
import type { ResolvedImage } from '../../oci/image/layout.js';
import { MEDIA_TYPES, type OciDescriptor } from '../../oci/image/types.js';
import type { LxcProgress } from './progress.js';
import { TarFileWriter, type TarEntry } from './tar-writer.js';

/** Options of {@link writeOciArchive}. */
export interface WriteOciArchiveOptions {
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: LxcProgress) => void) | undefined;
}

const MTIME = new Date(0);

function blobName(digest: string): string {
  const [algorithm, encoded] = digest.split(':');
  return `blobs/${algorithm ?? ''}/${encoded ?? ''}`;
}

/**
 * Writes `image` as an OCI archive to `path`. Returns its size in bytes.
 * The index names the image with `org.opencontainers.image.ref.name` = the resolved reference's tag.
 */
export async function writeOciArchive(image: ResolvedImage, path: string, options: WriteOciArchiveOptions = {}): Promise<number> {
  const { signal, onProgress } = options;
  const blobs: OciDescriptor[] = [image.manifestDescriptor, image.manifest.config, ...image.layers];
  const seen = new Set<string>();
  const unique = blobs.filter((b) => (seen.has(b.digest) ? false : (seen.add(b.digest), true)));
  const total = unique.reduce((n, b) => n + b.size, 0);
  const refName = /:([\w][\w.-]{0,127})$/.exec(image.reference.replace(/@.*$/, ''))?.[1] ?? 'latest';
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: [
      {
        mediaType: image.manifestDescriptor.mediaType,
        digest: image.manifestDescriptor.digest,
        size: image.manifestDescriptor.size,
        annotations: { 'org.opencontainers.image.ref.name': refName },
      },
    ],
  };

  const writer = new TarFileWriter(path, { signal });
  const file = (name: string, size: number): TarEntry => ({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: MTIME, size });
  let bytesDone = 0;
  try {
    const layoutFile = Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    const indexFile = Buffer.from(JSON.stringify(index));
    await writer.add(file('oci-layout', layoutFile.length), layoutFile);
    await writer.add(file('index.json', indexFile.length), indexFile);
    const dirs = ['blobs', ...new Set(unique.map((b) => blobName(b.digest).split('/').slice(0, 2).join('/')))];
    for (const dir of dirs) await writer.add({ name: dir, type: 'directory', mode: 0o755, uid: 0, gid: 0, mtime: MTIME });
    for (const [i, blob] of unique.entries()) {
      throwIfAborted(signal, 'writing the OCI archive');
      const source = image.layout.openBlob(blob, 'blob', 1 << 16);
      async function* counted(): AsyncIterable<Buffer> {
        for await (const chunk of source as AsyncIterable<Buffer>) {
          bytesDone += chunk.length;
          onProgress?.({ phase: 'template-build', bytesDone, bytesTotal: total, entriesDone: i, entriesTotal: unique.length });
          yield chunk;
        }
      }
      try {
        await writer.add(file(blobName(blob.digest), blob.size), counted());
      } finally {
        source.destroy();
      }
    }
    await writer.finish();
  } catch (error) {
    await writer.abort(error as Error);
    throw error;
  }
  onProgress?.({ phase: 'template-build', bytesDone: total, bytesTotal: total, entriesDone: unique.length, entriesTotal: unique.length });
  return writer.bytesWritten;
}
