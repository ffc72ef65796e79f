/**
 * The simulator's core request handler, shared by the HTTPS server and the msw handlers: takes a
 * method, path, headers and body stream and returns PVE's answer (status line text, JSON envelope),
 * after fault injection, authentication (tickets with CSRF, API tokens), body decoding (form with
 * `&` and `;`, JSON, multipart for uploads) and parameter verification.
 *
 * @module
 */
import { redact } from '../redact.js';
import { PveApiError, paramError } from './api-error.js';
import { ENDPOINTS, type Endpoint, type EndpointAuth, type EndpointResult } from './endpoints/index.js';
import { authenticate, checkCsrf } from './authenticate.js';
import { MAX_POST_BYTES, decodeBodyParams, decodeUrlencoded, readBody, safeDecode } from './request-body.js';
import type { PveRequestLogEntry, PveSimulatorState } from './state.js';
import { validateParams, type RawParamValue } from './validate-params.js';

/** A request as the core handler takes it. */
export interface PveSimulatorRequest {
  method: string;
  /** Path and query, e.g. `/api2/json/nodes?type=node`. */
  url: string;
  /** Request headers, lower-case names. */
  headers: Readonly<Record<string, string | undefined>>;
  /** The body as a byte stream (`null` when there is none). */
  body: AsyncIterable<Uint8Array> | null;
}

/** The core handler's answer. */
export interface PveSimulatorResponse {
  status: number;
  /** The reason phrase: PVE puts the (first line of the) error message here. */
  statusText: string;
  headers: Record<string, string>;
  body: string;
  /** When true the front end must close the connection without answering. */
  drop?: boolean;
}

const API_PREFIX = '/api2/json';

function respond(status: number, statusText: string, body: Record<string, unknown>): PveSimulatorResponse {
  return {
    status,
    statusText,
    headers: {
      'content-type': 'application/json;charset=UTF-8',
      'cache-control': 'max-age=0',
      pragma: 'no-cache',
      server: 'pve-api-daemon/3.0',
    },
    body: JSON.stringify(body),
  };
}

function errorResponse(error: PveApiError): PveSimulatorResponse {
  const message = error.message.endsWith('\n') ? error.message : `${error.message}\n`;
  return respond(error.status, message.split('\n')[0] ?? '', {
    data: null,
    message,
    ...(error.errors ? { errors: error.errors } : {}),
  });
}

// ---------------------------------------------------------------------------------------------
// one request in flight

/** A request being answered: what every step reads, and its entry in the request log. */
interface Exchange {
  state: PveSimulatorState;
  request: PveSimulatorRequest;
  /** Upper-case method. */
  method: string;
  url: URL;
  /** The path after `/api2/json` (`undefined` outside the API). */
  apiPath: string | undefined;
  entry: PveRequestLogEntry;
  /** `performance.now()` when the request arrived. */
  started: number;
  /** The body was handed to a reader (else `finish` drains it). */
  bodyTaken: boolean;
}

/** An answer decided before the endpoint ran (faults), with what to note in the request log. */
interface Reply {
  response: PveSimulatorResponse;
  extra?: Partial<PveRequestLogEntry>;
}

/**
 * Handles one request against the state and returns PVE's answer. Never throws for a bad request;
 * unexpected internal failures become 500 answers.
 *
 * The steps: log the request, request-level faults, routing, authentication, CSRF, parameters
 * (body, query, path), the node-offline fault, parameter verification and dispatch, the reply
 * (or a lost one). A step refuses by throwing a `PveApiError`, answered as PVE would.
 */
export async function handlePveRequest(state: PveSimulatorState, request: PveSimulatorRequest): Promise<PveSimulatorResponse> {
  const exchange = openExchange(state, request);
  try {
    const reply = await serve(exchange);
    return await finish(exchange, reply.response, reply.extra);
  } catch (error) {
    if (error instanceof PveApiError) {
      if (error.status === 401) await delayAuthFailure(exchange);
      return finish(exchange, errorResponse(error));
    }
    state.logger.error({ err: error, path: exchange.apiPath }, 'simulator handler failed');
    return finish(exchange, errorResponse(new PveApiError(500, `internal simulator error: ${error instanceof Error ? error.message : String(error)}\n`)));
  }
}

async function serve(exchange: Exchange): Promise<Reply> {
  const { apiPath } = exchange;
  if (apiPath === undefined) return { response: respond(404, 'Not Found', { data: null, message: 'Not Found\n' }) };
  const logicalPath = safeDecode(apiPath);
  const faulted = await takeRequestFaults(exchange, logicalPath);
  if (faulted) return faulted;
  const { endpoint, pathParams } = route(exchange, apiPath, logicalPath);
  const auth = authenticate(exchange.state, exchange.request.headers, endpoint, apiPath);
  checkCsrf(exchange.state, exchange.request.headers, exchange.method, endpoint, auth);
  logAuth(exchange, auth);
  const { params, uploadStream } = await collectParams(exchange, endpoint, pathParams);
  // pveproxy proxies node-bound calls to the node: an offline node gives 595/596.
  const node = pathParams['node'];
  const offline = takeNodeOfflineFault(exchange, endpoint, node);
  if (offline) return offline;
  const result = await dispatch(exchange, endpoint, params, uploadStream, auth, node);
  return reply(exchange, result, logicalPath);
}

