/**
 * The transport contract: how a {@link ProxmoxClient} hands a fully built HTTP request to the
 * wire. Endpoints are data (method, path, params, schema); auth, encoding, retry and error
 * mapping live in the client; a transport only moves bytes and reports what came back.
 *
 * @module
 */
import type { Readable } from 'node:stream';
import type { Logger } from '../../logger.js';
import type { ResolvedTlsOptions } from './tls.js';

/** HTTP methods the Proxmox API uses. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A streamed request body whose length is known up front (PVE refuses chunked uploads). */
export interface StreamBody {
  /** The bytes to send. Consumed once. */
  readonly stream: Readable;
  /** Exact number of bytes `stream` yields; sent as `Content-Length`. */
  readonly length: number;
}

/** One HTTP request, ready to send. Headers already carry auth; nothing is retried here. */
export interface TransportRequest {
  readonly method: HttpMethod;
  /** Absolute URL including the query string. */
  readonly url: string;
  /** Request headers (lower-case names). */
  readonly headers: Readonly<Record<string, string>>;
  /** A form/JSON text body, or a streamed body of known length. */
  readonly body?: string | StreamBody;
  /** Aborts the request (caller cancellation and the per-request timeout combined). */
  readonly signal: AbortSignal;
}

/** What came back. The body is the full text; PVE's JSON answers are small. */
export interface TransportResponse {
  readonly status: number;
  /** The reason phrase: PVE puts its error message here. */
  readonly statusText: string;
  /** Response headers with lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/**
 * Sends requests. Implementations throw `ProxmoxNetworkError` when no HTTP answer arrived
 * (`retryable` false for TLS trust failures) and `AbortedError` when `signal` fired; an
 * HTTP error status is a normal {@link TransportResponse}, not an exception.
 */
export interface Transport {
  /** Human-readable name for logs (`fetch+undici`, `axios`). */
  readonly name: string;
  send(request: TransportRequest): Promise<TransportResponse>;
  /** Releases pooled connections. Idempotent. */
  close(): Promise<void>;
}

/** What a {@link TransportFactory} is given by the client that owns the transport. */
export interface TransportContext {
  /** The client's TLS settings (CA, fingerprint pin, insecure). */
  readonly tls: ResolvedTlsOptions;
  /** The client's (redacting) logger. */
  readonly logger: Logger;
}

/** Builds a transport for one client: the client passes its TLS settings and logger. */
export type TransportFactory = (context: TransportContext) => Transport;

/** Type guard: an object with `send` and `close` functions. */
export function isTransport(value: unknown): value is Transport {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { send?: unknown }).send === 'function' &&
    typeof (value as { close?: unknown }).close === 'function'
  );
}
