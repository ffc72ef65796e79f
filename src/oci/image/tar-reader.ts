/**
 * A push-based, zero-copy tar parser (ustar, GNU long names, PAX).
 *
 * Why not tar-stream here: tar-stream decodes PAX values as UTF-8 text (binary `SCHILY.xattr.*`
 * values such as `security.capability` would be corrupted) and ignores PAX `uid`, `gid` and
 * `mtime`. This parser keeps PAX values as bytes, handles those keys, and hands file content to a
 * synchronous handler as slices of the incoming chunks, so a layer is never buffered whole.
 * (tar-stream is still what the tests use to *write* archives.)
 *
 * @module
 */
import { LayerExtractionError } from '../../errors.js';

/** Entry types a layer may contain. */
export type TarEntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** One tar entry's header, after PAX and GNU long-name records were applied. */
export interface TarEntryHeader {
  /** The path as stored (not cleaned). */
  name: string;
  type: TarEntryType;
  /** Permission bits incl. setuid/setgid/sticky (`& 0o7777`). */
  mode: number;
  uid: number;
  gid: number;
  /** Content size (files only; 0 for the others). */
  size: number;
  /** Modification time, seconds since the epoch (may be fractional). */
  mtime: number;
  /** Link target (symlink and hardlink). */
  linkname: string;
  devmajor: number;
  devminor: number;
  /** Extended attributes from PAX `SCHILY.xattr.*`, values as bytes. */
  xattrs: Map<string, Buffer>;
}

/** What the parser calls. All synchronous: the caller controls the flow chunk by chunk. */
export interface TarHandler {
  /** A new entry begins; for files, `data` calls follow with exactly `size` bytes. */
  entry(header: TarEntryHeader): void;
  /** A piece of the current file's content (a view into the pushed chunk: copy to keep it). */
  data(chunk: Buffer): void;
  /** The current entry is complete. */
  end(): void;
}

/** Limits of the parser. */
export interface TarReaderLimits {
  /** Largest PAX or GNU long-name record, in bytes. */
  maxMetaBytes: number;
}

const BLOCK = 512;
const utf8 = new TextDecoder('utf-8', { fatal: true });

function cString(buf: Buffer, start: number, length: number): Buffer {
  const end = buf.indexOf(0, start);
  return buf.subarray(start, end === -1 || end > start + length ? start + length : end);
}

function decodeName(bytes: Buffer, field: string): string {
  try {
    return utf8.decode(bytes);
  } catch (error) {
    throw new LayerExtractionError(`tar ${field} is not valid UTF-8 (non-UTF-8 names are not supported)`, { reason: 'invalid name encoding' }, { cause: error });
  }
}

function parseNumber(buf: Buffer, start: number, length: number, field: string): number {
  const first = buf[start] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw new LayerExtractionError(`tar header ${field} is negative`, { reason: 'invalid header' });
    let value = first & 0x7f;
    for (let i = start + 1; i < start + length; i++) {
      value = value * 256 + (buf[i] ?? 0);
      if (value > Number.MAX_SAFE_INTEGER) throw new LayerExtractionError(`tar header ${field} is too large`, { reason: 'invalid header' });
    }
    return value;
  }
  let value = 0;
  let seen = false;
  for (let i = start; i < start + length; i++) {
    const c = buf[i] ?? 0;
    if (c === 0 || c === 0x20) {
      if (seen) break;
      continue;
    }
    if (c < 0x30 || c > 0x37) throw new LayerExtractionError(`tar header ${field} is not an octal number`, { reason: 'invalid header' });
    seen = true;
    value = value * 8 + (c - 0x30);
  }
  return value;
}

function checksumOk(block: Buffer): boolean {
  const stored = parseNumber(block, 148, 8, 'checksum');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] as number);
  return sum === stored;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** Parses PAX records (`len key=value\n`); values stay bytes. */
function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break;
    const space = buf.indexOf(0x20, pos);
    if (space === -1) throw new LayerExtractionError('malformed PAX record', { reason: 'invalid header' });
    const len = Number.parseInt(buf.toString('latin1', pos, space), 10);
    if (!Number.isSafeInteger(len) || len <= space - pos || pos + len > buf.length || buf[pos + len - 1] !== 0x0a) {
      throw new LayerExtractionError('malformed PAX record length', { reason: 'invalid header' });
    }
    const record = buf.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new LayerExtractionError('malformed PAX record (no =)', { reason: 'invalid header' });
    out.set(decodeName(record.subarray(0, eq), 'PAX key'), Buffer.from(record.subarray(eq + 1)));
    pos += len;
  }
  return out;
}