/** Parses the URL and opens the request's log entry (completed by `finish`). */
function openExchange(state: PveSimulatorState, request: PveSimulatorRequest): Exchange {
  const method = request.method.toUpperCase();
  const started = performance.now();
  const url = new URL(request.url, 'https://simulator.invalid');
  const fullPath = url.pathname;
  const apiPath = fullPath.startsWith(`${API_PREFIX}/`) ? fullPath.slice(API_PREFIX.length) : fullPath === API_PREFIX ? '/' : undefined;
  const entry = state.logRequest({
    time: state.clock.now(),
    method,
    path: safeDecode(apiPath ?? fullPath),
    params: {},
    auth: { kind: 'none' },
    status: 0,
    statusText: '',
  });
  return { state, request, method, url, apiPath, entry, started, bodyTaken: false };
}

/** Completes the log entry. An early answer (auth, routing) still reads the body to the end, so the sender is not left hanging. */
async function finish(exchange: Exchange, response: PveSimulatorResponse, extra: Partial<PveRequestLogEntry> = {}): Promise<PveSimulatorResponse> {
  const { request, entry } = exchange;
  if (!exchange.bodyTaken && !response.drop && request.body) {
    exchange.bodyTaken = true;
    await readBody(request.body, 0).catch(() => undefined);
  }
  Object.assign(entry, { status: response.status, statusText: response.statusText }, extra);
  if (response.drop) entry.dropped = true;
  return response;
}

/** pveproxy answers a 401 only `3 - elapsed` seconds after the request began (AnyEvent.pm). */
function delayAuthFailure({ state, started }: Exchange): Promise<void> {
  return state.sleep(Math.max(0, state.options.authFailureDelayMs - (performance.now() - started)));
}

