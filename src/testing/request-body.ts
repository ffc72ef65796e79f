/**
 * Request bodies as pveproxy reads them: urlencoded (pairs split on `&` and `;`) or JSON, at most
 * 512 KiB, only for POST and PUT, with pveproxy's 501/506 texts for what it refuses.
 *
 * @module
 */
import { PveApiError } from './api-error.js';
import type { RawParamValue } from './validate-params.js';

/** PVE's limit on urlencoded/JSON bodies (`$limit_max_post`). */
export const MAX_POST_BYTES = 512 * 1024;

/** `decodeURIComponent`, or the text as it is when it does not decode. */
export function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Decodes an urlencoded body the way pveproxy does: pairs split on `&` and `;`, key and value on the first `=`. */
export function decodeUrlencoded(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(/[&;]/)) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    // Perl's split(/=/, $kv) keeps only the text up to a second '='.
    const rest = eq < 0 ? '' : pair.slice(eq + 1);
    const second = rest.indexOf('=');
    const rawValue = second < 0 ? rest : rest.slice(0, second);
    const decode = (s: string): string => {
      const plus = s.replace(/\+/g, ' ');
      try {
        return decodeURIComponent(plus);
      } catch {
        return plus;
      }
    };
    const key = decode(rawKey);
    const value = decode(rawValue);
    out[key] = out[key] === undefined ? value : `${out[key]}\0${value}`;
  }
  return out;
}

/** Reads a body up to `limit` bytes (`too-large` past it), always to the end so the sender is never left hanging. */
export async function readBody(body: AsyncIterable<Uint8Array> | null, limit: number): Promise<Buffer | 'too-large'> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit (discarding), so the sender is never left hanging.
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size <= limit) chunks.push(Buffer.from(chunk));
  }
  return size > limit ? 'too-large' : Buffer.concat(chunks);
}

/**
 * JSON::XS's text for a body `decode_json` refuses (without Perl's ` at FILE line N.` suffix):
 * `malformed JSON string, neither tag, array, object, number, string or atom, at character offset
 * N (before "…")`, or `unexpected end of string while parsing JSON string` style texts for
 * truncated input.
 */
function jsonXsError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const at = /position (\d+)/.exec(message);
  const token = /Unexpected token '(.)'/.exec(message)?.[1];
  const offset = at ? Number(at[1]) : /end of JSON/i.test(message) ? text.length : token !== undefined ? Math.max(0, text.indexOf(token)) : 0;
  const rest = text.slice(offset);
  const before = rest === '' ? '(end of string)' : rest.length > 24 ? `${rest.slice(0, 24)}...` : rest;
  if (rest === '' && offset > 0) return `unexpected end of string while parsing JSON string, at character offset ${offset} (before "${before}")`;
  return `malformed JSON string, neither tag, array, object, number, string or atom, at character offset ${offset} (before "${before}")`;
}

/** pveproxy's `extract_params` for a JSON body: `decode_json` inside an eval, every failure a 501. */
function decodeJsonBody(text: string): Record<string, RawParamValue> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PveApiError(501, `${jsonXsError(text, error)}\n`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const what = Array.isArray(parsed) ? 'Not a HASH reference' : `Can't use string ("${String(parsed).slice(0, 32)}") as a HASH ref while "strict refs" in use`;
    throw new PveApiError(501, `${what}\n`);
  }
  return parsed as Record<string, RawParamValue>;
}

/**
 * The parameters of an already read body: JSON or urlencoded by `content-type` (none means
 * urlencoded). pveproxy reads a body only for POST and PUT (pve-http-server AnyEvent.pm).
 * @throws PveApiError 501 for a body of another method or bad JSON, 506 for other content types
 */
export function decodeBodyParams(raw: Buffer, method: string, contentTypeHeader: string | undefined): Record<string, RawParamValue> {
  if (raw.length === 0) return {};
  if (method !== 'POST' && method !== 'PUT') throw new PveApiError(501, `Unexpected content for method '${method}'\n`);
  const contentType = (contentTypeHeader ?? '').toLowerCase();
  if (contentType.startsWith('application/json')) return decodeJsonBody(raw.toString('utf8'));
  if (contentType === '' || contentType.startsWith('application/x-www-form-urlencoded')) return decodeUrlencoded(raw.toString('utf8'));
  throw new PveApiError(506, `upload 'Content-Type '${contentTypeHeader ?? ''}' not implemented\n`);
}
