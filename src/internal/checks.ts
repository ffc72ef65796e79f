/**
 * Value checks without zod, for code that checks the common shapes of its options by hand before
 * it would load zod (`./schemas.ts` builds its `loggerSchema` on `isLogger`).
 *
 * @module
 */
import type { Logger } from '../logger.js';

/** True for an object with `debug`, `info`, `warn` and `error` methods. */
export function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null && ['debug', 'info', 'warn', 'error'].every((k) => typeof (value as Record<string, unknown>)[k] === 'function');
}

/** An object that is not an array (options, nested option groups). */
export const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** True when `value` has no keys besides `keys` (a strict object's check). */
export const hasOnly = (value: object, keys: readonly string[]): boolean => Object.keys(value).every((k) => keys.includes(k));

/** A string that is not empty. */
export const isNonEmpty = (value: unknown): value is string => typeof value === 'string' && value !== '';

/** A safe integer in `[min, max]`. */
export const isIntIn = (value: unknown, min: number, max = Number.MAX_SAFE_INTEGER): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= min && value <= max;
