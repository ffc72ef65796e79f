/**
 * Authentication state of one client: API token headers, or a ticket session that logs in
 * (with two-step TFA), renews before expiry by re-posting the ticket as the password, and
 * re-authenticates once after a 401. Every secret it sees is registered with the client's
 * secret set so errors and logs scrub it.
 *
 * @module
 */
import { z } from 'zod';
import { AbortedError, ProxmoxAuthError, ProxmoxHttpError, ProxmoxTimeoutError, isLxcriError, throwIfAborted } from '../../errors.js';
import type { Clock, OtpProvider, ResolvedAuthOptions } from '../options.js';
import type { HttpMethod } from './types.js';

/** Shape of `POST /access/ticket` data. */
export const ticketResponseSchema = z.looseObject({
  username: z.string(),
  ticket: z.string().optional(),
  CSRFPreventionToken: z.string().optional(),
  clustername: z.string().optional(),
  NeedTFA: z.union([z.number(), z.boolean(), z.string()]).optional(),
});

/** Decoded `POST /access/ticket` answer. */
export type TicketResponse = z.output<typeof ticketResponseSchema>;

/** Posts to `/access/ticket` without auth; returns the decoded data or throws ProxmoxHttpError. */
export type TicketPoster = (params: Record<string, string>, signal: AbortSignal) => Promise<TicketResponse>;

/** The TFA methods named in a half-ticket (`PVE:!tfa!{"totp":true,…}:…`). */
function tfaMethodsOf(halfTicket: string): string[] {
  const m = /^PVE:!tfa!(.*):[0-9A-Fa-f]{8}::/.exec(halfTicket);
  if (!m?.[1]) return [];
  try {
    const challenge = JSON.parse(decodeURIComponent(m[1])) as unknown;
    if (challenge === null || typeof challenge !== 'object') return [];
    return Object.entries(challenge as Record<string, unknown>)
      .filter(([, v]) => v !== false && v !== null && v !== undefined)
      .map(([k]) => k);
  } catch {
    return [];
  }
}

/** PVE tickets live 2 h; a ticket younger than this (5 min margin) is still used when a renewal fails transiently. */
const STILL_VALID_MS = 7_200_000 - 300_000;
/** After a transiently failed renewal, the next attempt waits this long. */
const RENEW_RETRY_MS = 60_000;
/** Short-lived secrets (tickets, CSRF tokens, TFA answers) kept for scrubbing: the last few logins' worth. */
const MAX_TRANSIENT_SECRETS = 12;

/** One login shared by every request that waits for it. */
interface PendingLogin {
  promise: Promise<Ticket>;
  controller: AbortController;
  /** Requests waiting for it; when the last one gives up, the login is cancelled. */
  waiters: number;
  /** A renewal started while the old ticket is still valid: nobody waits, it runs to its own deadline. */
  background: boolean;
}

interface Ticket {
  value: string;
  csrf: string;
  issuedAt: number;
}

/** Auth for one client. */
export class AuthSession {
  readonly #auth: ResolvedAuthOptions;
  readonly #secrets: Set<string>;
  readonly #clock: Clock;
  readonly #post: TicketPoster;
  #ticket: Ticket | undefined;
  #pending: PendingLogin | undefined;
  #renewNotBefore = 0;
  /** Configured secrets: never dropped from the scrub set. */
  readonly #permanent = new Set<string>();
  /** Short-lived secrets in the scrub set, oldest first (bounded). */
  readonly #transient: string[] = [];
  /** A static `otp` string is a one-time code: it serves the first login only. */
  #staticOtpUsed = false;

  readonly #loginTimeoutMs: number;

