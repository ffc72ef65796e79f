/**
 * A client of one registry (OCI distribution spec 1.1, the pull side): manifests and blobs,
 * anonymous / Basic / Bearer authentication from the `WWW-Authenticate` challenge, redirects
 * (the `Authorization` header is dropped when the host changes), retries of idempotent GETs with
 * backoff (429 `Retry-After` respected), and resumable blob downloads (`Range`).
 *
 * Transport: undici `request()` on a per-client `Agent` (keep-alive pool, TLS verified by default,
 * an optional CA bundle), loaded from undici's own modules rather than its index (see
 * `./undici.ts`). Plain HTTP only for a registry the caller names as insecure.
 *
 * @module
 */
import { open, rm, stat, truncate } from 'node:fs/promises';
import { createHash, type Hash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import type { Readable } from 'node:stream';
import pRetry from 'p-retry';
import type { Agent, Dispatcher } from 'undici';
import { AbortedError, ImageError, isLxcriError, RegistryAuthError, RegistryError, type LxcriError } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { redactString } from '../../redact.js';
import { parseDigest } from '../image/digest.js';
import { MEDIA_TYPES } from '../image/media-types.js';
import { parseAuthChallenges, type AuthChallenge } from './challenge.js';
import type { RegistryCredentials } from './credentials.js';
import { undiciTransport, type UndiciTransport } from './undici.js';

/** The Accept list of manifest requests: OCI and Docker v2 manifests and indexes / manifest lists. */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifestList, MEDIA_TYPES.dockerManifest].join(', ');

/** Docker Hub's name in references and the host its API answers on. */
const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

/** The host the distribution API of a reference's domain answers on (`docker.io` → `registry-1.docker.io`). */
export function registryApiHost(domain: string): string {
  return domain === DOCKER_HUB || domain === 'index.docker.io' ? DOCKER_HUB_API : domain;
}

/** Retry policy of idempotent requests. */
export interface RegistryRetryOptions {
  /** Retries after the first attempt. @defaultValue 4 */
  retries: number;
  /** First backoff delay (ms). @defaultValue 200 */
  minDelayMs: number;
  /** Largest backoff delay (ms). @defaultValue 5000 */
  maxDelayMs: number;
  /** Largest `Retry-After` wait honoured (ms); a longer one fails with `TOOMANYREQUESTS`. @defaultValue 60000 */
  maxRetryAfterMs: number;
}

/** What {@link RegistryClient} needs (resolved; see `pullImageOptionsSchema` for the user-facing form). */
export interface RegistryClientOptions {
  /** The reference domain (`docker.io`, `localhost:5000`, `[::1]:5000`). */
  registry: string;
  /** Plain HTTP to this registry (only when the caller named it as insecure). */
  insecure: boolean;
  /** PEM CA certificates to trust instead of the system store. */
  ca?: string[] | undefined;
  /** Finds the credentials of a repository, or none (anonymous). Called at most once per repository. */
  credentials: (repository: string) => Promise<RegistryCredentials | undefined>;
  logger?: Logger | undefined;
  retry: RegistryRetryOptions;
  /** Time to wait for response headers (ms). */
  headersTimeoutMs: number;
  /** Longest pause between two body chunks (ms). */
  bodyTimeoutMs: number;
  /** Connections per origin. */
  connections: number;
  /** The `User-Agent` header. */
  userAgent: string;
}

/** A manifest or index as fetched (verified against its digest). */
export interface FetchedManifest {
  digest: string;
  mediaType: string;
  body: Buffer;
}

/** Progress of one blob download. */
export interface BlobProgress {
  /** Bytes of the blob written so far (including bytes resumed from an earlier attempt). */
  bytes: number;
  /** Bytes received over the network by this call. */
  received: number;
}

interface TokenEntry {
  token: string;
  expiresAt: number;
}

interface Response {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: URL;
}

const MAX_REDIRECTS = 5;
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
const MAX_ERROR_BODY = 64 * 1024;

