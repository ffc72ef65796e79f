/**
 * Validators shared by the options schemas and the parts: one logger check, one signal check,
 * one container-id pattern.
 *
 * @module
 */
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { isLogger } from './checks.js';

export { isLogger } from './checks.js';

/** zod schema of a callback option (`onProgress`), which takes every function. */
export const callbackSchema = <T>(): z.ZodCustom<T, T> => z.custom<T>((v) => typeof v === 'function', 'must be a function');

/** zod schema of an `AbortSignal` option. */
export const signalSchema = z.custom<AbortSignal>((v) => v instanceof AbortSignal, 'must be an AbortSignal');

/** zod schema of an injected {@link Logger}. */
export const loggerSchema = z.custom<Logger>(isLogger, { message: 'expected a logger with debug/info/warn/error methods' });

/**
 * A container (or sandbox) id as the OCI runtimes and the stores accept it: 1-128 of
 * `[A-Za-z0-9_.-]`, starting with a letter or digit.
 */
export const CONTAINER_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** zod schema of a container id ({@link CONTAINER_ID_PATTERN}). */
export const containerIdSchema = z.string().regex(CONTAINER_ID_PATTERN, 'container id: 1-128 of [A-Za-z0-9_.-], starting with a letter or digit');
