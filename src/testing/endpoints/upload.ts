/**
 * `POST /nodes/{node}/storage/{storage}/upload`: pveproxy's multipart handling (streamed to a
 * temporary file, never buffered whole) and the `imgcopy` worker of pve-storage.
 *
 * pveproxy's parser is sequential: it takes the text fields `content`, `checksum-algorithm` and
 * `checksum` only in that order and only before the file part, which must be named `filename`;
 * everything after the file part up to the closing boundary is file data.
 *
 * @module
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { basename, join } from 'node:path';
import { PveApiError, handlerError, paramError } from '../api-error.js';
import { ENDPOINT_RULES, type EndpointRules } from '../param-rules.js';
import { validateParams, type RawParamValue } from '../validate-params.js';
import { nodeOrDie, requirePrivilege, storageOrDie } from './checks.js';
import type { EndpointCall, EndpointResult } from './types.js';

const UPLOAD_RULES = (ENDPOINT_RULES.find((r) => r.path === '/nodes/{node}/storage/{storage}/upload') as EndpointRules).params;
const TEXT_FIELDS = ['content', 'checksum-algorithm', 'checksum'] as const;

/** The result of reading a multipart upload body. */
interface ReceivedUpload {
  fields: Record<string, string>;
  filename: string;
  tmpPath: string;
  size: number;
  md5: string;
}

function wireError(message: string): PveApiError {
  return new PveApiError(501, `${message}\n`);
}

/**
 * Streams a multipart body: text fields into memory, the file part into `tmpPath`.
 * Throws pveproxy's 501 texts for malformed uploads.
 */
async function receiveMultipart(body: AsyncIterable<Uint8Array>, boundary: string, tmpPath: string): Promise<ReceivedUpload> {
  const delim = Buffer.from(`--${boundary}`);
  const closeDelim = Buffer.from(`--${boundary}--`);
  let buf = Buffer.alloc(0);
  const st: { phase: 'preamble' | 'part' | 'file' | 'done' } = { phase: 'preamble' };
  const fields: Record<string, string> = {};
  let nextField = 0;
  let filename = '';
  let out: WriteStream | undefined;
  let size = 0;
  const md5 = createHash('md5');

  const write = async (data: Buffer): Promise<void> => {
    if (data.length === 0 || !out) return;
    size += data.length;
    md5.update(data);
    if (!out.write(data)) await once(out, 'drain');
  };

  /** Tries to consume one step from `buf`; returns false when more data is needed. */
  const step = async (final: boolean): Promise<boolean> => {
    if (st.phase === 'preamble') {
      const at = buf.indexOf(delim);
      if (at < 0) return false;
      buf = buf.subarray(at);
      st.phase = 'part';
      return true;
    }
    if (st.phase === 'part') {
      // buf starts with --boundary CRLF, then headers, blank line, data.
      const headerEnd = buf.indexOf('\r\n\r\n');
      if (headerEnd < 0) return false;
      const head = buf.subarray(0, headerEnd).toString('utf8');
      const lines = head.split(/\r?\n/);
      if (lines[0] !== `--${boundary}`) throw wireError('upload failed');
      const disposition = lines.map((l) => /^Content-Disposition: (.*)$/.exec(l)).find((m) => m)?.[1] ?? '';
      const parts = /^(.*?); name="(.*?)"(?:; filename="([^"]+)")?$/.exec(disposition);
      if (!parts) throw wireError('upload failed');
      const [, type = '', name = '', file] = parts;
      if (file === undefined) {
        const index = TEXT_FIELDS.indexOf(name as (typeof TEXT_FIELDS)[number]);
        if (index < nextField || index < 0) {
          // pveproxy's sequential regexes do not find the field, and the file regex swallows it.
          throw wireError(`wrong Content-Disposition '${disposition}' in multipart, expected 'form-data'`);
        }
        const valueStart = headerEnd + 4;
        const end = buf.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), valueStart);
        if (end < 0) {
          if (buf.length > 64 * 1024) throw wireError('upload failed');
          return false;
        }
        if (type !== 'form-data') throw wireError(`wrong Content-Disposition '${type}' in multipart, expected 'form-data'`);
        fields[name] = buf.subarray(valueStart, end).toString('utf8').trim();
        nextField = index + 1;
        buf = buf.subarray(end + 2);
        return true;
      }
      if (type !== 'form-data') throw wireError(`wrong Content-Disposition '${type}' in multipart, expected 'form-data'`);
      if (name !== 'filename') throw wireError(`wrong field name '${name}' for file upload, expected 'filename'`);
      filename = file.trim();
      out = createWriteStream(tmpPath, { flags: 'wx', mode: 0o600 });
      await once(out, 'open');
      buf = buf.subarray(headerEnd + 4);
      st.phase = 'file';
      return true;
    }
    if (st.phase === 'file') {
      const at = buf.indexOf(closeDelim);
      if (at >= 0) {
        let end = at;
        if (end >= 2 && buf[end - 2] === 0x0d && buf[end - 1] === 0x0a) end -= 2;
        else if (end >= 1 && buf[end - 1] === 0x0a) end -= 1;
        await write(buf.subarray(0, end));
        buf = Buffer.alloc(0);
        st.phase = 'done';
        return true;
      }
      const keep = closeDelim.length + 2;
      if (buf.length > keep) {
        await write(buf.subarray(0, buf.length - keep));
        buf = buf.subarray(buf.length - keep);
      }
      return false;
    }
    void final;
    return false;
  };

  const isDone = (): boolean => st.phase === 'done';
  const iterator = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      if (isDone()) continue;
      const chunk = next.value;
      buf = buf.length === 0 ? Buffer.from(chunk) : Buffer.concat([buf, chunk]);
      while (!isDone() && (await step(false)));
    }
    while (!isDone() && (await step(true)));
    if (!isDone()) throw wireError('upload failed');
    if (out) {
      out.end();
      await once(out, 'finish');
    }
  } catch (error) {
    out?.destroy();
    await rm(tmpPath, { force: true });
    // Read the rest (discarding) so that the sender gets the answer instead of a stalled upload.
    try {
      for (let next = await iterator.next(); !next.done; next = await iterator.next());
    } catch {
      // the sender went away
    }
    throw error;
  }
  return { fields, filename, tmpPath, size, md5: md5.digest('hex') };
}