const TYPES: Readonly<Record<string, TarEntryType>> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file',
  '1': 'link',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'dir',
  '6': 'fifo',
};

type State = 'header' | 'data' | 'skip' | 'meta' | 'end';

/**
 * Streaming tar parser. Call {@link TarParser.push} with each chunk, then {@link TarParser.finish}.
 * Throws `LayerExtractionError` for malformed archives (bad checksum, unknown or sparse types,
 * truncated data).
 */
export class TarParser {
  readonly #handler: TarHandler;
  readonly #limits: TarReaderLimits;
  #state: State = 'header';
  #carry: Buffer | undefined;
  #remaining = 0;
  #padding = 0;
  #metaKind: 'pax' | 'global' | 'longname' | 'longlink' = 'pax';
  #metaParts: Buffer[] = [];
  #pax: Map<string, Buffer> | undefined;
  #longName: Buffer | undefined;
  #longLink: Buffer | undefined;
  #inFile = false;
  /** Entries seen so far. */
  entries = 0;
  /** Bytes consumed so far (of the uncompressed archive). */
  bytes = 0;

  constructor(handler: TarHandler, limits: TarReaderLimits = { maxMetaBytes: 1024 * 1024 }) {
    this.#handler = handler;
    this.#limits = limits;
  }

  /** True once the end-of-archive marker was read. */
  get ended(): boolean {
    return this.#state === 'end';
  }

