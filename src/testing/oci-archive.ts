/**
 * Detects a PVE 9.1 OCI-archive template (`.tar` holding `oci-layout`, `index.json` and `blobs/`)
 * and reads what PVE maps from its image config: `Entrypoint` + `Cmd` and `Env`.
 *
 * @module
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Writable } from 'node:stream';
import tar from 'tar-stream';

/** What create takes from an OCI image. */
export interface OciTemplateInfo {
  /** `Entrypoint` + `Cmd`: the first word, then the others in double quotes (`/app "--port" "80"`), unless it is `/sbin/init` or empty. */
  entrypoint?: string;
  /** `Env` entries (`KEY=value`). */
  env: string[];
  /** Number of layers of the manifest. */
  layers: number;
}

const SMALL = 4 * 1024 * 1024;

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * Returns the OCI info of an archive, or `undefined` when the tar is not an OCI layout (a plain
 * rootfs template) or cannot be read as one.
 */
export async function inspectOciArchive(path: string): Promise<OciTemplateInfo | undefined> {
  const files = new Map<string, Buffer>();
  let hasBlobs = false;
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    if (name.startsWith('blobs/')) hasBlobs = true;
    if (header.type === 'file' && (header.size ?? 0) <= SMALL) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on('end', () => {
        files.set(name, Buffer.concat(chunks));
        next();
      });
    } else {
      stream.on('end', () => next());
      stream.resume();
    }
  });
  try {
    await pipeline(createReadStream(path), extract as unknown as Writable);
  } catch {
    return undefined;
  }
  const indexRaw = files.get('index.json');
  if (!files.has('oci-layout') || !indexRaw || !hasBlobs) return undefined;
  try {
    const blob = (digest: unknown): Record<string, unknown> | undefined => {
      const match = typeof digest === 'string' ? /^([a-z0-9]+):([a-f0-9]+)$/.exec(digest) : null;
      const data = match ? files.get(`blobs/${match[1] ?? ''}/${match[2] ?? ''}`) : undefined;
      return data ? record(JSON.parse(data.toString('utf8'))) : undefined;
    };
    const index = record(JSON.parse(indexRaw.toString('utf8')));
    const manifests = Array.isArray(index?.['manifests']) ? (index?.['manifests'] as unknown[]) : [];
    const manifest = blob(record(manifests[0])?.['digest']);
    const config = record(blob(record(manifest?.['config'])?.['digest'])?.['config']) ?? {};
    // pve-container joins the first word with the others each wrapped in double quotes.
    const [first, ...rest] = [...strings(config['Entrypoint']), ...strings(config['Cmd'])];
    const command = first === undefined ? '' : [first, ...rest.map((arg) => `"${arg}"`)].join(' ');
    const layers = Array.isArray(manifest?.['layers']) ? (manifest?.['layers'] as unknown[]).length : 0;
    return {
      ...(command !== '' && command !== '/sbin/init' ? { entrypoint: command } : {}),
      env: strings(config['Env']),
      layers,
    };
  } catch {
    return undefined;
  }
}