function header(headers: Response['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v.join(', ') : v;
}

/** `Retry-After` in ms (seconds or an HTTP date); undefined when absent or unreadable. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

async function readLimited(body: Response['body'], limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Bytes collected before one `writev` of a blob download. */
const WRITE_BATCH = 1024 * 1024;

/**
 * Streams a response body into `file` (appending after `offset` bytes), hashing and counting as it
 * goes: chunks are gathered into batches of about 1 MiB written with one `writev`, and one batch
 * is written while the next is received. Throws an `ImageError` as soon as the body is longer than
 * `limit`. Returns the file's size.
 */
async function writeVerified(
  body: Readable,
  file: string,
  offset: number,
  limit: number,
  hash: Hash,
  onReceived: (bytes: number) => void,
  onProgress: (bytes: number) => void,
  what: string,
  digest: string,
  signal: AbortSignal,
): Promise<number> {
  const handle = await open(file, offset > 0 ? 'a' : 'w', 0o644);
  let size = offset;
  let batch: Buffer[] = [];
  let batchBytes = 0;
  let writing: Promise<void> | undefined;
  try {
    // 'data' events rather than async iteration: a TLS body comes in ~16 KiB chunks, and a
    // promise per chunk is a measurable share of a pull's CPU time.
    await new Promise<void>((resolve, reject) => {
      let settled = false;
      let ended = false;
      const finish = (error?: unknown): void => {
        if (settled) return;
        settled = true;
        body.off('data', onData);
        body.off('end', onEnd);
        body.off('error', finish);
        body.off('close', onClose);
        signal.removeEventListener('abort', onAbort);
        body.on('error', () => undefined); // a late error of a body given up on is not an uncaught one
        if (error === undefined) resolve();
        else reject(error as Error);
      };
      const startWrite = (): void => {
        const out = batch;
        const written = size;
        batch = [];
        batchBytes = 0;
        writing = handle.writev(out).then(
          () => {
            writing = undefined;
            onProgress(written);
            if (batchBytes >= WRITE_BATCH || (ended && batch.length > 0)) startWrite();
            else if (ended) finish();
            if (!ended && body.isPaused()) body.resume();
          },
          (error: unknown) => {
            writing = undefined;
            body.destroy();
            finish(error);
          },
        );
      };
      const onData = (chunk: Buffer): void => {
        size += chunk.length;
        if (size > limit) {
          body.destroy();
          finish(new ImageError(`${what} is larger than its descriptor says (${limit} bytes)`, { digest, reason: 'size mismatch' }));
          return;
        }
        hash.update(chunk);
        batch.push(chunk);
        batchBytes += chunk.length;
        onReceived(chunk.length);
        if (batchBytes >= WRITE_BATCH) {
          if (writing === undefined) startWrite();
          else body.pause();
        }
      };
      const onEnd = (): void => {
        ended = true;
        if (writing !== undefined) return;
        if (batch.length > 0) startWrite();
        else finish();
      };
      // a body destroyed without an 'end' (an abort, a reset) must settle this, also when it
      // happened before these listeners were attached (while the file was being opened)
      const onClose = (): void => {
        if (!ended) finish(body.errored ?? signal.reason ?? new Error('the connection closed before the blob ended'));
      };
      const onAbort = (): void => {
        body.destroy();
        finish(signal.reason);
      };
      body.on('data', onData);
      body.once('end', onEnd);
      body.once('error', finish);
      body.once('close', onClose);
      signal.addEventListener('abort', onAbort, { once: true });
      if (signal.aborted) onAbort();
      else if (body.destroyed) onClose();
    });
    // on the disk before the caller verifies and renames it into the store (as skopeo and
    // containerd do): a crash must not leave a blob of the right size with lost content
    await handle.datasync();
  } catch (error) {
    // A broken connection: keep what was received, so the next attempt resumes after it.
    if (!(error instanceof ImageError)) {
      await writing?.catch(() => undefined);
      if (batch.length > 0) await handle.writev(batch).catch(() => undefined);
    }
    throw error;
  } finally {
    await writing?.catch(() => undefined);
    await handle.close();
  }
  return size;
}

function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function* causes(error: unknown): Generator<unknown> {
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== undefined && current !== null; depth++) {
    yield current;
    current = typeof current === 'object' ? (current as { cause?: unknown }).cause : undefined;
  }
}

