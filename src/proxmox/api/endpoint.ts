/**
 * Endpoints are data: method, path, params, response schema and whether the call may be
 * re-sent. The client's send pipeline turns them into HTTP; nothing here does I/O.
 *
 * @module
 */
import { z } from 'zod';
import type { Params } from '../transport/encode.js';
import type { HttpMethod, StreamBody } from '../transport/types.js';

/**
 * When a failed call may be re-sent automatically:
 * - `idempotent`: on any transient failure (network reset, 502-504, 595-599, `got timeout`, …);
 * - `not-executed`: only when the failure proves nothing happened (a config-lock timeout, 503);
 * - `never`: not at all (a POST that creates something).
 */
export type RetryPolicy = 'idempotent' | 'not-executed' | 'never';

/** One API call, as data. */
export interface Endpoint<T> {
  readonly method: HttpMethod;
  /** Path below `/api2/json`, path parameters already substituted and percent-encoded. */
  readonly path: string;
  /** Query (GET/DELETE) or form body (POST/PUT) parameters. */
  readonly params?: Params;
  /** A streamed body (uploads); replaces the form body. */
  readonly body?: { readonly stream: StreamBody; readonly contentType: string };
  /** Validates `data` of the answer. */
  readonly response: z.ZodType<T>;
  readonly retry: RetryPolicy;
  /** Extra secrets this call carries (e.g. a CT root password), scrubbed from errors and logs. */
  readonly secrets?: readonly string[];
}

/** Per-call options every endpoint method accepts. */
export interface CallOptions {
  /** Cancels the call. */
  signal?: AbortSignal;
  /** Deadline of one attempt, overriding the client's `timeoutMs`. */
  timeoutMs?: number;
}

/** Sends an endpoint; implemented by the client. */
export type EndpointSender = <T>(endpoint: Endpoint<T>, options?: CallOptions) => Promise<T>;

/** An integer PVE may send as a number or a numeric string. */
export const intLike = z.union([z.number().int(), z.string().regex(/^-?\d+$/)]).transform((v) => Number(v));
/** A number PVE may send as a number or a numeric string. */
export const numLike = z.union([z.number(), z.string().regex(/^-?\d+(?:\.\d+)?(?:e[-+]?\d+)?$/i)]).transform((v) => Number(v));
/** A boolean PVE may send as 0/1, "0"/"1" or true/false. */
export const boolLike = z.union([z.boolean(), z.literal(0), z.literal(1), z.literal('0'), z.literal('1')]).transform((v) => v === true || v === 1 || v === '1');
/** A UPID string. */
export const upidResponse = z.string().regex(/^UPID:/, 'expected a task id (UPID)');
/** `null` data. */
export const nullResponse = z.null().or(z.undefined()).transform(() => null);
