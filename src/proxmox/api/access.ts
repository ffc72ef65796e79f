/**
 * `POST /access/ticket` (login, renewal, TFA) and explicit session control.
 * @module
 */
import { ticketResponseSchema, type TicketResponse } from '../transport/auth.js';
import type { CallOptions, Endpoint } from './endpoint.js';

/** Parameters of `POST /access/ticket`. */
export interface TicketParams {
  username: string;
  /** A password, a valid ticket (renewal) or a TFA response (`totp:123456`). */
  password: string;
  realm?: string;
  'tfa-challenge'?: string;
  otp?: string;
}

/** Endpoint: `POST /access/ticket` (sent without auth; carries secrets). */
export function ticketEndpoint(params: TicketParams): Endpoint<TicketResponse> {
  const secrets = [params.password, params['tfa-challenge'], params.otp].filter((s): s is string => typeof s === 'string');
  // a TFA answer is single-use (and PVE locks TOTP after repeated failures): it is sent once
  const oneTime = params['tfa-challenge'] !== undefined || params.otp !== undefined;
  return { method: 'POST', path: '/access/ticket', params: { ...params }, response: ticketResponseSchema, retry: oneTime ? 'never' : 'idempotent', secrets };
}

/** `client.access`. */
export class AccessApi {
  readonly #ticket: (params: TicketParams, options?: CallOptions) => Promise<TicketResponse>;
  readonly #login: (options?: CallOptions) => Promise<{ issuedAt: number }>;
  /** @internal */
  constructor(ticket: (params: TicketParams, options?: CallOptions) => Promise<TicketResponse>, login: (options?: CallOptions) => Promise<{ issuedAt: number }>) {
    this.#ticket = ticket;
    this.#login = login;
  }
  /** Raw `POST /access/ticket` without auth (e.g. to obtain a ticket for another tool). */
  ticket(params: TicketParams, options?: CallOptions): Promise<TicketResponse> {
    return this.#ticket(params, options);
  }
  /** Logs in now (or renews if due) instead of lazily on the first request. */
  login(options?: CallOptions): Promise<{ issuedAt: number }> {
    return this.#login(options);
  }
}
