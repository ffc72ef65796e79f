/**
 * Turns a PVE error answer into a {@link ProxmoxHttpError}: status, status text (PVE's message),
 * `body.message`, per-parameter `body.errors`, and the retry / VMID-conflict classification.
 *
 * @module
 */
import { ProxmoxHttpError } from '../../errors.js';
import type { TransportResponse } from './types.js';

/** Messages that mean "try again later" even on a 500. */
const RETRYABLE_TEXT = /got timeout|got no worker upid|starting worker failed|temporarily unavailable/i;
/** Messages that mean "the VMID is taken". */
const VMID_CONFLICT_TEXT = /\b(?:CT|VM) \d+ already exists|config file already exists|File exists/;
/** Messages that prove the server refused before doing anything (safe to re-send even a POST that is not idempotent). */
const NOT_EXECUTED_TEXT = /can't lock file .* got timeout/i;

/** Classification of a PVE error text. */
export interface PveErrorClassification {
  retryable: boolean;
  vmidConflict: boolean;
  notExecuted: boolean;
}

/** Classifies a status and the texts PVE sent (status line, body message, parameter errors). */
function classifyPveError(status: number, texts: readonly string[]): PveErrorClassification {
  const all = texts.join('\n');
  const transientStatus = (status >= 595 && status <= 599) || (status >= 502 && status <= 504) || status === 429;
  return {
    retryable: transientStatus || RETRYABLE_TEXT.test(all),
    vmidConflict: VMID_CONFLICT_TEXT.test(all),
    notExecuted: NOT_EXECUTED_TEXT.test(all),
  };
}

/** True when `contentType` is JSON (`application/json`, `…+json`), whatever its parameters. */
export function isJsonMediaType(contentType: string | undefined): boolean {
  if (!contentType) return false;
  const type = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
  return type === 'application/json' || /^application\/[\w.-]+\+json$/.test(type);
}

/** Parses a JSON body when the media type says JSON; `undefined` otherwise or when malformed. */
function parseJsonBody(response: TransportResponse): unknown {
  if (!isJsonMediaType(response.headers['content-type'])) return undefined;
  try {
    return JSON.parse(response.body) as unknown;
  } catch {
    return undefined;
  }
}

/** Builds the error for a non-2xx answer. `secrets` are scrubbed from every field. */
export function toHttpError(response: TransportResponse, method: string, path: string, secrets: Iterable<string>): ProxmoxHttpError {
  const body = parseJsonBody(response);
  let pveMessage: string | undefined;
  let errors: Record<string, string> | undefined;
  if (body !== null && typeof body === 'object') {
    const m = (body as { message?: unknown }).message;
    if (typeof m === 'string' && m.trim() !== '') pveMessage = m.trim();
    const e = (body as { errors?: unknown }).errors;
    if (e !== null && typeof e === 'object' && !Array.isArray(e)) {
      errors = {};
      for (const [k, v] of Object.entries(e as Record<string, unknown>)) errors[k] = typeof v === 'string' ? v.trim() : JSON.stringify(v);
    }
  } else if (!isJsonMediaType(response.headers['content-type']) && response.body.trim() !== '' && response.body.length < 2000) {
    pveMessage = response.body.trim();
  }
  const statusText = response.statusText.trim() || pveMessage?.split('\n')[0] || '';
  const c = classifyPveError(response.status, [statusText, pveMessage ?? '', ...Object.values(errors ?? {})]);
  return new ProxmoxHttpError(
    {
      status: response.status,
      statusText,
      method,
      path,
      ...(pveMessage === undefined ? {} : { pveMessage }),
      ...(errors === undefined ? {} : { errors }),
      retryable: c.retryable,
      ...(c.vmidConflict ? { vmidConflict: true } : {}),
      notExecuted: c.notExecuted,
    },
    { secrets },
  );
}
