/**
 * A small promise API over tar-stream's pack: entries are written one after the other, file data
 * is streamed with back-pressure, and PAX records (long or non-ASCII names, large ids, binary
 * xattrs) are written as raw bytes (tar-stream's own PAX encoder would UTF-8-mangle binary
 * xattr values such as `security.capability`).
 *
 * @module
 */
import { createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

type Headers = Parameters<tar.Pack['entry']>[0];
type Sink = ReturnType<tar.Pack['entry']>;
import { throwIfAborted } from '../../errors.js';

/** One entry to write. */
export interface TarEntry {
  name: string;
  type: 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
  size?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extended attributes (`SCHILY.xattr.<name>` PAX records). */
  xattrs?: ReadonlyMap<string, Buffer>;
}

/** tar-stream writes ids as 6 octal digits. */
const MAX_OCTAL_ID = 0o777777;

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'utf8'), value, Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length), 'ascii'), body]);
}

const fitsUstarName = (name: string): boolean => {
  if (!/^[\x20-\x7e]*$/.test(name)) return false;
  if (name.length <= 100) return true;
  // ustar prefix split at a slash: prefix ≤ 155, rest ≤ 100
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    if (i <= 155 && name.length - i - 1 <= 100) return true;
  }
  return false;
};

/** The 512-byte ustar header of a PAX extended header (typeflag `x`) of `size` bytes. */
function paxHeaderBlock(name: string, size: number, mtime: Date): Buffer {
  const block = Buffer.alloc(512);
  const octal = (value: number, width: number): string => `${value.toString(8).padStart(width - 1, '0')}\0`;
  block.write(name, 0, 100, 'ascii');
  block.write(octal(0o644, 8), 100, 'ascii');
  block.write(octal(0, 8), 108, 'ascii');
  block.write(octal(0, 8), 116, 'ascii');
  block.write(octal(size, 12), 124, 'ascii');
  block.write(octal(Math.max(0, Math.floor(mtime.getTime() / 1000)), 12), 136, 'ascii');
  block.write('        ', 148, 'ascii');
  block.write('x', 156, 'ascii');
  block.write('ustar\0', 257, 'ascii');
  block.write('00', 263, 'ascii');
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return block;
}

/** A tar archive being written to a file (optionally gzip-compressed). */
export class TarFileWriter {
  readonly #pack = tar.pack();
  readonly #done: Promise<void>;
  readonly #signal: AbortSignal | undefined;
  #paxCount = 0;
  /** Compressed/plain bytes written to the file so far. */
  #out: ReturnType<typeof createWriteStream>;

  constructor(path: string, options: { gzipLevel?: number | undefined; signal?: AbortSignal | undefined } = {}) {
    this.#signal = options.signal;
    this.#out = createWriteStream(path, { mode: 0o600 });
    const stages = options.gzipLevel ? [createGzip({ level: options.gzipLevel, chunkSize: 1 << 16 })] : [];
    this.#done = (pipeline as (...args: unknown[]) => Promise<void>)(this.#pack, ...stages, this.#out, ...(options.signal ? [{ signal: options.signal }] : []));
    this.#done.catch(() => undefined);
  }

  /** Bytes written to the file. */
  get bytesWritten(): number {
    return this.#out.bytesWritten;
  }

  /** Writes an entry; `data` is the content of a regular file (exactly `entry.size` bytes). */
  async add(entry: TarEntry, data?: Buffer | AsyncIterable<Buffer>): Promise<void> {
    throwIfAborted(this.#signal, 'writing the template');
    const records: Buffer[] = [];
    let name = entry.name;
    let linkname = entry.linkname;
    if (!fitsUstarName(name)) {
      records.push(paxRecord('path', Buffer.from(name, 'utf8')));
      name = `PaxHeaders/placeholder-${this.#paxCount}`;
    }
    if (linkname !== undefined && (!/^[\x20-\x7e]*$/.test(linkname) || linkname.length > 100)) {
      records.push(paxRecord('linkpath', Buffer.from(linkname, 'utf8')));
      linkname = 'PaxHeaders/placeholder-link';
    }
    let uid = entry.uid;
    let gid = entry.gid;
    if (uid > MAX_OCTAL_ID) {
      records.push(paxRecord('uid', Buffer.from(String(uid))));
      uid = 0;
    }
    if (gid > MAX_OCTAL_ID) {
      records.push(paxRecord('gid', Buffer.from(String(gid))));
      gid = 0;
    }
    for (const [key, value] of entry.xattrs ?? []) records.push(paxRecord(`SCHILY.xattr.${key}`, value));
    if (records.length > 0) {
      const body = Buffer.concat(records);
      // tar-stream refuses a body on its 'pax-header' type: the previous entry is complete (awaited),
      // so the PAX header block and its records are pushed into the archive as they are
      const block = paxHeaderBlock(`PaxHeaders/${this.#paxCount++}`, body.length, entry.mtime);
      this.#pack.push(Buffer.concat([block, body, Buffer.alloc((512 - (body.length % 512)) % 512)]));
    }
    const header: Headers = {
      name: entry.type === 'directory' && !name.endsWith('/') ? `${name}/` : name,
      type: entry.type,
      mode: entry.mode & 0o7777,
      uid,
      gid,
      mtime: entry.mtime,
      size: entry.type === 'file' ? (entry.size ?? 0) : 0,
      ...(linkname === undefined ? {} : { linkname }),
      ...(entry.devmajor === undefined ? {} : { devmajor: entry.devmajor }),
      ...(entry.devminor === undefined ? {} : { devminor: entry.devminor }),
    };
    if (entry.type !== 'file' || data === undefined || Buffer.isBuffer(data)) {
      await this.#entry(header, entry.type === 'file' ? (Buffer.isBuffer(data) ? data : Buffer.alloc(0)) : undefined);
      return;
    }
    await this.#stream(header, data);
  }

  #entry(header: Headers, data: Buffer | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const done = (error?: Error | null): void => (error ? reject(error) : resolve());
      if (data) this.#pack.entry(header, data, done);
      else this.#pack.entry(header, done);
    });
  }

  async #stream(header: Headers, data: AsyncIterable<Buffer>): Promise<void> {
    let sink!: Sink;
    const finished = new Promise<void>((resolve, reject) => {
      sink = this.#pack.entry(header, (error?: Error | null) => (error ? reject(error) : resolve()));
    });
    let written = 0;
    try {
      for await (const chunk of data) {
        written += chunk.length;
        if (written > (header.size ?? 0)) throw new Error(`${header.name} grew while it was being archived`);
        if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
      }
      if (written !== header.size) throw new Error(`${header.name} changed size while it was being archived (${written} of ${header.size ?? 0} bytes)`);
      (sink as unknown as { end(): void }).end();
    } catch (error) {
      sink.destroy(error as Error);
      await finished.catch(() => undefined);
      throw error;
    }
    await finished;
  }

  /** Ends the archive and waits until the file is complete. */
  async finish(): Promise<void> {
    this.#pack.finalize();
    await this.#done;
  }

  /** Abandons the archive (the caller removes the file). */
  async abort(error: Error): Promise<void> {
    this.#pack.destroy(error);
    await this.#done.catch(() => undefined);
  }
}