  /** Feeds the next chunk of the uncompressed archive. */
  push(input: Buffer): void {
    this.bytes += input.length;
    const chunk = input;
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.#state) {
        case 'end':
          return; // trailing bytes after the end marker are drained (and still hashed by the caller)
        case 'header': {
          let block: Buffer;
          if (this.#carry !== undefined) {
            const need = BLOCK - this.#carry.length;
            const take = chunk.subarray(pos, pos + need);
            this.#carry = Buffer.concat([this.#carry, take]);
            pos += take.length;
            if (this.#carry.length < BLOCK) return;
            block = this.#carry;
            this.#carry = undefined;
          } else if (chunk.length - pos < BLOCK) {
            this.#carry = Buffer.from(chunk.subarray(pos));
            return;
          } else {
            block = chunk.subarray(pos, pos + BLOCK);
            pos += BLOCK;
          }
          this.#onHeader(block);
          break;
        }
        case 'data':
        case 'skip':
        case 'meta': {
          if (this.#remaining > 0) {
            const take = Math.min(this.#remaining, chunk.length - pos);
            const piece = chunk.subarray(pos, pos + take);
            pos += take;
            this.#remaining -= take;
            if (this.#state === 'data') this.#handler.data(piece);
            else if (this.#state === 'meta') this.#metaParts.push(Buffer.from(piece));
            if (this.#remaining > 0) return;
          }
          if (this.#padding > 0) {
            const take = Math.min(this.#padding, chunk.length - pos);
            pos += take;
            this.#padding -= take;
            if (this.#padding > 0) return;
          }
          this.#finishBody();
          break;
        }
      }
    }
  }

  /**
   * Ends parsing. Throws when the archive stopped in the middle of an entry. A stream that ends
   * without the two zero blocks, or without the last entry's padding, but with complete content
   * is accepted (umoci and Go's archive/tar accept it too).
   */
  finish(): void {
    if (this.#state === 'end') return;
    // Content complete and only the padding missing (umoci insert writes such layers): accepted.
    if ((this.#state === 'data' || this.#state === 'skip') && this.#remaining === 0) this.#finishBody();
    if (this.#state !== 'header' || this.#carry !== undefined || this.#pax !== undefined || this.#longName !== undefined || this.#longLink !== undefined) {
      throw new LayerExtractionError('tar archive is truncated', { reason: 'truncated archive' });
    }
  }

  #finishBody(): void {
    if (this.#state === 'data' || this.#state === 'skip') {
      if (this.#inFile) {
        this.#inFile = false;
        this.#handler.end();
      }
    } else if (this.#state === 'meta') {
      const data = Buffer.concat(this.#metaParts);
      this.#metaParts = [];
      // a second PAX header replaces the first, as in Go's archive/tar (no merging of records)
      if (this.#metaKind === 'pax') this.#pax = parsePax(data);
      // global records are validated but, as in Go's archive/tar (umoci, containerd), not applied:
      // a global `path`, `size`, `uid` or xattr would otherwise rewrite every later entry
      else if (this.#metaKind === 'global') parsePax(data);
      else if (this.#metaKind === 'longname') this.#longName = cString(data, 0, data.length);
      else this.#longLink = cString(data, 0, data.length);
    }
    this.#state = 'header';
  }

  #onHeader(block: Buffer): void {
    if (isZeroBlock(block)) {
      this.#state = 'end';
      return;
    }
    if (!checksumOk(block)) throw new LayerExtractionError('tar header checksum mismatch (corrupt or not a tar archive)', { reason: 'invalid header' });
    const typeflag = String.fromCharCode(block[156] as number);
    const size = parseNumber(block, 124, 12, 'size');
    const padding = (BLOCK - (size % BLOCK)) % BLOCK;
    if (typeflag === 'x' || typeflag === 'g' || typeflag === 'L' || typeflag === 'K') {
      if (size > this.#limits.maxMetaBytes) throw new LayerExtractionError(`tar metadata record of ${size} bytes exceeds the limit`, { reason: 'limit exceeded' });
      this.#metaKind = typeflag === 'x' ? 'pax' : typeflag === 'g' ? 'global' : typeflag === 'L' ? 'longname' : 'longlink';
      this.#state = 'meta';
      this.#remaining = size;
      this.#padding = padding;
      if (size === 0) this.#finishBody();
      return;
    }
    let type = TYPES[typeflag];
    if (type === undefined) {
      const what = typeflag === 'S' ? 'GNU sparse files are not supported' : `unknown tar typeflag '${typeflag === '\0' ? '\\0' : typeflag}'`;
      throw new LayerExtractionError(what, { reason: 'unsupported entry type' });
    }
    const pax = this.#pax ?? new Map<string, Buffer>();
    for (const key of pax.keys()) {
      if (key.startsWith('GNU.sparse.')) throw new LayerExtractionError('GNU sparse files are not supported', { reason: 'unsupported entry type' });
    }
    const magic = block.toString('latin1', 257, 263);
    let nameBytes = cString(block, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = cString(block, 345, 155);
      if (prefix.length > 0) nameBytes = Buffer.concat([prefix, Buffer.from('/'), nameBytes]);
    }
    let name = this.#longName !== undefined ? decodeName(this.#longName, 'name') : decodeName(nameBytes, 'name');
    let linkname = this.#longLink !== undefined ? decodeName(this.#longLink, 'link name') : decodeName(cString(block, 157, 100), 'link name');
    const paxPath = pax.get('path');
    if (paxPath !== undefined) name = decodeName(paxPath, 'PAX path');
    // old-style (NUL) typeflag: a name ending in '/' is a directory, as Go's archive/tar reads it
    if (typeflag === '\0' && name.endsWith('/')) type = 'dir';
    const paxLink = pax.get('linkpath');
    if (paxLink !== undefined) linkname = decodeName(paxLink, 'PAX linkpath');
    const num = (key: string, fallback: number): number => {
      const v = pax.get(key);
      if (v === undefined) return fallback;
      const n = Number(v.toString('latin1'));
      if (!Number.isFinite(n) || n < 0 || n > Number.MAX_SAFE_INTEGER) throw new LayerExtractionError(`PAX ${key} is not a valid number`, { entry: name, reason: 'invalid header' });
      return n;
    };
    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of pax) {
      if (key.startsWith('SCHILY.xattr.')) xattrs.set(key.slice('SCHILY.xattr.'.length), value);
    }
    // as in Go's archive/tar (umoci, containerd): header-only types carry no data, whatever their
    // size field says; otherwise entries after them would be swallowed as their "data"
    const entrySize = type === 'file' ? num('size', size) : 0;
    const entryPadding = (BLOCK - (entrySize % BLOCK)) % BLOCK;
    const header: TarEntryHeader = {
      name,
      type,
      mode: parseNumber(block, 100, 8, 'mode') & 0o7777,
      uid: num('uid', parseNumber(block, 108, 8, 'uid')),
      gid: num('gid', parseNumber(block, 116, 8, 'gid')),
      size: type === 'file' ? entrySize : 0,
      mtime: num('mtime', parseNumber(block, 136, 12, 'mtime')),
      linkname,
      devmajor: type === 'char' || type === 'block' ? parseNumber(block, 329, 8, 'devmajor') : 0,
      devminor: type === 'char' || type === 'block' ? parseNumber(block, 337, 8, 'devminor') : 0,
      xattrs,
    };
    this.#pax = undefined;
    this.#longName = undefined;
    this.#longLink = undefined;
    this.entries++;
    this.#handler.entry(header);
    this.#inFile = true;
    this.#state = type === 'file' ? 'data' : 'skip';
    this.#remaining = entrySize;
    this.#padding = entryPadding;
    if (entrySize === 0 && entryPadding === 0) this.#finishBody();
  }
}
