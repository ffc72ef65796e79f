/**
 * A streamed `multipart/form-data` body for `POST …/storage/{storage}/upload`, with its exact
 * length computed up front (pveproxy refuses uploads without `Content-Length`). Text fields come
 * first in the order pveproxy's sequential parser expects (`content`, `checksum-algorithm`,
 * `checksum`), then the file part named `filename`. Nothing is buffered beyond one chunk.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { InvalidArgumentError } from '../../errors.js';
import type { StreamBody } from './types.js';

/** Progress of an upload. */
export interface UploadProgress {
  /** File bytes sent so far. */
  bytesDone: number;
  /** File size. */
  bytesTotal: number;
}

/** Input of {@link buildMultipartBody}. */
export interface MultipartInput {
  /** Text fields, sent in this order before the file. */
  fields: readonly (readonly [string, string])[];
  /** Field name of the file part. */
  fileField: string;
  /** `filename="…"` of the file part. */
  filename: string;
  /** The file bytes. */
  file: AsyncIterable<Uint8Array | string>;
  /** Exact file size in bytes. */
  size: number;
  /** Called as file bytes are handed to the socket. */
  onProgress?: (progress: UploadProgress) => void;
}

function headerSafe(value: string): string {
  return value.replace(/["\r\n\\]/g, '_');
}

/** Builds a streamed multipart body and its content type. */
export function buildMultipartBody(input: MultipartInput): { body: StreamBody; contentType: string } {
  const boundary = `----proxmox-lxcri-${randomBytes(16).toString('hex')}`;
  let head = '';
  for (const [name, value] of input.fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${headerSafe(name)}"\r\n\r\n${value}\r\n`;
  }
  head +=
    `--${boundary}\r\nContent-Disposition: form-data; name="${headerSafe(input.fileField)}"; filename="${headerSafe(input.filename)}"\r\n` +
    'Content-Type: application/octet-stream\r\n\r\n';
  const headBytes = Buffer.from(head, 'utf8');
  const tailBytes = Buffer.from(`\r\n--${boundary}--\r\n`, 'utf8');
  const { size, onProgress, file, filename } = input;
  async function* generate(): AsyncGenerator<Buffer> {
    yield headBytes;
    let done = 0;
    onProgress?.({ bytesDone: 0, bytesTotal: size });
    for await (const chunk of file) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      done += buffer.length;
      if (done > size) {
        throw InvalidArgumentError.forField('size', `${filename} yielded more than the declared ${size} bytes`);
      }
      yield buffer;
      onProgress?.({ bytesDone: done, bytesTotal: size });
    }
    if (done !== size) {
      throw InvalidArgumentError.forField('size', `${filename} yielded ${done} bytes, declared ${size}`);
    }
    yield tailBytes;
  }
  return {
    body: { stream: Readable.from(generate(), { objectMode: false }), length: headBytes.length + size + tailBytes.length },
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}