/** pve-storage's `normalize_content_filename`: basename, then anything outside `[a-zA-Z0-9_.-]` becomes `_`. */
export function normalizeUploadFilename(name: string): string {
  return basename(name.replace(/\\/g, '/')).replace(/[^a-zA-Z0-9_.-]/g, '_');
}

/** `POST /nodes/{node}/storage/{storage}/upload`. */
export async function handleUpload(call: EndpointCall): Promise<EndpointResult> {
  const { state, raw, auth, upload } = call;
  if (!upload) throw handlerError('upload without body');
  const contentType = upload.headers['content-type'] ?? '';
  const [ct, ...ctParams] = contentType.split(/\s*[;,]\s*/);
  const boundary = ctParams.map((p) => /^\s*boundary\s*=\s*(\S+?)\s*$/.exec(p)?.[1]).find((b) => b !== undefined)?.replace(/^"(.*)"$/, '$1');
  if (!boundary || ct !== 'multipart/form-data') throw new PveApiError(506, `upload 'Content-Type '${contentType}' not implemented\n`);
  if (!upload.headers['content-length']) throw wireError('upload without content length header not supported');
  if (raw['tmpfilename'] !== undefined) throw paramError({ tmpfilename: 'parameter is set by the server and must not be given' });
  if (!upload.body) throw wireError('upload failed');

  await mkdir(join(state.dataDir, 'tmp'), { recursive: true });
  const tmpPath = join(state.dataDir, 'tmp', `pveupload-${randomBytes(16).toString('hex')}`);
  const received = await receiveMultipart(upload.body, boundary, tmpPath);
  upload.logFields({ ...received.fields, ...(received.filename ? { filename: received.filename } : {}), size: received.size });
  let handedOver = false;
  try {
    const params: Record<string, RawParamValue> = { ...raw, ...received.fields, filename: received.filename || undefined };
    if (received.filename === '') delete params['filename'];
    const { values, errors } = validateParams(UPLOAD_RULES, params, state.version);
    if (Object.keys(errors).length > 0) throw paramError(errors);

    const node = String(values['node']);
    nodeOrDie(state, node);
    const storage = storageOrDie(state, String(values['storage']));
    requirePrivilege(state, auth, `/storage/${storage.id}`, 'Datastore.AllocateTemplate');
    const content = String(values['content']);
    if (!['dir', 'nfs', 'cifs'].includes(storage.type)) throw handlerError(`can't upload to storage type '${storage.type}'`);
    if (!storage.content.includes(content)) throw handlerError(`storage '${storage.id}' does not support '${content}' content`);
    const filename = normalizeUploadFilename(String(values['filename']));
    const extension =
      content === 'vztmpl'
        ? state.version === '8.4'
          ? /\.(tar\.(gz|xz|zst|bz2))$/i
          : /\.(tar|tar\.(gz|xz|zst|bz2))$/i
        : content === 'iso'
          ? /\.(iso|img)$/i
          : /\.(ova|ovf|qcow2|raw|vmdk)$/i;
    if (!extension.test(filename)) throw paramError({ filename: 'wrong file extension' });
    const sub = content === 'vztmpl' ? 'template/cache' : content === 'iso' ? 'template/iso' : 'import';
    const target = join(state.storagePath(node, storage.id), sub, filename);
    const algorithm = values['checksum-algorithm'] as string | undefined;
    const expected = values['checksum'] as string | undefined;

    handedOver = true;
    const task = state.startTask(node, 'imgcopy', '', auth.authId, async (ctx) => {
      try {
        ctx.log(`starting file import from: ${received.tmpPath}`);
        if (algorithm && expected !== undefined) {
          ctx.log(`validating checksum...`);
          const hash: Hash = createHash(algorithm);
          for await (const chunk of createReadStream(received.tmpPath)) hash.update(chunk as Buffer);
          const got = hash.digest('hex');
          if (got !== expected.toLowerCase()) throw new Error(`checksum mismatch: got '${got}' != expect '${expected}'`);
          ctx.log(`calculated checksum: ${got}`);
        }
        ctx.log(`target node: ${node}`);
        ctx.log(`target file: ${target}`);
        ctx.log(`file size is: ${received.size}`);
        await ctx.wait();
        ctx.log(`command: cp -- ${received.tmpPath} ${target}`);
        await rename(received.tmpPath, target);
        const info = await stat(target);
        ctx.log(`finished file import successfully (${info.size} bytes)`);
      } finally {
        await rm(received.tmpPath, { force: true });
      }
    });
    return { data: task.upid, upid: task.upid };
  } finally {
    if (!handedOver) await rm(received.tmpPath, { force: true });
  }
}
