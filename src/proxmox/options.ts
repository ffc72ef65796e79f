/**
 * Options of {@link ProxmoxClient}: one strict zod schema is the single source of truth;
 * {@link ProxmoxClientOptions} is what callers pass, {@link ResolvedProxmoxClientOptions} what
 * the client works with after defaults.
 *
 * @module
 */
import { parseOptions } from '../options.js';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import { tlsOptionsSchema } from './transport/tls.js';
import { isTransport, type Transport, type TransportFactory } from './transport/types.js';

/** What an OTP provider is told when PVE asks for a second factor. */
export interface TfaChallengeContext {
  /** The user logging in (`user@realm`). */
  readonly username: string;
  /** Second factors PVE offers for this user, e.g. `['totp', 'recovery']`. */
  readonly methods: readonly string[];
  /** Aborts when the login is cancelled. */
  readonly signal: AbortSignal;
}

/**
 * Returns the second-factor answer: a TOTP code (`123456`, sent as `totp:123456`) or an already
 * prefixed response (`recovery:…`, `totp:…`).
 */
export type OtpProvider = (context: TfaChallengeContext) => string | Promise<string>;

/** A clock in milliseconds since the epoch (injected in tests). */
export interface Clock {
  now(): number;
}

/** Waits `ms` milliseconds, rejecting when `signal` fires (injected in tests). */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

