/**
 * The one redaction helper that every error and log path goes through.
 *
 * Two mechanisms work together:
 * - **by key**: every object property whose name looks like a credential (`password`, `secret`,
 *   `token`, `ticket`, `cookie`, `authorization`, `csrf…`, `otp`, …) has its value replaced;
 * - **by value**: known secret strings (registered by the component that holds them, e.g. the
 *   Proxmox client registers its token secret, password and current ticket) and the recognisable
 *   shapes of Proxmox credentials (`PVEAPIToken=…=SECRET`, `PVE:user@realm:…` tickets,
 *   `PVEAuthCookie=…`, `password=…` in form bodies) are cut out of every string.
 *
 * @module
 */

/** The text that replaces a secret. */
export const REDACTED = '[REDACTED]';

const SECRET_KEY =
  /^(?:.*[-_.]?)?(?:password|passwd|passphrase|secret|token|ticket|cookie|authorization|csrf\w*|otp|tfa-challenge|private[-_]?key|api[-_]?key|credentials?)$/i;

/** Keys that look sensitive but are not (identifiers, not credentials). */
const NOT_SECRET_KEY = /^(?:token-?id|tokenid|tokenId|username|user|userid|realm)$/i;

/** Returns true when an object key names a credential whose value must never be shown. */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key) && !NOT_SECRET_KEY.test(key);
}

const PATTERNS: readonly [RegExp, string][] = [
  // Authorization: PVEAPIToken=user@realm!id=SECRET  (also the older ':' separator)
  [/(PVEAPIToken[= ][^=:\s]+[=:])[^\s,;"'&]+/gi, `$1${REDACTED}`],
  // PVE tickets: PVE:user@realm:HEX::signature  and PVEVNC tickets
  [/\bPVE(?:VNC)?:[^\s:;"']+:[0-9A-F]{8}::[A-Za-z0-9+/=]+/g, REDACTED],
  // half tickets during TFA: PVE:!tfa!...
  [/\bPVE:!tfa![^\s;"'&]+/g, REDACTED],
  // Cookie headers and form fields carrying credentials
  [/(PVEAuthCookie=)[^\s;,"'&]+/gi, `$1${REDACTED}`],
  [/(CSRFPreventionToken[=:]\s*)[^\s;,"'&]+/gi, `$1${REDACTED}`],
  [/((?:^|[?&;\s])(?:password|new-password|tfa-challenge|secret|token)=)[^&;\s"']*/gi, `$1${REDACTED}`],
];

/**
 * Cuts secrets out of a string: every registered secret value, then every known credential shape.
 * Secrets shorter than 4 characters are not scrubbed by value (they would destroy ordinary text);
 * keep such values out of messages by key instead.
 */
export function redactString(text: string, secrets: Iterable<string> = []): string {
  let out = text;
  for (const secret of secrets) {
    if (secret.length >= 4 && out.includes(secret)) out = out.split(secret).join(REDACTED);
  }
  for (const [pattern, replacement] of PATTERNS) out = out.replace(pattern, replacement);
  return out;
}

/**
 * Returns a deep copy of `value` with secret-named keys replaced and every string scrubbed by
 * {@link redactString}. Cycles are cut, functions dropped, Errors reduced to name/code/message.
 * The input is never mutated.
 */
export function redact<T>(value: T, secrets: Iterable<string> = []): T {
  const list = [...secrets];
  const seen = new WeakSet<object>();
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return redactString(v, list);
    if (v === null || typeof v !== 'object') return typeof v === 'function' ? undefined : v;
    if (depth > 12 || seen.has(v)) return '[Circular]';
    seen.add(v);
    if (v instanceof Error) {
      const code = (v as { code?: unknown }).code;
      return {
        name: v.name,
        ...(typeof code === 'string' ? { code } : {}),
        message: redactString(v.message, list),
      };
    }
    if (Array.isArray(v)) return v.map((item) => walk(item, depth + 1));
    if (v instanceof Date) return new Date(v.getTime());
    if (ArrayBuffer.isView(v)) return `[${v.constructor.name} ${v.byteLength} bytes]`;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(v)) {
      out[key] = isSecretKey(key) && inner !== undefined && inner !== null && inner !== '' ? REDACTED : walk(inner, depth + 1);
    }
    return out;
  };
  return walk(value, 0) as T;
}