/**
 * A client of one registry. Create one per registry and pull; {@link close} frees its connections.
 */
export class RegistryClient {
  readonly registry: string;
  readonly #options: RegistryClientOptions;
  readonly #base: URL;
  readonly #agent: Agent;
  readonly #undici: UndiciTransport;
  readonly #logger: Logger;
  /** Bearer tokens by scope. */
  readonly #tokens = new Map<string, TokenEntry>();
  /** The last Bearer challenge seen (realm + service), so later scopes get a token before asking. */
  #bearer: { realm: string; service: string | undefined } | undefined;
  /** The registry asked for Basic auth. */
  #basic = false;
  readonly #credentials = new Map<string, Promise<RegistryCredentials | undefined>>();
  /** Credentials and tokens, scrubbed from every error message. */
  readonly #secrets = new Set<string>();

  constructor(options: RegistryClientOptions) {
    this.#options = options;
    this.registry = options.registry;
    this.#logger = options.logger ?? silentLogger;
    this.#base = new URL(`${options.insecure ? 'http' : 'https'}://${registryApiHost(options.registry)}`);
    this.#undici = undiciTransport();
    this.#agent = new this.#undici.Agent({
      connections: options.connections,
      keepAliveTimeout: 4000,
      // one TLS context for every connection of the pool: the CA bundle is parsed once, not per connection
      connect: { ...(options.ca ? { secureContext: createSecureContext({ ca: options.ca }) } : {}), rejectUnauthorized: true },
    });
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.#agent.close();
  }

  #credentialsFor(repository: string): Promise<RegistryCredentials | undefined> {
    let found = this.#credentials.get(repository);
    if (found === undefined) {
      found = this.#options.credentials(repository).then((c) => {
        if (c) {
          this.#secrets.add(c.password);
          this.#secrets.add(Buffer.from(`${c.username}:${c.password}`).toString('base64'));
        }
        return c;
      });
      this.#credentials.set(repository, found);
    }
    return found;
  }

  #error(message: string, details: ConstructorParameters<typeof RegistryError>[1], cause?: unknown): RegistryError {
    return new RegistryError(message, { registry: this.registry, ...details }, { ...(cause === undefined ? {} : { cause }), secrets: this.#secrets });
  }

  /**
   * Turns a socket-level failure into an `AbortedError` or a `RegistryError`. The TLS helpers
   * are imported here, on a failure: they load the Proxmox transport's option schemas (zod),
   * which a pull that succeeds never needs.
   */
  async #networkError(error: unknown, what: string, signal: AbortSignal): Promise<LxcriError> {
    for (const c of causes(error)) if (isLxcriError(c)) return c;
    const [{ isTlsTrustCode }, { sanitizeCause }] = await Promise.all([import('../../proxmox/transport/tls.js'), import('../../proxmox/transport/network-error.js')]);
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      if (reason instanceof DOMException && reason.name === 'TimeoutError') {
        return new RegistryError(`${what}: deadline exceeded`, { registry: this.registry, reason: 'deadline' }, { grpcStatus: 'DeadlineExceeded', cause: sanitizeCause(reason) });
      }
      return new AbortedError(`${what} was aborted`, { registry: this.registry }, { cause: sanitizeCause(reason) ?? reason });
    }
    let code: string | undefined;
    for (const c of causes(error)) {
      const v = typeof c === 'object' && c !== null ? (c as { code?: unknown }).code : undefined;
      if (typeof v === 'string') {
        code = v;
        if (isTlsTrustCode(v)) break;
      }
    }
    if (isTlsTrustCode(code)) {
      return this.#error(`${what}: TLS certificate of ${this.#base.host} not trusted (${code}); pass a CA (tls.ca / --ca)`, { reason: 'tls', retryable: false }, sanitizeCause(error));
    }
    const innermost = [...causes(error)].pop();
    const detail = innermost instanceof Error ? innermost.message : String(innermost);
    return this.#error(`${what}: connection failed (${code ?? detail})`, { reason: 'network', retryable: true }, sanitizeCause(error));
  }

  /** Reads a registry error body (`{"errors":[{"code","message"}]}`) into a RegistryError. */
  async #httpError(response: Response, what: string, details: { repository?: string; reference?: string }): Promise<LxcriError> {
    const status = response.statusCode;
    let registryCode: string | undefined;
    let registryMessage: string | undefined;
    try {
      const body = await readLimited(response.body, MAX_ERROR_BODY);
      const json = body && body.length > 0 ? (JSON.parse(body.toString('utf8')) as { errors?: { code?: unknown; message?: unknown }[] }) : undefined;
      const first = json?.errors?.[0];
      if (typeof first?.code === 'string') registryCode = first.code.slice(0, 64);
      if (typeof first?.message === 'string') registryMessage = first.message.slice(0, 300);
    } catch {
      // not a distribution error body
    }
    if (registryCode === undefined && status === 429) registryCode = 'TOOMANYREQUESTS';
    const retryable = status === 429 || status === 408 || status >= 500;
    const text = `${what}: ${status}${registryCode ? ` ${registryCode}` : ''}${registryMessage ? ` (${redactString(registryMessage, this.#secrets)})` : ''}`;
    const full = { registry: this.registry, ...details, status, ...(registryCode ? { registryCode } : {}), retryable };
    if (status === 401 || status === 403 || registryCode === 'UNAUTHORIZED' || registryCode === 'DENIED') {
      return new RegistryAuthError(text, full, { secrets: this.#secrets });
    }
    const error = new RegistryError(text, full, { secrets: this.#secrets });
    const retryAfter = parseRetryAfter(header(response.headers, 'retry-after'));
    if (retryAfter !== undefined) Object.defineProperty(error, 'retryAfterMs', { value: retryAfter });
    return error;
  }

  /** Runs an idempotent operation with retries (network failures, 5xx, 429 with `Retry-After`). */
  async #retry<T>(what: string, signal: AbortSignal, run: () => Promise<T>): Promise<T> {
    const { retry } = this.#options;
    const retryable = (error: unknown): boolean => (error instanceof RegistryError && error.retryable) || (error instanceof ImageError && error.details['reason'] === 'truncated');
    try {
      return await pRetry(run, {
        retries: retry.retries,
        minTimeout: retry.minDelayMs,
        maxTimeout: retry.maxDelayMs,
        factor: 2,
        randomize: true,
        signal,
        shouldRetry: ({ error }) => retryable(error),
        onFailedAttempt: async ({ error, attemptNumber, retriesLeft }) => {
          if (retriesLeft <= 0 || !retryable(error)) return;
          const after = (error as { retryAfterMs?: number }).retryAfterMs;
          this.#logger.debug({ registry: this.registry, what, attempt: attemptNumber, retryAfterMs: after, error: error.message }, 'retrying registry request');
          if (after !== undefined) {
            if (after > retry.maxRetryAfterMs) throw error;
            await abortableDelay(after, signal);
          }
        },
      });
    } catch (error) {
      if (isLxcriError(error)) throw error;
      throw await this.#networkError(error, what, signal);
    }
  }

  /** One GET following redirects; the Authorization header goes only to the registry's own origin. */
  async #get(url: URL, headers: Record<string, string>, signal: AbortSignal, what: string): Promise<Response> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const sameOrigin = current.origin === this.#base.origin;
      const sent: Record<string, string> = { 'user-agent': this.#options.userAgent, ...headers };
      if (!sameOrigin) delete sent['authorization'];
      let response: Dispatcher.ResponseData;
      try {
        response = await this.#undici.request(this.#agent, {
          origin: current.origin,
          path: `${current.pathname}${current.search}`,
          method: 'GET',
          headers: sent,
          signal,
          headersTimeout: this.#options.headersTimeoutMs,
          bodyTimeout: this.#options.bodyTimeoutMs,
        });
      } catch (error) {
        throw await this.#networkError(error, what, signal);
      }
      const location = header(response.headers, 'location');
      if ([301, 302, 303, 307, 308].includes(response.statusCode) && location) {
        await response.body.dump().catch(() => undefined);
        const next = new URL(location, current);
        if (next.protocol !== 'https:' && !(next.protocol === 'http:' && this.#options.insecure)) {
          throw this.#error(`${what}: redirect to a ${next.protocol} URL refused`, { reason: 'insecure redirect', retryable: false });
        }
        this.#logger.debug({ registry: this.registry, from: current.host, to: next.host }, 'following registry redirect');
        current = next;
        continue;
      }
      return { statusCode: response.statusCode, headers: response.headers, body: response.body, url: current };
    }
    throw this.#error(`${what}: more than ${MAX_REDIRECTS} redirects`, { reason: 'too many redirects', retryable: false });
  }

  /** The Authorization header for a scope, fetching a token when a Bearer challenge was seen before. */
  async #authorization(repository: string, scope: string, signal: AbortSignal): Promise<string | undefined> {
    if (this.#bearer) {
      const cached = this.#tokens.get(scope);
      if (cached && cached.expiresAt > Date.now()) return `Bearer ${cached.token}`;
      return `Bearer ${await this.#fetchToken(repository, scope, this.#bearer, signal)}`;
    }
    if (this.#basic) {
      const c = await this.#credentialsFor(repository);
      if (c) return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
    }
    return undefined;
  }

  /** Gets a Bearer token from the realm for a scope (Basic credentials when there are some, else anonymous). */
  async #fetchToken(repository: string, scope: string, challenge: { realm: string; service: string | undefined }, signal: AbortSignal): Promise<string> {
    let realm: URL;
    try {
      realm = new URL(challenge.realm);
    } catch (error) {
      throw new RegistryAuthError('the registry sent a Bearer challenge with an invalid realm', { registry: this.registry, reason: 'invalid realm' }, { cause: error });
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && (this.#options.insecure || realm.origin === this.#base.origin))) {
      throw new RegistryAuthError(`token realm ${realm.origin} is not HTTPS`, { registry: this.registry, reason: 'insecure realm' });
    }
    if (challenge.service !== undefined) realm.searchParams.set('service', challenge.service);
    realm.searchParams.append('scope', scope);
    const credentials = await this.#credentialsFor(repository);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (credentials) headers['authorization'] = `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
    const what = `token for ${scope}`;
    return this.#retry(what, signal, async () => {
      let response: Dispatcher.ResponseData;
      try {
        response = await this.#undici.request(this.#agent, {
          origin: realm.origin,
          path: `${realm.pathname}${realm.search}`,
          method: 'GET',
          headers: { 'user-agent': this.#options.userAgent, ...headers },
          signal,
          headersTimeout: this.#options.headersTimeoutMs,
          bodyTimeout: this.#options.bodyTimeoutMs,
        });
      } catch (error) {
        throw await this.#networkError(error, what, signal);
      }
      const resp: Response = { statusCode: response.statusCode, headers: response.headers, body: response.body, url: realm };
      if (response.statusCode !== 200) {
        const error = await this.#httpError(resp, `token service ${realm.host}`, { repository });
        if (response.statusCode === 401 || response.statusCode === 403) {
          throw new RegistryAuthError(`token service ${realm.host} refused ${credentials ? 'the credentials' : 'anonymous access'} for ${scope} (${response.statusCode})`, {
            registry: this.registry,
            repository,
            status: response.statusCode,
            reason: 'token refused',
          }, { cause: error, secrets: this.#secrets });
        }
        throw error;
      }
      const body = await readLimited(response.body, MAX_ERROR_BODY);
      let json: { token?: unknown; access_token?: unknown; expires_in?: unknown; issued_at?: unknown } | undefined;
      try {
        json = body ? (JSON.parse(body.toString('utf8')) as typeof json) : undefined;
      } catch {
        json = undefined;
      }
      const token = typeof json?.token === 'string' && json.token !== '' ? json.token : typeof json?.access_token === 'string' ? json.access_token : undefined;
      if (!token) throw new RegistryAuthError(`token service ${realm.host} answered without a token`, { registry: this.registry, reason: 'invalid token response' });
      this.#secrets.add(token);
      const expiresIn = typeof json?.expires_in === 'number' && json.expires_in > 0 ? json.expires_in : 60;
      // Renew a little early; a token that lives under 20 s is used once and asked for again.
      this.#tokens.set(scope, { token, expiresAt: Date.now() + Math.max(0, expiresIn - 10) * 1000 });
      return token;
    });
  }

  /** Learns from a 401 challenge how to authenticate; false when nothing more can be tried. */
  async #learn(challenges: AuthChallenge[], repository: string, scope: string, signal: AbortSignal): Promise<boolean> {
    const bearer = challenges.find((c) => c.scheme === 'bearer');
    if (bearer?.params['realm']) {
      const next = { realm: bearer.params['realm'], service: bearer.params['service'] };
      const wanted = bearer.params['scope'] ?? scope;
      this.#bearer = next;
      this.#tokens.delete(wanted);
      await this.#fetchToken(repository, wanted, next, signal);
      if (wanted !== scope) {
        const t = this.#tokens.get(wanted);
        if (t) this.#tokens.set(scope, t);
      }
      return true;
    }
    if (challenges.some((c) => c.scheme === 'basic')) {
      if (this.#basic) return false;
      this.#basic = true;
      return (await this.#credentialsFor(repository)) !== undefined;
    }
    return false;
  }

  /**
   * An authenticated GET of a registry path (with redirects). A 401 is answered once by the
   * challenge's scheme; a second 401 is a {@link RegistryAuthError}. Returns any other response.
   */
  async #authedGet(repository: string, path: string, headers: Record<string, string>, signal: AbortSignal, what: string): Promise<Response> {
    const scope = `repository:${repository}:pull`;
    const url = new URL(path, this.#base);
    for (let round = 0; ; round++) {
      const authorization = await this.#authorization(repository, scope, signal);
      const response = await this.#get(url, { ...headers, ...(authorization ? { authorization } : {}) }, signal, what);
      if (response.statusCode !== 401) return response;
      const challenges = parseAuthChallenges(header(response.headers, 'www-authenticate'));
      if (round === 0 && (await this.#learn(challenges, repository, scope, signal))) {
        await response.body.dump().catch(() => undefined);
        continue;
      }
      const credentials = await this.#credentialsFor(repository);
      const error = await this.#httpError(response, what, { repository });
      throw new RegistryAuthError(`${what}: not authorized${credentials ? ` as ${credentials.username}` : ' (no credentials for this registry)'}`, {
        registry: this.registry,
        repository,
        status: 401,
        ...(error instanceof RegistryAuthError && error.registryCode ? { registryCode: error.registryCode } : {}),
      }, { cause: error, secrets: this.#secrets });
    }
  }

  /**
   * GETs a manifest or index by tag or digest and verifies it: against the digest of the
   * reference when it has one, else against `Docker-Content-Digest` when the registry sends it.
   */
  async getManifest(repository: string, reference: string, signal: AbortSignal): Promise<FetchedManifest> {
    const what = `manifest ${this.registry}/${repository}:${reference}`;
    return this.#retry(what, signal, async () => {
      const response = await this.#authedGet(repository, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, signal, what);
      if (response.statusCode !== 200) throw await this.#httpError(response, what, { repository, reference });
      let body: Buffer | undefined;
      try {
        body = await readLimited(response.body, MAX_MANIFEST_BYTES);
      } catch (error) {
        throw await this.#networkError(error, what, signal);
      }
      if (body === undefined) throw new ImageError(`${what} is larger than ${MAX_MANIFEST_BYTES} bytes`, { reference, reason: 'too large' });
      const expected = reference.includes(':') ? reference : header(response.headers, 'docker-content-digest');
      const algorithm = expected ? parseDigest(expected, 'manifest digest').algorithm : 'sha256';
      const digest = `${algorithm}:${createHash(algorithm).update(body).digest('hex')}`;
      if (expected !== undefined && digest !== expected) {
        throw new ImageError(`${what} does not match its digest ${expected}: got ${digest}`, { reference, digest: expected, reason: 'digest mismatch' });
      }
      let mediaType = (header(response.headers, 'content-type') ?? '').split(';')[0]?.trim() ?? '';
      try {
        const declared = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType;
        if (typeof declared === 'string' && declared !== '') mediaType = declared;
      } catch {
        throw new ImageError(`${what} is not valid JSON`, { reference, reason: 'invalid JSON' });
      }
      return { digest, mediaType, body };
    });
  }

  /**
   * Downloads a blob into `partial` and verifies its size and digest. Bytes already in `partial`
   * (from an interrupted download) are kept and only the rest is asked for (`Range`), when the
   * registry supports it; otherwise the download starts over. A digest mismatch removes `partial`
   * and throws an `ImageError` (`reason: 'digest mismatch'`); it is never retried.
   */
  async fetchBlob(repository: string, descriptor: { digest: string; size: number }, partial: string, signal: AbortSignal, onProgress?: (p: BlobProgress) => void): Promise<void> {
    const what = `blob ${descriptor.digest}`;
    const { algorithm } = parseDigest(descriptor.digest, 'blob digest');
    let received = 0;
    await this.#retry(what, signal, async () => {
      let offset = (await stat(partial).catch(() => undefined))?.size ?? 0;
      if (offset > descriptor.size) {
        await truncate(partial, 0);
        offset = 0;
      }
      const headers: Record<string, string> = {};
      if (offset > 0 && offset < descriptor.size) headers['range'] = `bytes=${offset}-`;
      if (offset === descriptor.size && offset > 0) {
        if (await this.#verifyFile(partial, descriptor, algorithm)) return;
        await truncate(partial, 0);
        offset = 0;
      }
      const response = await this.#authedGet(repository, `/v2/${repository}/blobs/${descriptor.digest}`, headers, signal, what);
      let resumeFrom = 0;
      if (response.statusCode === 206 && offset > 0) {
        const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response.headers, 'content-range') ?? '');
        if (range && Number(range[1]) === offset) {
          resumeFrom = offset;
        } else {
          await response.body.dump().catch(() => undefined);
          await truncate(partial, 0);
          throw this.#error(`${what}: the registry answered the range request with another range`, { repository, reason: 'bad range', retryable: true });
        }
      } else if (response.statusCode !== 200) {
        throw await this.#httpError(response, what, { repository, reference: descriptor.digest });
      }
      const hash = createHash(algorithm);
      if (resumeFrom > 0) await this.#hashPrefix(partial, resumeFrom, hash);
      let size = resumeFrom;
      const limit = descriptor.size;
      try {
        const onReceived = (bytes: number): void => {
          received += bytes;
        };
        size = await writeVerified(response.body, partial, resumeFrom, limit, hash, onReceived, (bytes) => onProgress?.({ bytes, received }), what, descriptor.digest, signal);
      } catch (error) {
        if (error instanceof ImageError) {
          await rm(partial, { force: true });
          throw error;
        }
        // the bytes written so far stay in `partial`: the next attempt (or pull) resumes there
        throw await this.#networkError(error, what, signal);
      }
      if (size < limit) {
        throw new ImageError(`${what} ended after ${size} of ${limit} bytes`, { digest: descriptor.digest, reason: 'truncated' });
      }
      const actual = `${algorithm}:${hash.digest('hex')}`;
      if (actual !== descriptor.digest) {
        await rm(partial, { force: true });
        throw new ImageError(`${what} from ${this.registry}/${repository} does not match its digest: got ${actual}`, { digest: descriptor.digest, reason: 'digest mismatch' });
      }
    });
  }

  async #hashPrefix(file: string, length: number, hash: Hash): Promise<void> {
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.allocUnsafe(1024 * 1024);
      let position = 0;
      while (position < length) {
        const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, length - position), position);
        if (bytesRead === 0) break;
        hash.update(buffer.subarray(0, bytesRead));
        position += bytesRead;
      }
    } finally {
      await handle.close();
    }
  }

  async #verifyFile(file: string, descriptor: { digest: string; size: number }, algorithm: string): Promise<boolean> {
    const hash = createHash(algorithm);
    await this.#hashPrefix(file, descriptor.size, hash);
    return `${algorithm}:${hash.digest('hex')}` === descriptor.digest;
  }
}
