/**
 * `ProxmoxClient`: endpoint groups over one send pipeline (auth → encode → transport → decode →
 * validate), with idempotent-only retries, a deadline and an `AbortSignal` on every call, and a
 * redacted debug line per request.
 *
 * @module
 */
import pRetry from 'p-retry';
import { z } from 'zod';
import {
  LxcriError,
  ProxmoxAuthError,
  ProxmoxHttpError,
  ProxmoxNetworkError,
  ProxmoxOutcomeUnknownError,
  ProxmoxResponseError,
  ProxmoxTimeoutError,
  isLxcriError,
  throwIfAborted,
  InvalidArgumentError,
} from '../errors.js';
import { createRedactingLogger, silentLogger, type Logger } from '../logger.js';
import { AccessApi, ticketEndpoint, type TicketParams } from './api/access.js';
import { ClusterApi } from './api/cluster.js';
import type { CallOptions, Endpoint, RetryPolicy } from './api/endpoint.js';
import { LxcApi } from './api/lxc.js';
import { NodesApi } from './api/nodes.js';
import { retryPolicyFor } from './api/retry-policy.js';
import { StorageApi } from './api/storage.js';
import { TasksApi } from './api/tasks.js';
import { VersionApi } from './api/version.js';
import { resolveProxmoxClientOptions, type Clock, type ProxmoxClientOptions, type ResolvedProxmoxClientOptions, type Sleep } from './options.js';
import { choosePlacement, type Placement, type PlacementCriteria } from './placement.js';
import { AuthSession, type TicketResponse } from './transport/auth.js';
import { encodeForm, type Params } from './transport/encode.js';
import { fetchTransport } from './transport/fetch-transport.js';
import { isJsonMediaType, toHttpError } from './transport/http-error.js';
import { sanitizeCause } from './transport/network-error.js';
import { isTransport, type HttpMethod, type StreamBody, type Transport, type TransportResponse } from './transport/types.js';
import { VmidAllocator, type AllocateVmidOptions, type AllocateVmidResult, type CreateWithVmid } from './vmid.js';
import { timerSleep } from './wait-for-task.js';

const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/** Options of {@link ProxmoxClient.request}. */
export interface RequestOptions<T> extends CallOptions {
  /**
   * Whether the call may be re-sent on transient failures. Calls known not to be repeatable
   * (`…/resize`, `…/status/*`, migrate, snapshot, clone, create, upload, …) are never re-sent
   * after a lost answer, whatever this says.
   * @defaultValue true for GET and for writes known to be idempotent (a CT config PUT that
   *   allocates no volume); false otherwise
   */
  idempotent?: boolean;
  /** Validates `data` of the answer. @defaultValue `z.unknown()` */
  response?: z.ZodType<T>;
}

function shouldRetry(policy: RetryPolicy, error: unknown): boolean {
  if (policy === 'never' || !isLxcriError(error)) return false;
  if (policy === 'idempotent') {
    if (error instanceof ProxmoxHttpError || error instanceof ProxmoxNetworkError) return error.retryable;
    return error instanceof ProxmoxTimeoutError;
  }
  // not-executed: only failures that prove the request had no effect
  if (error instanceof ProxmoxHttpError) return error.notExecuted;
  if (error instanceof ProxmoxNetworkError) return NOT_SENT_CODES.has(String(error.details['reason']));
  return false;
}

/**
 * A Proxmox VE API client.
 *
 * @example
 * ```ts
 * const client = new ProxmoxClient({
 *   baseUrl: 'https://pve1:8006',
 *   auth: { type: 'token', tokenId: 'lxcri@pve!ci', secret: process.env.PVE_TOKEN! },
 *   tls: { fingerprint256: 'AA:BB:…' },
 * });
 * const { vmid, result: upid } = await client.allocateVmid((id, signal) =>
 *   client.lxc.create('pve1', { vmid: id, ostemplate: 'local:vztmpl/app.tar', net: [{ name: 'eth0', bridge: 'vmbr0', ip: 'dhcp' }] }, { signal }));
 * await client.tasks.wait(upid);
 * await client.close();
 * ```
 * @throws {@link InvalidOptionsError} from the constructor when options are invalid.
 */
