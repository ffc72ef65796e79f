/**
 * TLS for Proxmox connections: system CAs by default, a custom CA bundle, SHA-256 certificate
 * pinning in the form PVE shows (`AA:BB:…`), or — only when explicitly asked, per client — no
 * verification. Never touches `NODE_TLS_REJECT_UNAUTHORIZED` or any other process-wide state.
 *
 * Why a custom connect function instead of `checkServerIdentity`: Node calls
 * `checkServerIdentity` only after the chain verified, so a self-signed PVE certificate is
 * refused (`DEPTH_ZERO_SELF_SIGNED_CERT`) before a pin could accept it. Here the handshake runs
 * without chain verification, the leaf's `fingerprint256` is compared, and only a matching
 * socket is handed to the HTTP layer — no request byte is written to an unpinned peer.
 *
 * @module
 */
import { setMaxListeners } from 'node:events';
import tls from 'node:tls';
import { z } from 'zod';
import { AbortedError, ProxmoxNetworkError } from '../../errors.js';

const FINGERPRINT_RE = /^(?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2}$/;

/** Schema of the `tls` client option. */
export const tlsOptionsSchema = z
  .strictObject({
    /**
     * PEM CA certificate(s) to trust instead of the system store, e.g. the cluster's
     * `/etc/pve/pve-root-ca.pem`.
     * @defaultValue system CAs
     */
    ca: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    /**
     * SHA-256 fingerprint of the node certificate, as PVE shows it (`AA:BB:…`, 32 bytes), e.g.
     * from `pvenode cert info` or `GET /nodes` `ssl_fingerprint`. When set, the certificate chain
     * is not checked: the connection is accepted only if the leaf certificate matches.
     * @defaultValue no pin
     */
    fingerprint256: z
      .string()
      .regex(FINGERPRINT_RE, 'fingerprint256 must be 32 hex bytes separated by colons (AA:BB:…)')
      .transform((s) => s.toUpperCase())
      .optional(),
    /**
     * Accept any certificate. Only for throw-away test setups; applies to this client only.
     * @defaultValue false
     */
    insecure: z.boolean().default(false),
  })
  .refine((t) => !(t.insecure && t.fingerprint256 !== undefined), {
    message: 'insecure and fingerprint256 exclude each other',
    path: ['insecure'],
  })
  .refine((t) => !(t.ca !== undefined && t.fingerprint256 !== undefined), {
    message: 'ca and fingerprint256 exclude each other (a pin does not use CAs)',
    path: ['ca'],
  });

/** TLS options as passed by users. */
export type TlsOptions = z.input<typeof tlsOptionsSchema>;
/** TLS options after defaults. */
export type ResolvedTlsOptions = z.output<typeof tlsOptionsSchema>;

/** Where to connect. */
export interface TlsTarget {
  readonly host: string;
  readonly port: number;
  /** SNI name; omitted for IP addresses. */
  readonly servername?: string;
  /** Give up when TCP + TLS setup takes longer (ms). @defaultValue 10000 */
  readonly connectTimeoutMs?: number;
}

const TRUST_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_FINGERPRINT_MISMATCH',
]);

/** True for an error code that means "the server's certificate is not trusted" (never retryable). */
export function isTlsTrustCode(code: unknown): boolean {
  return typeof code === 'string' && TRUST_CODES.has(code);
}

/**
 * Opens a TLS socket to `target` under `options` and resolves once it is trusted.
 * @throws {@link ProxmoxNetworkError} (`reason` `CERT_FINGERPRINT_MISMATCH` on a pin mismatch)
 */
export function connectTls(target: TlsTarget, options: ResolvedTlsOptions, signal?: AbortSignal): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError('TLS connect aborted', {}, { cause: signal.reason }));
      return;
    }
    const pinned = options.fingerprint256 !== undefined;
    const socket = tls.connect({
      host: target.host,
      port: target.port,
      ...(target.servername ? { servername: target.servername } : {}),
      ALPNProtocols: ['http/1.1'],
      rejectUnauthorized: !(pinned || options.insecure),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    });
    const onAbort = (): void => {
      socket.destroy();
      reject(new AbortedError('TLS connect aborted', {}, { cause: signal?.reason }));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => {
      const error = Object.assign(new Error(`connect to ${target.host}:${target.port} timed out after ${target.connectTimeoutMs ?? 10_000} ms`), { code: 'ETIMEDOUT' });
      socket.destroy(error);
    }, target.connectTimeoutMs ?? 10_000);
    timer.unref();
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      cleanup();
      if (pinned) {
        const seen = socket.getPeerCertificate().fingerprint256?.toUpperCase();
        if (seen !== options.fingerprint256) {
          const error = new ProxmoxNetworkError(
            `TLS certificate of ${target.host}:${target.port} does not match the pinned fingerprint (expected ${options.fingerprint256}, got ${seen ?? 'none'})`,
            { reason: 'CERT_FINGERPRINT_MISMATCH', retryable: false },
          );
          (error as { tlsCode?: string }).tlsCode = 'CERT_FINGERPRINT_MISMATCH';
          socket.destroy();
          reject(error);
          return;
        }
      }
      resolve(socket);
    });
  });
}

/** SNI host name for a URL host (none for IP literals). */
export function serverNameFor(host: string): string | undefined {
  const bare = host.replace(/^\[|\]$/g, '');
  if (/^\d{1,3}(?:\.\d{1,3}){3}$/.test(bare) || bare.includes(':')) return undefined;
  return bare;
}

/**
 * The signal a pooled connection attempt runs under. A connection is opened for whichever
 * requests wait for the pool, not for one request, so a connect stops once every request that
 * was waiting has been aborted (or there is none left): the TLS connect honours the requests'
 * `AbortSignal`s instead of running on to its own timeout.
 */
export class ConnectSignals {
  readonly #waiting = new Set<AbortSignal>();
  #controller = ConnectSignals.#newController();

  /**
   * Every connect in flight listens on the one signal: as many listeners as the agent opens
   * sockets at once (more than Node's warning threshold of 10 under a burst of requests).
   */
  static #newController(): AbortController {
    const controller = new AbortController();
    setMaxListeners(0, controller.signal);
    return controller;
  }

  /** Registers a request for the time it runs; returns the function that unregisters it. */
  track(signal: AbortSignal): () => void {
    if (signal.aborted) return () => undefined;
    this.#waiting.add(signal);
    const onAbort = (): void => {
      this.#waiting.delete(signal);
      this.#check();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    return () => {
      signal.removeEventListener('abort', onAbort);
      this.#waiting.delete(signal);
    };
  }

  /** The signal for a connect starting now. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  #check(): void {
    for (const s of this.#waiting) if (!s.aborted) return;
    this.#controller.abort(new Error('every request waiting for this connection was aborted'));
    this.#controller = ConnectSignals.#newController();
  }
}
