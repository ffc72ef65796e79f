/**
 * PVE parameter encoding: form-urlencoded with every value percent-encoded (PVE splits pairs on
 * both `&` and `;`, so `;`, `=`, `,`, `+` and newlines must be escaped), booleans as `1`/`0`,
 * `undefined` and `null` dropped, arrays as repeated keys. The caller's object is never mutated.
 *
 * @module
 */
import { InvalidArgumentError } from '../../errors.js';

/** A value the API accepts as a parameter. */
export type ParamValue = string | number | boolean | null | undefined | readonly (string | number | boolean)[];

/** Parameters of one call. */
export type Params = Readonly<Record<string, ParamValue>>;

function scalar(key: string, value: string | number | boolean): string {
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) {
      throw InvalidArgumentError.forField(key, 'must be a finite number');
    }
    return String(value);
  }
  if (typeof value !== 'string') {
    throw InvalidArgumentError.forField(key, `unsupported parameter type ${typeof value}`);
  }
  return value;
}

/** Flattens params to ordered `[key, value]` pairs (booleans 1/0, nullish dropped, arrays repeated). */
export function toParamPairs(params: Params | undefined): [string, string][] {
  const pairs: [string, string][] = [];
  if (!params) return pairs;
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value as readonly (string | number | boolean)[]) pairs.push([key, scalar(key, item)]);
    } else {
      pairs.push([key, scalar(key, value as string | number | boolean)]);
    }
  }
  return pairs;
}

/** Percent-encodes like `encodeURIComponent`, plus the characters it leaves alone that PVE could misread. */
export function percentEncode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** Encodes params as an `application/x-www-form-urlencoded` body or query string (no leading `?`). */
export function encodeForm(params: Params | undefined): string {
  return toParamPairs(params)
    .map(([k, v]) => `${percentEncode(k)}=${percentEncode(v)}`)
    .join('&');
}

/**
 * Substitutes `{name}` placeholders in an API path with percent-encoded values.
 * @throws {@link InvalidArgumentError} (`ERR_INVALID_ARGUMENT`) for a missing or empty path parameter.
 */
export function expandPath(template: string, values: Readonly<Record<string, string | number>>): string {
  return template.replace(/\{([^}]+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined || value === '') {
      throw InvalidArgumentError.forField(name, 'path parameter is required');
    }
    return percentEncode(String(value));
  });
}