export class ProxmoxClient {
  /** `GET /version`. */
  readonly version: VersionApi;
  /** `GET /nodes`. */
  readonly nodes: NodesApi;
  /** `/cluster/resources`, `/cluster/nextid`. */
  readonly cluster: ClusterApi;
  /** CT lifecycle. */
  readonly lxc: LxcApi;
  /** Storages, content, uploads. */
  readonly storage: StorageApi;
  /** Task status, log, wait. */
  readonly tasks: TasksApi;
  /** Tickets and login. */
  readonly access: AccessApi;

  readonly #options: ResolvedProxmoxClientOptions;
  readonly #secrets = new Set<string>();
  readonly #logger: Logger;
  readonly #clock: Clock;
  readonly #sleep: Sleep;
  readonly #transport: Transport;
  readonly #auth: AuthSession;
  readonly #vmids: VmidAllocator;

  constructor(options: ProxmoxClientOptions) {
    const resolved = resolveProxmoxClientOptions(options);
    this.#options = resolved;
    this.#logger = createRedactingLogger(resolved.logger ?? silentLogger, () => this.#secrets);
    this.#clock = resolved.clock ?? Date;
    this.#sleep = resolved.sleep ?? timerSleep;
    const transport = resolved.transport ?? fetchTransport();
    this.#transport = isTransport(transport) ? transport : transport({ tls: resolved.tls, logger: this.#logger });
    this.#auth = new AuthSession(
      resolved.auth,
      this.#secrets,
      this.#clock,
      (params, signal) => this.#send(ticketEndpoint(params as unknown as TicketParams), { signal, login: true }),
      Math.max(60_000, 3 * resolved.timeoutMs),
    );
    const send = <T>(endpoint: Endpoint<T>, callOptions?: CallOptions): Promise<T> => this.#send(endpoint, callOptions);
    this.version = new VersionApi(send);
    this.nodes = new NodesApi(send);
    this.cluster = new ClusterApi(send);
    this.lxc = new LxcApi(send);
    this.storage = new StorageApi(send);
    this.tasks = new TasksApi(send, { clock: this.#clock, sleep: this.#sleep, ...resolved.tasks });
    this.access = new AccessApi(
      async (params, o) => {
        const answer = await this.#send(ticketEndpoint(params), o);
        // whoever asked gets the ticket; our logs and errors must never show it
        this.#auth.remember(answer.ticket);
        this.#auth.remember(answer.CSRFPreventionToken);
        return answer;
      },
      (o) => this.#auth.login(this.#signalFor(o).signal),
    );
    this.#vmids = new VmidAllocator({
      options: resolved.vmid,
      sleep: this.#sleep,
      logger: this.#logger,
      nextid: (vmid, signal) => this.cluster.nextid({ ...(vmid === undefined ? {} : { vmid }), ...(signal ? { signal } : {}) }),
      usedIds: async (signal) => {
        const guests = await this.cluster.resources({ type: 'vm', ...(signal ? { signal } : {}) });
        return new Set(guests.map((g) => g.vmid).filter((v): v is number => v !== undefined));
      },
    });
  }

  /** The node URL this client talks to (no credentials). */
  get baseUrl(): string {
    return this.#options.baseUrl;
  }

  /**
   * Calls any API path (the escape hatch for endpoints without a typed group).
   *
   * @example
   * ```ts
   * const dns = await client.request('GET', '/nodes/pve1/dns');
   * ```
   */
  request<T = unknown>(method: HttpMethod, path: string, params?: Params, options: RequestOptions<T> = {}): Promise<T> {
    if (!path.startsWith('/') || path.includes('?') || path.includes('#')) {
      throw InvalidArgumentError.forField('path', `must start with / and carry no query (pass params): ${path}`);
    }
    const endpoint: Endpoint<T> = {
      method,
      path,
      ...(params ? { params } : {}),
      response: options.response ?? (z.unknown() as unknown as z.ZodType<T>),
      retry: retryPolicyFor(method, path, params, options.idempotent),
    };
    return this.#send(endpoint, options);
  }

  /**
   * Runs `create` with a free VMID: `nextid` + create serialised per client (or random ids in
   * the configured range), retried with a fresh id when PVE reports the id as taken.
   */
  allocateVmid<T>(create: CreateWithVmid<T>, options: AllocateVmidOptions = {}): Promise<AllocateVmidResult<T>> {
    return this.#vmids.allocate(create, options);
  }

  /** Chooses the online node with the most free memory that has `criteria.storage` with the content types. */
  async choosePlacement(criteria: PlacementCriteria, options: CallOptions = {}): Promise<Placement> {
    const resources = await this.cluster.resources(options);
    return choosePlacement(resources, criteria);
  }

  /** Closes pooled connections. */
  async close(): Promise<void> {
    await this.#transport.close();
  }

  /** `await using client = new ProxmoxClient(…)`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #signalFor(options: CallOptions | undefined, fallbackMs?: number): { signal: AbortSignal; timeout: AbortSignal; timeoutMs: number } {
    const timeoutMs = options?.timeoutMs ?? fallbackMs ?? this.#options.timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = options?.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    return { signal, timeout, timeoutMs };
  }

  async #send<T>(endpoint: Endpoint<T>, options: CallOptions & { login?: boolean } = {}): Promise<T> {
    try {
      return await this.#sendOnce(endpoint, options);
    } catch (error) {
      throw this.#outcome(endpoint, error, options.login === true);
    } finally {
      // a streamed body (upload) that was never sent, or only partly, must release its file now
      endpoint.body?.stream.stream.destroy();
    }
  }

  /**
   * A request that is not re-sent and got no answer may or may not have been carried out: say
   * so with {@link ProxmoxOutcomeUnknownError} instead of a plain network error or timeout.
   */
  #outcome(endpoint: Endpoint<unknown>, error: unknown, login: boolean): unknown {
    const policy = endpoint.body ? 'never' : endpoint.retry;
    if (policy === 'idempotent' || login || isLogin(endpoint)) return error;
    const lost =
      (error instanceof ProxmoxNetworkError && error.retryable && !NOT_SENT_CODES.has(String(error.details['reason']))) || error instanceof ProxmoxTimeoutError;
    if (!lost || !isLxcriError(error) || error.details['auth'] === true) return error;
    return new ProxmoxOutcomeUnknownError(
      `${endpoint.method} ${endpoint.path}: no answer (${error.message}); it may or may not have been carried out, and it is not re-sent automatically — check before trying again`,
      { method: endpoint.method, path: endpoint.path, reason: error.code },
      { cause: error },
    );
  }

  async #sendOnce<T>(endpoint: Endpoint<T>, options: CallOptions = {}): Promise<T> {
    const policy = endpoint.body ? 'never' : endpoint.retry;
    const retry = this.#options.retry;
    const secrets = (): string[] => [...this.#secrets, ...(endpoint.secrets ?? [])];
    const userSignal = options.signal;
    throwIfAborted(userSignal, `${endpoint.method} ${endpoint.path}`, { method: endpoint.method, path: endpoint.path });
    let attemptNo = 0;
    const run = async (): Promise<T> => {
      attemptNo++;
      const first = await this.#attempt(endpoint, options, attemptNo);
      let response = first.response;
      if (response.status === 401 && this.#auth.usesTicket && !isLogin(endpoint) && !endpoint.body) {
        // Tickets expire (2 h) or get invalidated; re-authenticate once and re-send.
        this.#logger.debug({ method: endpoint.method, path: endpoint.path }, '401 on a ticket session: re-authenticating once');
        this.#auth.invalidate(first.cookie);
        response = (await this.#attempt(endpoint, options, attemptNo)).response;
      }
      if (response.status < 200 || response.status >= 300) {
        const error = toHttpError(response, endpoint.method, endpoint.path, secrets());
        if (response.status === 401 && !isLogin(endpoint)) {
          throw new ProxmoxAuthError(
            `${endpoint.method} ${endpoint.path}: not authenticated as ${this.#auth.principal} (${response.status} ${error.statusText})`,
            { ...(this.#auth.kind === 'token' ? { tokenId: this.#auth.principal } : { username: this.#auth.principal }), status: 401, reason: error.statusText },
            { cause: error, secrets: secrets() },
          );
        }
        throw error;
      }
      return this.#decode(endpoint, response, secrets());
    };
    try {
      return await pRetry(run, {
        retries: policy === 'never' ? 0 : retry.retries,
        minTimeout: retry.minDelayMs,
        maxTimeout: retry.maxDelayMs,
        factor: 2,
        randomize: true,
        ...(userSignal ? { signal: userSignal } : {}),
        shouldRetry: ({ error }) => shouldRetry(policy, error),
        onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft > 0 && shouldRetry(policy, error)) {
            this.#logger.debug({ method: endpoint.method, path: endpoint.path, attempt: attemptNumber, error: error.message }, 'retrying Proxmox request');
          }
        },
      });
    } catch (error) {
      if (isLxcriError(error)) throw error;
      throwIfAborted(userSignal, `${endpoint.method} ${endpoint.path}`, { method: endpoint.method, path: endpoint.path });
      throw new LxcriError('ERR_INTERNAL', `${endpoint.method} ${endpoint.path} failed unexpectedly`, { method: endpoint.method, path: endpoint.path }, { cause: sanitizeCause(error), secrets: secrets() });
    }
  }

  async #attempt<T>(endpoint: Endpoint<T>, options: CallOptions, attempt: number): Promise<{ response: TransportResponse; cookie: string | undefined }> {
    const { signal, timeout, timeoutMs } = this.#signalFor(options);
    const method = endpoint.method;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (!isLogin(endpoint)) {
      try {
        Object.assign(headers, await this.#auth.headers(method, signal));
      } catch (error) {
        // a login slower than this request's deadline is a timeout, not a cancellation
        if (timeout.aborted && !options.signal?.aborted) {
          throw new ProxmoxTimeoutError(
            `${method} ${endpoint.path}: no ticket within ${timeoutMs} ms (login of ${this.#auth.principal} still running)`,
            { method, path: endpoint.path, timeoutMs, auth: true },
            { cause: error },
          );
        }
        throw error;
      }
    }
    let url = `${this.#options.baseUrl}/api2/json${endpoint.path}`;
    let body: string | StreamBody | undefined;
    if (endpoint.body) {
      headers['content-type'] = endpoint.body.contentType;
      body = endpoint.body.stream;
      const query = encodeForm(endpoint.params);
      if (query) url += `?${query}`;
    } else if (method === 'GET' || method === 'DELETE') {
      const query = encodeForm(endpoint.params);
      if (query) url += `?${query}`;
    } else {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = encodeForm(endpoint.params);
    }
    const started = performance.now();
    try {
      const response = await this.#transport.send({ method, url, headers, ...(body === undefined ? {} : { body }), signal });
      this.#logger.debug(
        { method, path: endpoint.path, status: response.status, ms: Math.round(performance.now() - started), attempt, transport: this.#transport.name },
        'proxmox request',
      );
      return { response, cookie: headers['cookie'] };
    } catch (error) {
      const ms = Math.round(performance.now() - started);
      this.#logger.debug({ method, path: endpoint.path, status: 0, ms, attempt, error: isLxcriError(error) ? error.code : 'unknown' }, 'proxmox request failed');
      if (timeout.aborted && !options.signal?.aborted) {
        throw new ProxmoxTimeoutError(`${method} ${endpoint.path}: no answer within ${timeoutMs} ms`, { method, path: endpoint.path, timeoutMs }, { cause: error });
      }
      throw error;
    }
  }

  #decode<T>(endpoint: Endpoint<T>, response: TransportResponse, secrets: string[]): T {
    const where = { method: endpoint.method, path: endpoint.path };
    if (!isJsonMediaType(response.headers['content-type'])) {
      throw new ProxmoxResponseError(`${endpoint.method} ${endpoint.path}: expected JSON, got ${response.headers['content-type'] ?? 'no content type'}`, where, { secrets });
    }
    let envelope: unknown;
    try {
      envelope = JSON.parse(response.body);
    } catch (error) {
      throw new ProxmoxResponseError(`${endpoint.method} ${endpoint.path}: malformed JSON`, where, { cause: error, secrets });
    }
    if (envelope === null || typeof envelope !== 'object' || !('data' in envelope)) {
      throw new ProxmoxResponseError(`${endpoint.method} ${endpoint.path}: answer has no data field`, where, { secrets });
    }
    const parsed = endpoint.response.safeParse((envelope as { data: unknown }).data);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
      throw new ProxmoxResponseError(
        `${endpoint.method} ${endpoint.path}: unexpected answer (${issues.map((i) => `${i.path || 'data'}: ${i.message}`).join('; ')})`,
        { ...where, issues },
        { secrets },
      );
    }
    return parsed.data;
  }
}

function isLogin(endpoint: Endpoint<unknown>): boolean {
  return endpoint.method === 'POST' && endpoint.path === '/access/ticket';
}

export type { TicketResponse };
