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
import { ENDPOINTS, type Endpoint, type EndpointAuth } from './endpoints/index.js';
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

/** PVE's limit on urlencoded/JSON bodies (`$limit_max_post`). */
const MAX_POST_BYTES = 512 * 1024;
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

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Decodes an urlencoded body the way pveproxy does: pairs split on `&` and `;`, key and value on the first `=`. */
export function decodeUrlencoded(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(/[&;]/)) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const rawKey = eq < 0 ? pair : pair.slice(0, eq);
    // Perl's split(/=/, $kv) keeps only the text up to a second '='.
    const rest = eq < 0 ? '' : pair.slice(eq + 1);
    const second = rest.indexOf('=');
    const rawValue = second < 0 ? rest : rest.slice(0, second);
    const decode = (s: string): string => {
      const plus = s.replace(/\+/g, ' ');
      try {
        return decodeURIComponent(plus);
      } catch {
        return plus;
      }
    };
    const key = decode(rawKey);
    const value = decode(rawValue);
    out[key] = out[key] === undefined ? value : `${out[key]}\0${value}`;
  }
  return out;
}

async function readBody(body: AsyncIterable<Uint8Array> | null, limit: number): Promise<Buffer | 'too-large'> {
  if (!body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let size = 0;
  // Read to the end even past the limit (discarding), so the sender is never left hanging.
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size <= limit) chunks.push(Buffer.from(chunk));
  }
  return size > limit ? 'too-large' : Buffer.concat(chunks);
}

function matchEndpoint(path: string): { matches: { endpoint: Endpoint; pathParams: Record<string, string> }[] } {
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
  return { matches };
}