/** Notes who called in the request log. */
function logAuth({ entry }: Exchange, auth: EndpointAuth): void {
  entry.auth = {
    kind: auth.kind,
    ...(auth.userid ? { userid: auth.userid } : {}),
    ...(auth.tokenId ? { tokenId: auth.tokenId } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// faults

function matchesFault(match: { method?: string; path?: string | RegExp } | undefined, method: string, path: string): boolean {
  if (!match) return true;
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.path === undefined) return true;
  return typeof match.path === 'string' ? match.path === path : match.path.test(path);
}

/** Request-level faults, checked before anything else: latency, a dropped connection, an HTTP error. */
async function takeRequestFaults({ state, method, entry }: Exchange, logicalPath: string): Promise<Reply | undefined> {
  const latency = state.takeFault('latency', (f) => matchesFault(f.match, method, logicalPath));
  if (latency) {
    entry.fault = 'latency';
    await state.sleep(latency.delayMs);
  }
  if (state.takeFault('drop-connection', (f) => matchesFault(f.match, method, logicalPath))) {
    return { response: { ...respond(0, '', {}), drop: true }, extra: { fault: 'drop-connection' } };
  }
  const httpFault = state.takeFault('http-error', (f) => matchesFault(f.match, method, logicalPath));
  if (httpFault) {
    return { response: errorResponse(new PveApiError(httpFault.status, httpFault.message, httpFault.errors)), extra: { fault: 'http-error' } };
  }
  return undefined;
}

/** The node-offline fault of a call pveproxy forwards to `{node}`. */
function takeNodeOfflineFault({ state }: Exchange, endpoint: Endpoint, node: string | undefined): Reply | undefined {
  if (node === undefined || !endpoint.proxied) return undefined;
  const offline = state.takeFault('node-offline', (f) => f.node === node);
  if (!offline) return undefined;
  const status = offline.status ?? 595;
  return { response: errorResponse(new PveApiError(status, status === 595 ? 'Connection refused\n' : 'Broken pipe\n')), extra: { fault: 'node-offline' } };
}

// ---------------------------------------------------------------------------------------------
// routing

function matchEndpoint(path: string): { endpoint: Endpoint; pathParams: Record<string, string> }[] {
  const segments = path.split('/').slice(1);
  const matches: { endpoint: Endpoint; pathParams: Record<string, string> }[] = [];
  for (const endpoint of ENDPOINTS) {
    const template = endpoint.rules.path.split('/').slice(1);
    // `{volume}` may hold unencoded slashes (`local:vztmpl/x.tar.zst`): it takes the rest of the path.
    const rest = template[template.length - 1] === '{volume}' && segments.length > template.length;
    const parts = rest ? [...segments.slice(0, template.length - 1), segments.slice(template.length - 1).join('/')] : segments;
    if (template.length !== parts.length) continue;
    const pathParams: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < template.length; i++) {
      const t = template[i] ?? '';
      const s = parts[i] ?? '';
      if (t.startsWith('{')) {
        if (s === '') {
          ok = false;
          break;
        }
        try {
          pathParams[t.slice(1, -1)] = decodeURIComponent(s);
        } catch {
          pathParams[t.slice(1, -1)] = s;
        }
      } else if (t !== s) {
        ok = false;
        break;
      }
    }
    if (ok) matches.push({ endpoint, pathParams });
  }
  return matches;
}

/** The endpoint serving this method and path in the imitated release, or 501. */
function route({ state, method }: Exchange, apiPath: string, logicalPath: string): { endpoint: Endpoint; pathParams: Record<string, string> } {
  // endpoints newer than the imitated release do not exist there
  const found = matchEndpoint(apiPath).find(
    (m) => m.endpoint.rules.method === method && (m.endpoint.rules.since === undefined || m.endpoint.rules.since === state.version || state.version === '9.1'),
  );
  if (!found) {
    const text = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'].includes(method) ? `Method '${method} ${logicalPath}' not implemented` : `method '${method}' not available`;
    throw new PveApiError(501, `${text}\n`);
  }
  return found;
}

// ---------------------------------------------------------------------------------------------
// parameters, dispatch, reply

/**
 * Parameters: body, then query (overrides), then the path (conflicts are refused). An upload's
 * body is left to the endpoint (multipart, streamed).
 */
async function collectParams(
  exchange: Exchange,
  endpoint: Endpoint,
  pathParams: Record<string, string>,
): Promise<{ params: Record<string, RawParamValue>; uploadStream: AsyncIterable<Uint8Array> | null }> {
  const { request, method, url, entry } = exchange;
  const params: Record<string, RawParamValue> = {};
  let uploadStream: AsyncIterable<Uint8Array> | null = null;
  if (endpoint.upload) {
    exchange.bodyTaken = true;
    uploadStream = request.body;
  } else {
    if (Number(request.headers['content-length'] ?? 0) > MAX_POST_BYTES) throw new PveApiError(501, 'for data too large\n');
    exchange.bodyTaken = true;
    const raw = await readBody(request.body, MAX_POST_BYTES);
    if (raw === 'too-large') throw new PveApiError(501, 'for data too large\n');
    Object.assign(params, decodeBodyParams(raw, method, request.headers['content-type']));
  }
  Object.assign(params, decodeUrlencoded(url.search.slice(1)));
  for (const [key, value] of Object.entries(pathParams)) {
    if (params[key] !== undefined && String(params[key]) !== value) {
      // PVE's rest handler: raise_param_exc({ <param> => … })
      throw paramError({ [key]: 'duplicate parameter (already defined in URI) with conflicting values!' });
    }
    params[key] = value;
  }
  entry.params = redact(params) as Record<string, unknown>;
  return { params, uploadStream };
}

/**
 * Runs the endpoint: an upload with its raw parameters and body stream (it verifies them itself
 * once the multipart fields are read); anything else with verified parameters, on a known node.
 */
async function dispatch(
  { state, request, entry }: Exchange,
  endpoint: Endpoint,
  params: Record<string, RawParamValue>,
  uploadStream: AsyncIterable<Uint8Array> | null,
  auth: EndpointAuth,
  node: string | undefined,
): Promise<EndpointResult> {
  if (endpoint.upload) {
    const logFields = (fields: Record<string, unknown>): void => {
      entry.params = { ...entry.params, ...(redact(fields) as Record<string, unknown>) };
    };
    return endpoint.handle({ state, params: {}, raw: params, auth, upload: { headers: request.headers, body: uploadStream, logFields } });
  }
  const { values, errors } = validateParams(endpoint.rules.params, params, state.version);
  if (Object.keys(errors).length > 0) throw paramError(errors);
  if (node !== undefined && endpoint.proxied && !state.nodes.some((n) => n.name === node)) {
    throw new PveApiError(500, `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known\n`);
  }
  return endpoint.handle({ state, params: values, raw: params, auth });
}

/** The 200 answer (`data` plus extra top-level fields), unless a `lose-response` fault swallows it. */
function reply({ state, method }: Exchange, result: EndpointResult, logicalPath: string): Reply {
  const response = respond(200, 'OK', { data: result.data ?? null, ...(result.extra ?? {}) });
  const extra: Partial<PveRequestLogEntry> = result.upid ? { upid: result.upid } : {};
  if (state.takeFault('lose-response', (f) => matchesFault(f.match, method, logicalPath))) {
    return { response: { ...response, drop: true }, extra: { ...extra, fault: 'lose-response' } };
  }
  return { response, extra };
}
