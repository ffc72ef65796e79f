/**
 * Maps whatever a socket library threw into the library's error model.
 *
 * @module
 */
import { AbortedError, ProxmoxNetworkError, isLxcriError, type LxcriError } from '../../errors.js';
import { isTlsTrustCode } from './tls.js';
import { redactString } from '../../redact.js';

function* causes(error: unknown): Generator<unknown> {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    yield current;
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
}

/** The first `code` string found along the cause chain (`ECONNRESET`, `DEPTH_ZERO_SELF_SIGNED_CERT`, …). */
function networkCode(error: unknown): string | undefined {
  for (const c of causes(error)) {
    const code = typeof c === 'object' && c !== null ? (c as { code?: unknown }).code : undefined;
    if (typeof code === 'string' && code !== 'ERR_NETWORK' && code !== 'ERR_BAD_RESPONSE' && !code.startsWith('ERR_PVE')) return code;
  }
  return undefined;
}

/**
 * Turns a low-level failure into {@link AbortedError} (signal fired) or
 * {@link ProxmoxNetworkError} (no HTTP answer); passes library errors (e.g. a pin mismatch) through.
 */
export function toTransportError(error: unknown, method: string, url: string, signal: AbortSignal): LxcriError {
  const path = safePath(url);
  for (const c of causes(error)) if (isLxcriError(c)) return c;
  if (signal.aborted) {
    return new AbortedError(`${method} ${path} aborted`, { method, path }, { cause: sanitizeCause(signal.reason) ?? signal.reason });
  }
  const code = networkCode(error);
  const trust = isTlsTrustCode(code);
  const innermost = [...causes(error)].pop();
  const detail = innermost instanceof Error ? innermost.message : String(innermost);
  const message = trust
    ? `${method} ${path}: TLS certificate not trusted (${code}); pass tls.ca or tls.fingerprint256 (insecure only for tests)`
    : `${method} ${path}: connection failed (${code ?? detail})`;
  return new ProxmoxNetworkError(message, { method, path, reason: code ?? detail, retryable: !trust }, { cause: sanitizeCause(error) });
}

/**
 * Rebuilds a cause chain as plain Errors with only name, message and code. HTTP libraries hang
 * the request (with its Authorization header) on their errors — axios' `config` — so the raw
 * error must never become a `cause` that `util.inspect` would print.
 */
export function sanitizeCause(error: unknown): Error | undefined {
  const chain = [...causes(error)].filter((c): c is Error => c instanceof Error).slice(0, 4);
  let out: Error | undefined;
  for (const c of chain.reverse()) {
    const copy = new Error(redactString(c.message), out ? { cause: out } : undefined);
    copy.name = c.name;
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string') (copy as Error & { code?: string }).code = code;
    copy.stack = `${copy.name}: ${copy.message}`;
    out = copy;
  }
  return out;
}

/** The path part of a URL (no host, no query): the only part of a URL that goes into errors. */
function safePath(url: string): string {
  try {
    return new URL(url).pathname.replace(/^\/api2\/json(?=\/)/, '');
  } catch {
    return url.split('?')[0] ?? url;
  }
}