function matchesFault(match: { method?: string; path?: string | RegExp } | undefined, method: string, path: string): boolean {
  if (!match) return true;
  if (match.method !== undefined && match.method.toUpperCase() !== method) return false;
  if (match.path === undefined) return true;
  return typeof match.path === 'string' ? match.path === path : match.path.test(path);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/** Authentication outcome: who, or the 401/403 to answer. */
type AuthOutcome = { ok: true; auth: EndpointAuth } | { ok: false; error: PveApiError };

function authenticate(state: PveSimulatorState, request: PveSimulatorRequest, endpoint: Endpoint, method: string, apiPath: string): AuthOutcome {
  const unified = state.authErrorStyle === 'unified';
  const authorization = request.headers['authorization'];
  const tokenMatch = authorization ? /^PVEAPIToken[= ]([^!\s]+)!([^=\s]+)=(\S+)$/.exec(authorization.trim()) : null;
  if (tokenMatch) {
    const [, userid = '', name = '', secret = ''] = tokenMatch;
    const user = state.users.get(userid);
    const token = user?.tokens.find((t) => t.name === name);
    let failure: string | undefined;
    if (!user) failure = `no such user ('${userid}')`;
    else if (!token) failure = `no such token '${name}' for user '${userid}'`;
    else if (token.expire !== 0 && token.expire < state.clock.now() / 1000) failure = `token '${name}' access expired`;
    else if (token.secret !== secret) failure = 'invalid token value!';
    if (failure !== undefined) return { ok: false, error: new PveApiError(401, unified ? 'Authentication failed!\n' : `${failure}\n`) };
    if (!endpoint.rules.allowToken) {
      return {
        ok: false,
        error: new PveApiError(403, `Permission check failed (URI '${apiPath}' not available with API token, need proper ticket.\n)`),
      };
    }
    return { ok: true, auth: { kind: 'token', userid, tokenId: `${userid}!${name}`, authId: `${userid}!${name}` } };
  }
  if (endpoint.noAuth) return { ok: true, auth: { kind: 'none', userid: '', authId: '' } };
  // pveproxy uri-unescapes the auth value (`extract_auth_value`).
  const rawTicket =
    cookieValue(request.headers['cookie'], 'PVEAuthCookie') ??
    (authorization?.startsWith('PVEAuthCookie=') ? authorization.slice('PVEAuthCookie='.length) : undefined);
  const ticket = rawTicket === undefined ? undefined : safeDecode(rawTicket);
  if (ticket === undefined || ticket === '') return { ok: false, error: new PveApiError(401, 'No ticket\n') };
  const userid = state.verifyTicket(ticket);
  if (userid === undefined || userid.startsWith('!tfa!') || !state.users.has(userid)) {
    return { ok: false, error: new PveApiError(401, unified ? 'Authentication failed!\n' : 'permission denied - invalid PVE ticket\n') };
  }
  if (method !== 'GET' && !endpoint.skipCsrf && !state.verifyCsrfToken(request.headers['csrfpreventiontoken'], userid)) {
    return { ok: false, error: new PveApiError(401, 'Permission denied - invalid csrf token\n') };
  }
  return { ok: true, auth: { kind: 'ticket', userid, authId: userid } };
}

/**
 * Handles one request against the state and returns PVE's answer. Never throws for a bad request;
 * unexpected internal failures become 500 answers.
 */
/**
 * JSON::XS's text for a body `decode_json` refuses (without Perl's ` at FILE line N.` suffix):
 * `malformed JSON string, neither tag, array, object, number, string or atom, at character offset
 * N (before "…")`, or `unexpected end of string while parsing JSON string` style texts for
 * truncated input.
 */
function jsonXsError(text: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const at = /position (\d+)/.exec(message);
  const token = /Unexpected token '(.)'/.exec(message)?.[1];
  const offset = at ? Number(at[1]) : /end of JSON/i.test(message) ? text.length : token !== undefined ? Math.max(0, text.indexOf(token)) : 0;
  const rest = text.slice(offset);
  const before = rest === '' ? '(end of string)' : rest.length > 24 ? `${rest.slice(0, 24)}...` : rest;
  if (rest === '' && offset > 0) return `unexpected end of string while parsing JSON string, at character offset ${offset} (before "${before}")`;
  return `malformed JSON string, neither tag, array, object, number, string or atom, at character offset ${offset} (before "${before}")`;
}

export async function handlePveRequest(state: PveSimulatorState, request: PveSimulatorRequest): Promise<PveSimulatorResponse> {
  const method = request.method.toUpperCase();
  const started = performance.now();
  // pveproxy answers a 401 only `3 - elapsed` seconds after the request began (AnyEvent.pm)
  const delayAuthFailure = (): Promise<void> => state.sleep(Math.max(0, state.options.authFailureDelayMs - (performance.now() - started)));
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
  let bodyTaken = false;
  const finish = async (response: PveSimulatorResponse, extra: Partial<PveRequestLogEntry> = {}): Promise<PveSimulatorResponse> => {
    // An early answer (auth, routing) still reads the body to the end, so the sender is not left hanging.
    if (!bodyTaken && !response.drop && request.body) {
      bodyTaken = true;
      await readBody(request.body, 0).catch(() => undefined);
    }
    Object.assign(entry, { status: response.status, statusText: response.statusText }, extra);
    if (response.drop) entry.dropped = true;
    return response;
  };
  try {
    if (apiPath === undefined) return finish(respond(404, 'Not Found', { data: null, message: 'Not Found\n' }));
    const logicalPath = safeDecode(apiPath);

    // Request-level faults, checked before anything else.
    const latency = state.takeFault('latency', (f) => matchesFault(f.match, method, logicalPath));
    if (latency) {
      entry.fault = 'latency';
      await state.sleep(latency.delayMs);
    }
    if (state.takeFault('drop-connection', (f) => matchesFault(f.match, method, logicalPath))) {
      return finish({ ...respond(0, '', {}), drop: true }, { fault: 'drop-connection' });
    }
    const httpFault = state.takeFault('http-error', (f) => matchesFault(f.match, method, logicalPath));
    if (httpFault) {
      return finish(errorResponse(new PveApiError(httpFault.status, httpFault.message, httpFault.errors)), { fault: 'http-error' });
    }

    const { matches } = matchEndpoint(apiPath);
    // endpoints newer than the imitated release do not exist there
    const found = matches.find((m) => m.endpoint.rules.method === method && (m.endpoint.rules.since === undefined || m.endpoint.rules.since === state.version || state.version === '9.1'));
    if (!found) {
      const text = ['GET', 'POST', 'PUT', 'DELETE', 'HEAD'].includes(method)
        ? `Method '${method} ${logicalPath}' not implemented`
        : `method '${method}' not available`;
      return finish(errorResponse(new PveApiError(501, `${text}\n`)));
    }
    const { endpoint, pathParams } = found;

    const auth = authenticate(state, request, endpoint, method, apiPath);
    if (!auth.ok) {
      if (auth.error.status === 401) await delayAuthFailure();
      return finish(errorResponse(auth.error));
    }
    entry.auth = {
      kind: auth.auth.kind,
      ...(auth.auth.userid ? { userid: auth.auth.userid } : {}),
      ...(auth.auth.tokenId ? { tokenId: auth.auth.tokenId } : {}),
    };

    // Parameters: body, then query (overrides), then the path (conflicts are refused).
    const params: Record<string, RawParamValue> = {};
    const contentType = (request.headers['content-type'] ?? '').toLowerCase();
    let uploadStream: AsyncIterable<Uint8Array> | null = null;
    if (endpoint.upload) {
      bodyTaken = true;
      uploadStream = request.body;
    } else {
      if (Number(request.headers['content-length'] ?? 0) > MAX_POST_BYTES) return finish(errorResponse(new PveApiError(501, 'for data too large\n')));
      bodyTaken = true;
      const raw = await readBody(request.body, MAX_POST_BYTES);
      if (raw === 'too-large') return finish(errorResponse(new PveApiError(501, 'for data too large\n')));
      if (raw.length > 0) {
        // pveproxy reads a body only for POST and PUT (pve-http-server AnyEvent.pm)
        if (method !== 'POST' && method !== 'PUT') return finish(errorResponse(new PveApiError(501, `Unexpected content for method '${method}'\n`)));
        if (contentType.startsWith('application/json')) {
          // pveproxy's extract_params runs decode_json inside handle_api2_request's eval: every failure is a 501
          const text = raw.toString('utf8');
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch (error) {
            return finish(errorResponse(new PveApiError(501, `${jsonXsError(text, error)}\n`)));
          }
          if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
            const what = Array.isArray(parsed) ? 'Not a HASH reference' : `Can't use string ("${String(parsed).slice(0, 32)}") as a HASH ref while "strict refs" in use`;
            return finish(errorResponse(new PveApiError(501, `${what}\n`)));
          }
          Object.assign(params, parsed as Record<string, RawParamValue>);
        } else if (contentType === '' || contentType.startsWith('application/x-www-form-urlencoded')) {
          Object.assign(params, decodeUrlencoded(raw.toString('utf8')));
        } else {
          return finish(errorResponse(new PveApiError(506, `upload 'Content-Type '${request.headers['content-type'] ?? ''}' not implemented\n`)));
        }
      }
    }
    Object.assign(params, decodeUrlencoded(url.search.slice(1)));
    for (const [key, value] of Object.entries(pathParams)) {
      if (params[key] !== undefined && String(params[key]) !== value) {
        // PVE's rest handler: raise_param_exc({ <param> => … })
        return finish(errorResponse(paramError({ [key]: 'duplicate parameter (already defined in URI) with conflicting values!' })));
      }
      params[key] = value;
    }
    entry.params = redact(params) as Record<string, unknown>;

    // pveproxy proxies node-bound calls to the node: an offline node gives 595/596.
    const node = pathParams['node'];
    if (node !== undefined && endpoint.proxied) {
      const offline = state.takeFault('node-offline', (f) => f.node === node);
      if (offline) {
        const status = offline.status ?? 595;
        return finish(errorResponse(new PveApiError(status, status === 595 ? 'Connection refused\n' : 'Broken pipe\n')), { fault: 'node-offline' });
      }
    }

    let result;
    if (endpoint.upload) {
      const logFields = (fields: Record<string, unknown>): void => {
        entry.params = { ...entry.params, ...(redact(fields) as Record<string, unknown>) };
      };
      result = await endpoint.handle({
        state,
        params: {},
        raw: params,
        auth: auth.auth,
        upload: { headers: request.headers, body: uploadStream, logFields },
      });
    } else {
      const { values, errors } = validateParams(endpoint.rules.params, params, state.version);
      if (Object.keys(errors).length > 0) throw paramError(errors);
      if (node !== undefined && endpoint.proxied && !state.nodes.some((n) => n.name === node)) {
        throw new PveApiError(500, `hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known\n`);
      }
      result = await endpoint.handle({ state, params: values, raw: params, auth: auth.auth });
    }
    const response = respond(200, 'OK', { data: result.data ?? null, ...(result.extra ?? {}) });
    const extra: Partial<PveRequestLogEntry> = result.upid ? { upid: result.upid } : {};
    if (state.takeFault('lose-response', (f) => matchesFault(f.match, method, logicalPath))) {
      return finish({ ...response, drop: true }, { ...extra, fault: 'lose-response' });
    }
    return finish(response, extra);
  } catch (error) {
    if (error instanceof PveApiError) {
      if (error.status === 401) await delayAuthFailure();
      return finish(errorResponse(error));
    }
    state.logger.error({ err: error, path: apiPath }, 'simulator handler failed');
    return finish(errorResponse(new PveApiError(500, `internal simulator error: ${error instanceof Error ? error.message : String(error)}\n`)));
  }
}