  /**
   * @param loginTimeoutMs - bound of one shared login (incl. asking for the OTP): a login is
   *   shared by every request waiting for it, so it runs on its own deadline, not on the signal of
   *   whichever request started it; each waiting request still stops at its own signal.
   */
  constructor(auth: ResolvedAuthOptions, secrets: Set<string>, clock: Clock, post: TicketPoster, loginTimeoutMs = 60_000) {
    this.#loginTimeoutMs = loginTimeoutMs;
    this.#auth = auth;
    this.#secrets = secrets;
    this.#clock = clock;
    this.#post = post;
    const permanent = (value: string): void => {
      this.#permanent.add(value);
      secrets.add(value);
    };
    if (auth.type === 'token') permanent(auth.secret);
    if (auth.type === 'password') {
      permanent(auth.password);
      if (typeof auth.otp === 'string') permanent(auth.otp);
    }
    if (auth.type === 'ticket') {
      this.remember(auth.ticket);
      this.remember(auth.csrfToken);
      this.#ticket = { value: auth.ticket, csrf: auth.csrfToken, issuedAt: auth.issuedAt ?? ticketIssuedAt(auth.ticket, clock.now()) };
    }
  }

  /**
   * Adds a short-lived secret (ticket, CSRF token, TFA answer) to the scrub set. The set stays
   * bounded: the oldest short-lived secrets leave it once newer logins replaced them.
   */
  remember(value: string | undefined): void {
    if (!value || this.#permanent.has(value)) return;
    const at = this.#transient.indexOf(value);
    if (at >= 0) this.#transient.splice(at, 1);
    this.#transient.push(value);
    this.#secrets.add(value);
    while (this.#transient.length > MAX_TRANSIENT_SECRETS) {
      const old = this.#transient.shift();
      if (old !== undefined && old !== this.#ticket?.value && old !== this.#ticket?.csrf) this.#secrets.delete(old);
    }
  }

  /** `token`, `password` or `ticket`. */
  get kind(): ResolvedAuthOptions['type'] {
    return this.#auth.type;
  }

  /** True when requests carry a ticket (and so need CSRF on non-GET, and may re-login on 401). */
  get usesTicket(): boolean {
    return this.#auth.type !== 'token';
  }

  /** The user (or token id) this session acts as; safe to log. */
  get principal(): string {
    return this.#auth.type === 'token' ? this.#auth.tokenId : this.#auth.username;
  }

  /** Headers for one request, logging in or renewing first when needed. */
  async headers(method: HttpMethod, signal: AbortSignal): Promise<Record<string, string>> {
    if (this.#auth.type === 'token') {
      return { authorization: `PVEAPIToken=${this.#auth.tokenId}=${this.#auth.secret}` };
    }
    const ticket = await this.#current(signal);
    const headers: Record<string, string> = { cookie: cookieOf(ticket) };
    if (method !== 'GET') headers['csrfpreventiontoken'] = ticket.csrf;
    return headers;
  }

  /**
   * Forgets the ticket after a 401 so the next {@link headers} call re-authenticates. `sentCookie`
   * is the cookie header the refused request carried: when the session has moved on to a newer
   * ticket since (another request already re-logged in), nothing is forgotten, so a burst of
   * concurrent 401s leads to one login, not one per request.
   */
  invalidate(sentCookie?: string): void {
    if (this.#auth.type === 'token') return;
    if (sentCookie !== undefined && this.#ticket !== undefined && cookieOf(this.#ticket) !== sentCookie) return;
    this.#ticket = undefined;
  }

  /** Logs in (or renews) now; returns the ticket's issue time. */
  async login(signal: AbortSignal): Promise<{ issuedAt: number }> {
    if (this.#auth.type === 'token') return { issuedAt: this.#clock.now() };
    const t = await this.#current(signal);
    return { issuedAt: t.issuedAt };
  }

  #current(signal: AbortSignal): Promise<Ticket> {
    const auth = this.#auth;
    if (auth.type === 'token') throw new Error('unreachable');
    const ticket = this.#ticket;
    const now = this.#clock.now();
    if (ticket && now - ticket.issuedAt < auth.renewAfterMs) return Promise.resolve(ticket);
    if (ticket && now - ticket.issuedAt < STILL_VALID_MS) {
      // due for renewal but valid for a while yet: renew in the background, nobody waits
      if (now >= this.#renewNotBefore && !this.#pending) this.#start(ticket, true);
      return Promise.resolve(ticket);
    }
    const pending = this.#pending ?? this.#start(ticket, false);
    return this.#wait(pending, signal);
  }

  #start(previous: Ticket | undefined, background: boolean): PendingLogin {
    const controller = new AbortController();
    const deadline = AbortSignal.timeout(this.#loginTimeoutMs);
    const signal = AbortSignal.any([controller.signal, deadline]);
    const pending: PendingLogin = { controller, waiters: 0, background, promise: Promise.resolve(undefined as unknown as Ticket) };
    pending.promise = this.#obtain(previous, signal)
      .catch((error: unknown) => {
        // the login ran past its own deadline: a timeout (retryable), not a cancellation
        if (deadline.aborted && !controller.signal.aborted) {
          throw new ProxmoxTimeoutError(`login of ${this.principal} did not finish within ${this.#loginTimeoutMs} ms`, { timeoutMs: this.#loginTimeoutMs, auth: true }, { cause: error });
        }
        throw error;
      })
      .finally(() => {
        if (this.#pending === pending) this.#pending = undefined;
      });
    // a login nobody waits for any more (or a background renewal) must not surface as an unhandled rejection
    pending.promise.catch(() => {
      // a failed background renewal is tried again a minute later, not on every request
      if (background) this.#renewNotBefore = this.#clock.now() + RENEW_RETRY_MS;
    });
    this.#pending = pending;
    return pending;
  }

  /** Waits for a shared login until `signal` fires; the last waiter to give up cancels the login. */
  #wait(pending: PendingLogin, signal: AbortSignal): Promise<Ticket> {
    if (signal.aborted) return Promise.reject(new AbortedError('login aborted', {}, { cause: signal.reason }));
    pending.waiters++;
    pending.background = false;
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      pending.waiters--;
      if (pending.waiters === 0 && !pending.background && this.#pending === pending) {
        pending.controller.abort(new Error('no request waits for the login any more'));
        this.#pending = undefined;
      }
    };
    return untilAborted(pending.promise, signal, leave);
  }

  async #obtain(previous: Ticket | undefined, signal: AbortSignal): Promise<Ticket> {
    const auth = this.#auth;
    if (auth.type === 'token') throw new Error('unreachable');
    if (previous) {
      try {
        const renewed = await this.#exchange({ username: auth.username, password: previous.value }, signal);
        return this.#store(renewed);
      } catch (error) {
        // PVE or the network failed (not the ticket): the old ticket lives 2 h, so keep using it
        // and try renewing again in a minute instead of failing every request meanwhile
        if (!isAuthFailure(error) && this.#clock.now() - previous.issuedAt < STILL_VALID_MS) {
          this.#renewNotBefore = this.#clock.now() + RENEW_RETRY_MS;
          return previous;
        }
        if (!isAuthFailure(error)) throw this.#authError(error, 'ticket renewal failed');
        if (auth.type === 'ticket') {
          throw new ProxmoxAuthError(
            `the ticket of ${auth.username} was refused on renewal and no password is configured to obtain a new one`,
            { username: auth.username, reason: 'ticket-expired', status: 401 },
            { cause: error, secrets: this.#secrets },
          );
        }
      }
    }
    if (auth.type === 'ticket') {
      throw new ProxmoxAuthError(`the ticket of ${auth.username} is no longer valid and no password is configured to obtain a new one`, {
        username: auth.username,
        reason: 'ticket-expired',
      });
    }
    let first: TicketResponse;
    try {
      first = await this.#exchange({ username: auth.username, password: auth.password }, signal);
    } catch (error) {
      throw this.#authError(error, 'login failed');
    }
    if (!isTruthy(first.NeedTFA)) return this.#store(first);
    const half = first.ticket;
    if (!half) throw new ProxmoxAuthError(`login of ${auth.username}: PVE asked for TFA without a challenge`, { username: auth.username, reason: 'tfa-protocol' });
    this.remember(half);
    if (auth.otp === undefined) {
      throw new ProxmoxAuthError(`login of ${auth.username} needs a second factor (TFA) but no otp is configured`, {
        username: auth.username,
        reason: 'tfa-required',
      });
    }
    if (typeof auth.otp === 'string') {
      // a TOTP code is good for one login; a later login (the ticket expired or was refused) needs a fresh one
      if (this.#staticOtpUsed) {
        throw new ProxmoxAuthError(
          `login of ${auth.username} needs a new second factor: the static otp served the first login; pass otp as a function that returns a fresh code`,
          { username: auth.username, reason: 'tfa-required' },
        );
      }
      this.#staticOtpUsed = true;
    }
    const code = await this.#askOtp(auth.otp, auth.username, tfaMethodsOf(half), signal);
    this.remember(code);
    const response = /^[a-z0-9-]+:/i.test(code) ? code : `totp:${code}`;
    this.remember(response);
    try {
      const second = await this.#exchange({ username: auth.username, 'tfa-challenge': half, password: response }, signal);
      if (isTruthy(second.NeedTFA)) throw new ProxmoxAuthError(`login of ${auth.username}: second factor not accepted`, { username: auth.username, reason: 'tfa-rejected' });
      return this.#store(second);
    } catch (error) {
      throw this.#authError(error, 'second factor (TFA) refused');
    }
  }

  async #askOtp(otp: string | OtpProvider, username: string, methods: string[], signal: AbortSignal): Promise<string> {
    if (typeof otp === 'string') return otp.trim();
    throwIfAborted(signal, 'login');
    const code = await otp({ username, methods, signal });
    if (typeof code !== 'string' || code.trim() === '') {
      throw new ProxmoxAuthError(`login of ${username}: the otp provider returned no code`, { username, reason: 'tfa-no-code' });
    }
    return code.trim();
  }

  async #exchange(params: Record<string, string>, signal: AbortSignal): Promise<TicketResponse> {
    const data = await this.#post(params, signal);
    this.remember(data.ticket);
    this.remember(data.CSRFPreventionToken);
    return data;
  }

  #store(data: TicketResponse): Ticket {
    if (!data.ticket || !data.CSRFPreventionToken) {
      throw new ProxmoxAuthError('PVE answered the login without a ticket or CSRF token', { username: this.principal, reason: 'protocol' });
    }
    const ticket = { value: data.ticket, csrf: data.CSRFPreventionToken, issuedAt: this.#clock.now() };
    this.#ticket = ticket;
    return ticket;
  }

  #authError(error: unknown, what: string): unknown {
    if (isAuthFailure(error)) {
      const http = error as ProxmoxHttpError;
      return new ProxmoxAuthError(
        `${what} for ${this.principal}: ${http.status} ${http.statusText}`,
        { username: this.principal, status: http.status, reason: http.statusText },
        { cause: error, secrets: this.#secrets },
      );
    }
    return error;
  }
}

/**
 * When a ticket was issued: the 8-hex unix time it carries (`PVE:<data>:<time>::<signature>`),
 * never later than `now`; `now` when the ticket has no readable time.
 */
function ticketIssuedAt(ticket: string, now: number): number {
  const m = /^PVE:.*:([0-9A-Fa-f]{8})::[^:]*$/.exec(ticket);
  return m?.[1] ? Math.min(now, Number.parseInt(m[1], 16) * 1000) : now;
}

/** Settles with `promise`, or rejects with {@link AbortedError} as soon as `signal` fires. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal, onLeave: () => void = () => undefined): Promise<T> {
  if (signal.aborted) {
    onLeave();
    return Promise.reject(new AbortedError('login aborted', {}, { cause: signal.reason }));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      onLeave();
      reject(new AbortedError('login aborted', {}, { cause: signal.reason }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        onLeave();
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        onLeave();
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

function cookieOf(ticket: Ticket): string {
  return `PVEAuthCookie=${encodeURIComponent(ticket.value)}`;
}

function isTruthy(v: unknown): boolean {
  return v === true || v === 1 || v === '1';
}

/** True for a 401 from PVE (any text: since pve-manager 9.1.5 it is just `Authentication failed!`). */
function isAuthFailure(error: unknown): boolean {
  return isLxcriError(error) && error instanceof ProxmoxHttpError && error.status === 401;
}
