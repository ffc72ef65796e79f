/**
 * The shapes an endpoint implementation takes and returns, shared by the endpoint modules and the
 * core request handler.
 *
 * @module
 */
import type { EndpointRules } from '../param-rules.js';
import type { PveSimulatorState } from '../state.js';
import type { ParamValues, RawParamValue } from '../validate-params.js';

/** Who calls an endpoint. */
export interface EndpointAuth {
  kind: 'none' | 'ticket' | 'token';
  /** `user@realm` ('' when unauthenticated). */
  userid: string;
  /** `user@realm!name` for tokens. */
  tokenId?: string;
  /** The id tasks and permission checks use: the token id for tokens, else the user id. */
  authId: string;
}

/** What an endpoint implementation receives. */
export interface EndpointCall {
  state: PveSimulatorState;
  /** Verified, typed parameters. */
  params: ParamValues;
  /** The raw parameters (for uploads: query and path only, before verification). */
  raw: Record<string, RawParamValue>;
  auth: EndpointAuth;
  /** The multipart request of the upload endpoint. */
  upload?: {
    headers: Readonly<Record<string, string | undefined>>;
    body: AsyncIterable<Uint8Array> | null;
    /** Adds the multipart fields (in the order received) to the request log entry. */
    logFields(fields: Record<string, unknown>): void;
  };
}

/** What an endpoint implementation returns. */
export interface EndpointResult {
  data: unknown;
  /** Extra top-level fields of the answer (e.g. `total`). */
  extra?: Record<string, unknown>;
  /** The UPID when a worker task was started. */
  upid?: string;
}

/** A served endpoint. */
export interface Endpoint {
  rules: EndpointRules;
  /** No authentication needed (`POST /access/ticket`). */
  noAuth?: boolean;
  /** No CSRF check for ticket sessions (uploads). */
  skipCsrf?: boolean;
  /** Multipart body parsed by the endpoint itself. */
  upload?: boolean;
  /** pveproxy forwards it to `{node}` (an offline node answers 595/596). */
  proxied?: boolean;
  handle(call: EndpointCall): Promise<EndpointResult>;
}
