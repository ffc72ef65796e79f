/**
 * The logger check without zod (`./schemas.ts` builds its `loggerSchema` on it), for code that
 * checks options by hand before it would load zod.
 *
 * @module
 */
import type { Logger } from '../logger.js';

/** True for an object with `debug`, `info`, `warn` and `error` methods. */
export function isLogger(value: unknown): value is Logger {
  return typeof value === 'object' && value !== null && ['debug', 'info', 'warn', 'error'].every((k) => typeof (value as Record<string, unknown>)[k] === 'function');
}
