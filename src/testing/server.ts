/**
 * `startPveSimulator`: the simulator as a real HTTPS server on 127.0.0.1 with a self-signed
 * certificate generated at start (or a supplied one).
 *
 * @module
 */
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { AbortedError } from '../errors.js';
import { generateSelfSignedCertificate } from './certificate.js';
import { handlePveRequest } from './handler.js';
import { resolvePveSimulatorOptions, type PveSimulatorOptions } from './options.js';
import { PveSimulatorState } from './state.js';

/** A running simulator. */
export interface PveSimulator {
  /** Base URL, e.g. `https://127.0.0.1:38211` (the API is under `/api2/json`). */
  readonly url: string;
  /** `url` + `/api2/json`. */
  readonly apiUrl: string;
  /** SHA-256 fingerprint of the certificate, `AA:BB:…` (uppercase, colon-separated), for pinning. */
  readonly fingerprint256: string;
  /** The served certificate (PEM), usable as a `ca`. */
  readonly cert: string;
  /** The state behind the server: request log, faults, containers, tasks, storage directories. */
  readonly state: PveSimulatorState;
  /**
   * Options for a `ProxmoxClient` (or `LxcriOptions.proxmox.client`) that reach this simulator:
   * `baseUrl`, the certificate's pinned fingerprint, and the first user's first API token (its
   * password when it has no token). Spread your own settings (retries, task polling) beside them.
   */
  clientOptions(): SimulatorClientOptions;
  /** Stops the server, drops open connections and (unless a state was passed in) closes the state. */
  close(): Promise<void>;
}

/** What {@link PveSimulator.clientOptions} returns. */
export interface SimulatorClientOptions {
  baseUrl: string;
  auth: { type: 'token'; tokenId: string; secret: string } | { type: 'password'; username: string; password: string };
  tls: { fingerprint256: string };
}

/** Extra arguments of {@link startPveSimulator}. */
export interface StartPveSimulatorExtras {
  /** Serve an existing state (e.g. one msw handlers also use); its options win over `options`' state settings. */
  state?: PveSimulatorState;
  /** Aborting it closes the simulator. */
  signal?: AbortSignal;
}

function safeReason(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/**
 * Starts the simulator as an HTTPS server. Options: see {@link PveSimulatorOptions}; `host`,
 * `port` and `tls` apply here. Close it with `close()` (or abort `extras.signal`).
 */
export async function startPveSimulator(options: PveSimulatorOptions = {}, extras: StartPveSimulatorExtras = {}): Promise<PveSimulator> {
  if (extras.signal?.aborted) throw new AbortedError('startPveSimulator aborted before start');
  const resolved = resolvePveSimulatorOptions(options);
  const ownsState = extras.state === undefined;
  const state = extras.state ?? (await PveSimulatorState.create(options));
  const tls = resolved.tls ?? generateSelfSignedCertificate(state.nodes[0]?.name ?? 'localhost');
  const fingerprint256 = new X509Certificate(tls.cert).fingerprint256;
  state.fingerprint256 = fingerprint256;

  const server: Server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const headers: Record<string, string | undefined> = {};
    for (const [key, value] of Object.entries(req.headers)) headers[key] = Array.isArray(value) ? value.join(', ') : value;
    const chunked = /chunked/i.test(headers['transfer-encoding'] ?? '');
    const hasBody = chunked || Number(headers['content-length'] ?? 0) > 0;
    if (chunked) {
      res.writeHead(501, 'chunked transfer encoding not supported', { 'content-type': 'application/json;charset=UTF-8', connection: 'close' });
      res.end(JSON.stringify({ data: null, message: 'chunked transfer encoding not supported\n' }));
      return;
    }
    handlePveRequest(state, { method: req.method ?? 'GET', url: req.url ?? '/', headers, body: hasBody ? req : null })
      .then((response) => {
        if (response.drop) {
          req.socket.destroy();
          return;
        }
        res.writeHead(response.status, safeReason(response.statusText), response.headers);
        res.end(response.body);
        // Discard what the client still sends (an early error answer to a large body).
        req.resume();
      })
      .catch((error: unknown) => {
        state.logger.error({ err: error }, 'simulator request failed');
        req.socket.destroy();
      });
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  try {
    server.listen(resolved.port, resolved.host);
    await once(server, 'listening');
  } catch (error) {
    // `once` rejects with the server's 'error' (EADDRINUSE, EACCES, ...): undo what was made.
    if (ownsState) await state.close();
    throw error;
  }
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `https://${host}:${address.port}`;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      extras.signal?.removeEventListener('abort', onAbort);
      const done = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await done;
      if (ownsState) await state.close();
    })();
    return closed;
  };
  const onAbort = (): void => {
    void close();
  };
  extras.signal?.addEventListener('abort', onAbort, { once: true });
  const clientOptions = (): SimulatorClientOptions => {
    const { username, password, tokenId, tokenSecret } = state.credentials;
    const auth: SimulatorClientOptions['auth'] =
      tokenId !== undefined && tokenSecret !== undefined ? { type: 'token', tokenId, secret: tokenSecret } : { type: 'password', username, password };
    return { baseUrl: url, auth, tls: { fingerprint256 } };
  };
  return { url, apiUrl: `${url}/api2/json`, fingerprint256, cert: tls.cert, state, clientOptions, close };
}