function hasCredentials(url: string): boolean {
  try {
    const parsed = new URL(url);
    return parsed.username !== '' || parsed.password !== '';
  } catch {
    return /^[a-z]+:\/\/[^/?#]*@/i.test(url);
  }
}

const USERNAME_RE = /^[^\s@:!]+@[A-Za-z][A-Za-z0-9.\-_]*$/;
const TOKEN_ID_RE = /^[^\s@:!]+@[A-Za-z][A-Za-z0-9.\-_]*![A-Za-z][A-Za-z0-9.\-_]*$/;

const otpSchema = z.union([
  z.string().min(1),
  z.custom<OtpProvider>((v) => typeof v === 'function', 'otp must be a string or a function returning the code'),
]);

/** Schema of the `auth` option. */
export const authOptionsSchema = z.discriminatedUnion('type', [
  z.strictObject({
    /** API token authentication (stateless, no CSRF). */
    type: z.literal('token'),
    /** Token id `user@realm!tokenname`. */
    tokenId: z.string().regex(TOKEN_ID_RE, 'tokenId must look like user@realm!tokenname'),
    /** The token secret (UUID). */
    secret: z.string().min(1, 'secret must not be empty'),
  }),
  z.strictObject({
    /** Username/password: the client obtains, renews and re-obtains tickets. */
    type: z.literal('password'),
    /** `user@realm`, e.g. `root@pam`. */
    username: z.string().regex(USERNAME_RE, 'username must look like user@realm'),
    password: z.string().min(1, 'password must not be empty'),
    /**
     * Second factor for users with TFA: a code, or a function asked for one at each login.
     * @defaultValue none (login fails with ERR_PVE_AUTH if PVE asks for TFA)
     */
    otp: otpSchema.optional(),
    /**
     * Renew the ticket (by re-posting it as the password) once it is this old. PVE tickets live
     * 2 h, so at most 6900000 (5 min before expiry).
     * @defaultValue 3600000 (1 h)
     */
    renewAfterMs: z.number().int().positive().max(6_900_000, 'renewAfterMs must leave 5 min before PVE\'s 2 h ticket expiry (at most 6900000)').default(3_600_000),
  }),
  z.strictObject({
    /** A ticket obtained elsewhere (e.g. by a login UI). Renewed like a password session's. */
    type: z.literal('ticket'),
    username: z.string().regex(USERNAME_RE, 'username must look like user@realm'),
    ticket: z.string().min(1),
    /** The `CSRFPreventionToken` issued with the ticket. */
    csrfToken: z.string().min(1),
    /**
     * When the ticket was issued (ms since the epoch).
     * @defaultValue the unix time inside the ticket (`PVE:…:<8-hex time>::…`), at most now
     */
    issuedAt: z.number().int().nonnegative().optional(),
    /**
     * Renew after this age.
     * @defaultValue 3600000 (1 h)
     */
    renewAfterMs: z.number().int().positive().max(6_900_000, 'renewAfterMs must leave 5 min before PVE\'s 2 h ticket expiry (at most 6900000)').default(3_600_000),
  }),
]);

/** Auth options as passed by callers. */
export type AuthOptions = z.input<typeof authOptionsSchema>;
/** Auth options after defaults. */
export type ResolvedAuthOptions = z.output<typeof authOptionsSchema>;

/** Schema of the options of {@link ProxmoxClient}. */
export const proxmoxClientOptionsSchema = z.strictObject({
  /**
   * Base URL of a PVE node, e.g. `https://pve1:8006` (a trailing `/api2/json` is accepted).
   * Must be HTTPS.
   */
  baseUrl: z
    .string()
    .url('baseUrl must be a URL like https://pve1:8006')
    .refine((u) => u.startsWith('https://'), 'baseUrl must use https://')
    // `https://user:pass@host` would put the password in every error message and in `client.baseUrl`
    .refine((u) => !hasCredentials(u), 'baseUrl must not carry credentials (user:password@): pass them in auth')
    .transform((u) => u.replace(/\/+$/, '').replace(/\/api2\/json$/, '')),
  /** How to authenticate. */
  auth: authOptionsSchema,
  /**
   * TLS policy.
   * @defaultValue `{ insecure: false }` (system CAs)
   */
  tls: tlsOptionsSchema.default({ insecure: false }),
  /**
   * Deadline of one HTTP attempt, in milliseconds.
   * @defaultValue 30000
   */
  timeoutMs: z.number().int().positive().default(30_000),
  /**
   * Retry policy for idempotent requests (GET, PUT, DELETE) on transient failures (network
   * resets, 502-504, 595-599, `got timeout`, `got no worker upid`).
   * @defaultValue `{ retries: 3, minDelayMs: 200, maxDelayMs: 5000 }`
   */
  retry: z
    .strictObject({
      /** @defaultValue 3 */
      retries: z.number().int().min(0).max(20).default(3),
      /** @defaultValue 200 */
      minDelayMs: z.number().int().min(0).default(200),
      /** @defaultValue 5000 */
      maxDelayMs: z.number().int().min(0).default(5000),
    })
    .default({ retries: 3, minDelayMs: 200, maxDelayMs: 5000 }),
  /**
   * Task polling defaults of `client.tasks.wait`.
   * @defaultValue `{ pollMinMs: 250, pollMaxMs: 5000, timeoutMs: 600000, logPageSize: 500 }`
   */
  tasks: z
    .strictObject({
      /** @defaultValue 250 */
      pollMinMs: z.number().int().min(1).default(250),
      /** @defaultValue 5000 */
      pollMaxMs: z.number().int().min(1).default(5000),
      /** @defaultValue 600000 (10 min) */
      timeoutMs: z.number().int().positive().default(600_000),
      /** @defaultValue 500 */
      logPageSize: z.number().int().min(1).max(5000).default(500),
    })
    .default({ pollMinMs: 250, pollMaxMs: 5000, timeoutMs: 600_000, logPageSize: 500 }),
  /**
   * VMID allocation: `nextid` asks `GET /cluster/nextid` under a per-client mutex; `random` draws
   * ids in `[min, max]` (several controllers sharing a cluster), checked with `nextid?vmid=`.
   * @defaultValue `{ mode: 'nextid', min: 10000, max: 99999, maxAttempts: 10 }`
   */
  vmid: z
    .strictObject({
      /** @defaultValue 'nextid' */
      mode: z.enum(['nextid', 'random']).default('nextid'),
      /** @defaultValue 10000 */
      min: z.number().int().min(100).max(999_999_999).default(10_000),
      /** @defaultValue 99999 */
      max: z.number().int().min(100).max(999_999_999).default(99_999),
      /** @defaultValue 10 */
      maxAttempts: z.number().int().min(1).max(100).default(10),
    })
    .refine((v) => v.min <= v.max, { message: 'vmid.min must not exceed vmid.max', path: ['min'] })
    .default({ mode: 'nextid', min: 10_000, max: 99_999, maxAttempts: 10 }),
  /**
   * The transport, or a factory given the client's TLS policy and logger.
   * @defaultValue `fetchTransport()` (global fetch + per-client undici Agent)
   */
  transport: z
    .custom<Transport | TransportFactory>((v) => typeof v === 'function' || isTransport(v), 'transport must be a Transport or a TransportFactory')
    .optional(),
  /**
   * Where debug lines (one per request: method, path, status, ms) go. Secrets are redacted.
   * @defaultValue silent
   */
  logger: z
    .custom<Logger>(
      (v) => typeof v === 'object' && v !== null && ['debug', 'info', 'warn', 'error'].every((k) => typeof (v as Record<string, unknown>)[k] === 'function'),
      'logger must have debug/info/warn/error functions',
    )
    .optional(),
  /**
   * Clock used for ticket age and task deadlines.
   * @defaultValue `Date`
   */
  clock: z.custom<Clock>((v) => typeof v === 'object' && v !== null && typeof (v as Clock).now === 'function', 'clock must have now()').optional(),
  /**
   * Sleep used between task polls.
   * @defaultValue a timer-based sleep honouring the signal
   */
  sleep: z.custom<Sleep>((v) => typeof v === 'function', 'sleep must be a function').optional(),
});

/** Options of {@link ProxmoxClient} as callers pass them. */
export type ProxmoxClientOptions = z.input<typeof proxmoxClientOptionsSchema>;
/** Options of {@link ProxmoxClient} after defaults. */
export type ResolvedProxmoxClientOptions = z.output<typeof proxmoxClientOptionsSchema>;

/**
 * Parses client options once.
 * @throws {@link InvalidOptionsError} listing every problem with its path (secrets never shown).
 */
export function resolveProxmoxClientOptions(input: unknown): ResolvedProxmoxClientOptions {
  return parseOptions(proxmoxClientOptionsSchema, input, 'ProxmoxClient options');
}
