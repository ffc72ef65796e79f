/**
 * The default transport: the runtime's global `fetch` driving a per-client undici 7 `Agent`
 * (keep-alive connection pool) through the `dispatcher` option.
 *
 * Why the global `fetch` and not undici's own `request()`/`fetch()`: msw intercepts the global
 * `fetch` (also when a `dispatcher` is given) but not undici's exports, so the same code path is
 * testable in-process with msw handlers and over real HTTPS against the simulator. Node 20's
 * global fetch accepts an undici 7 `Agent` as dispatcher; the Agent owns the TLS policy through
 * a custom connect function ({@link connectTls}), so certificate pinning works for self-signed
 * PVE certificates and nothing is configured process-wide.
 *
 * @module
 */
import { Readable } from 'node:stream';
import { Agent, type buildConnector } from 'undici';
import type { Transport, TransportContext, TransportFactory, TransportRequest, TransportResponse } from './types.js';
import { connectTls, serverNameFor, type ResolvedTlsOptions } from './tls.js';
import { toTransportError } from './network-error.js';

/** Options of {@link fetchTransport}. */
export interface FetchTransportOptions {
  /**
   * The fetch function to call. Read at each request, so msw's patched global is picked up.
   * @defaultValue `globalThis.fetch`
   */
  fetch?: typeof globalThis.fetch;
  /**
   * Idle keep-alive time of pooled connections, in milliseconds.
   * @defaultValue 4000 (below pveproxy's keep-alive timeout)
   */
  keepAliveTimeoutMs?: number;
  /**
   * Maximum connections per origin.
   * @defaultValue 8
   */
  connections?: number;
}


/** Creates the undici Agent with the TLS policy of `tls`. */
export function createAgent(tls: ResolvedTlsOptions, options: FetchTransportOptions = {}): Agent {
  return new Agent({
    keepAliveTimeout: options.keepAliveTimeoutMs ?? 4000,
    connections: options.connections ?? 8,
    connect: (opts: buildConnector.Options, callback: buildConnector.Callback) => {
      if (opts.protocol !== 'https:') {
        callback(new Error(`refusing non-HTTPS connection to ${opts.hostname}`), null);
        return;
      }
      const servername = serverNameFor(opts.hostname);
      connectTls({ host: opts.hostname, port: Number(opts.port) || 443, ...(servername ? { servername } : {}) }, tls).then(
        (socket) => callback(null, socket),
        (error: Error) => callback(error, null),
      );
    },
  });
}

/**
 * A {@link TransportFactory} for the default transport (global fetch + per-client undici Agent).
 *
 * @example
 * ```ts
 * new ProxmoxClient({ baseUrl, auth, transport: fetchTransport({ connections: 4 }) });
 * ```
 */
export function fetchTransport(options: FetchTransportOptions = {}): TransportFactory {
  return (context: TransportContext): Transport => new FetchTransport(context, options);
}

class FetchTransport implements Transport {
  readonly name = 'fetch+undici';
  readonly #agent: Agent;
  readonly #options: FetchTransportOptions;
  #closed = false;

  constructor(context: TransportContext, options: FetchTransportOptions) {
    this.#options = options;
    this.#agent = createAgent(context.tls, options);
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    const doFetch = this.#options.fetch ?? globalThis.fetch;
    const headers: Record<string, string> = { ...request.headers };
    let body: string | ReadableStream<Uint8Array> | undefined;
    if (typeof request.body === 'string') body = request.body;
    else if (request.body !== undefined) {
      headers['content-length'] = String(request.body.length);
      body = Readable.toWeb(request.body.stream) as ReadableStream<Uint8Array>;
    }
    try {
      // `dispatcher` and `duplex` are undici extensions of RequestInit; undici 7's Agent type differs
      // nominally from the undici-types copy @types/node uses, hence the cast below.
      const init: Record<string, unknown> = {
        method: request.method,
        headers,
        signal: request.signal,
        redirect: 'manual',
        dispatcher: this.#agent,
        ...(body === undefined ? {} : { body }),
        ...(body !== undefined && typeof body !== 'string' ? { duplex: 'half' as const } : {}),
      };
      const response = await doFetch(request.url, init as RequestInit);
      const text = await response.text();
      const outHeaders: Record<string, string> = {};
      response.headers.forEach((value, key) => {
        outHeaders[key.toLowerCase()] = value;
      });
      return { status: response.status, statusText: response.statusText, headers: outHeaders, body: text };
    } catch (error) {
      if (typeof request.body === 'object') request.body.stream.destroy();
      throw toTransportError(error, request.method, request.url, request.signal);
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#agent.close();
  }
}
