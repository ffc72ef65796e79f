/**
 * A transport over a caller-supplied axios instance (axios is an optional peer dependency: it is
 * never imported here; the instance is passed in). The client's TLS policy is applied through a
 * per-transport `https.Agent` whose connections come from {@link connectTls}, so pinning, custom
 * CAs and `insecure` behave exactly as with the default transport.
 *
 * @module
 */
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Transport, TransportContext, TransportFactory, TransportRequest, TransportResponse } from './types.js';
import { ConnectSignals, connectTls, serverNameFor, type ResolvedTlsOptions } from './tls.js';
import { toTransportError } from './network-error.js';

/** The part of an axios request config this transport sets. */
export interface AxiosLikeRequestConfig {
  url: string;
  method: string;
  headers: Record<string, string>;
  data?: unknown;
  signal: AbortSignal;
  httpsAgent: unknown;
  responseType: 'text';
  transformResponse: ((data: unknown) => unknown)[];
  validateStatus: (status: number) => boolean;
  maxRedirects: number;
  maxBodyLength: number;
  maxContentLength: number;
  proxy: false;
}

/** The part of an axios response this transport reads. */
export interface AxiosLikeResponse {
  status: number;
  statusText: string;
  headers: unknown;
  data: unknown;
}

/** The structural subset of `AxiosInstance` used here (a real `AxiosInstance` satisfies it). */
export interface AxiosLike {
  request(config: AxiosLikeRequestConfig): Promise<AxiosLikeResponse>;
}

class PolicyAgent extends https.Agent {
  readonly #tls: ResolvedTlsOptions;
  /** The signals of the requests in flight: a connect stops once all of them were aborted. */
  readonly connects = new ConnectSignals();
  constructor(tls: ResolvedTlsOptions) {
    super({ keepAlive: true, maxSockets: 8 });
    this.#tls = tls;
  }
  override createConnection(options: https.RequestOptions, callback?: (error: Error | null, stream: Duplex) => void): undefined {
    const host = options.hostname ?? options.host ?? 'localhost';
    const servername = serverNameFor(host);
    connectTls({ host, port: Number(options.port) || 443, ...(servername ? { servername } : {}) }, this.#tls, this.connects.signal).then(
      (socket) => callback?.(null, socket),
      (error: Error) => callback?.(error, undefined as unknown as Duplex),
    );
    return undefined;
  }
}

function headersOf(raw: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (raw === null || typeof raw !== 'object') return out;
  const source = typeof (raw as { toJSON?: unknown }).toJSON === 'function' ? (raw as { toJSON(): unknown }).toJSON() : raw;
  for (const [k, v] of Object.entries(source as Record<string, unknown>)) {
    if (v === undefined || v === null) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/**
 * A {@link TransportFactory} sending through `instance` (e.g. `axios.create()`), for callers
 * that already route HTTP through axios interceptors.
 *
 * @example
 * ```ts
 * import axios from 'axios';
 * new ProxmoxClient({ baseUrl, auth, transport: axiosTransport(axios.create()) });
 * ```
 */
export function axiosTransport(instance: AxiosLike): TransportFactory {
  return (context: TransportContext): Transport => new AxiosTransport(instance, context);
}

class AxiosTransport implements Transport {
  readonly name = 'axios';
  readonly #axios: AxiosLike;
  readonly #agent: PolicyAgent;

  constructor(instance: AxiosLike, context: TransportContext) {
    this.#axios = instance;
    this.#agent = new PolicyAgent(context.tls);
  }

  async send(request: TransportRequest): Promise<TransportResponse> {
    const headers: Record<string, string> = { ...request.headers };
    let data: unknown;
    if (typeof request.body === 'string') data = request.body;
    else if (request.body !== undefined) {
      headers['content-length'] = String(request.body.length);
      data = request.body.stream;
    }
    const untrack = this.#agent.connects.track(request.signal);
    try {
      const response = await this.#axios.request({
        url: request.url,
        method: request.method,
        headers,
        ...(data === undefined ? {} : { data }),
        signal: request.signal,
        httpsAgent: this.#agent,
        responseType: 'text',
        transformResponse: [(d: unknown) => d],
        validateStatus: () => true,
        maxRedirects: 0,
        maxBodyLength: Number.POSITIVE_INFINITY,
        maxContentLength: Number.POSITIVE_INFINITY,
        proxy: false,
      });
      const body = typeof response.data === 'string' ? response.data : Buffer.isBuffer(response.data) ? response.data.toString('utf8') : response.data === undefined || response.data === null ? '' : JSON.stringify(response.data);
      return { status: response.status, statusText: response.statusText ?? '', headers: headersOf(response.headers), body };
    } catch (error) {
      if (typeof request.body === 'object') request.body.stream.destroy();
      throw toTransportError(error, request.method, request.url, request.signal);
    } finally {
      untrack();
    }
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}
